"""Node outputs as msgspec Structs (``ComputeTextOut``, ``MultiComputeTextOut``, ...).

``OUTPUT_TYPES`` maps each node kind to its Struct; ``rxsubstrate.ops.typed`` decodes a node's
result to it.
"""

from ._graph._outputs import *  # noqa: F403 - the generated module's __all__ is the API here
from ._graph._outputs import __all__ as __all__
