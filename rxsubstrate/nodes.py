"""The node classes and their output Structs, at the official SDK's module path.

``from rxsubstrate.nodes import ComputeText`` works as ``from substrate.nodes import ComputeText``
does. The same classes are exported by ``rxsubstrate`` itself, the outputs by
``rxsubstrate.outputs``.
"""

from ._graph._nodes import *  # noqa: F403 - the generated modules' __all__ are the API here
from ._graph._nodes import __all__ as _node_names
from ._graph._outputs import *  # noqa: F403
from ._graph._outputs import __all__ as _output_names

__all__ = _node_names + _output_names
