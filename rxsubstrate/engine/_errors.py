"""The engine's two failures: a graph rejected before it runs, and a node rejecting its input.

``GraphInvalid`` is raised by ``Engine.prepare`` before anything runs (a server answers it with
HTTP 400). ``InvalidNodeArgs`` is raised inside a node while the graph runs; the engine reports it
as that node's ``invalid_request_error`` (any other exception from a node is an ``api_error``).
"""

from __future__ import annotations

from .._errors import SubstrateError

__all__ = ["GraphInvalid", "InvalidNodeArgs"]


class GraphInvalid(SubstrateError, ValueError):
    """The graph cannot run: malformed, cyclic, unknown node kinds, or bad arguments.

    Attributes:
        message: what is wrong, naming the node, future or argument at fault.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidNodeArgs(SubstrateError, ValueError):
    """A node's arguments, once its futures are resolved, cannot be used.

    Raise it from a node implementation to report ``invalid_request_error`` rather than
    ``api_error``; the engine does so itself when a future cannot be resolved.

    Attributes:
        message: what is wrong with the arguments.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


for _name in __all__:
    globals()[_name].__module__ = "rxsubstrate.engine"
