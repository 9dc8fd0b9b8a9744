"""What a node implementation is: the two shapes the engine accepts, and what it is given.

A node implementation is called with the node's resolved arguments (futures replaced by their
values, unset optional arguments filled with the reference's defaults) and a ``NodeContext``:

* a **streaming** implementation is an async generator function yielding deltas in wire shape
  (``{"text": "chunk"}``, ``{"choices": {"object": "array.item", "index": 0, "item": {...}}}``);
  the engine sends each as ``node.delta`` and folds them with ``OutputBuilder`` into the output
  it reports in ``node.result``;
* a **result** implementation is an async function returning the whole output dict, sent as
  ``node.result`` with no deltas.

Raise ``InvalidNodeArgs`` to report ``invalid_request_error``; any other exception is reported as
``api_error`` with the exception's message. Either way the node's dependents fail with
``dependency_error`` and the rest of the graph runs on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Protocol, TypeAlias

__all__ = ["NodeContext", "NodeImpl", "ResultNodeImpl", "StreamingNodeImpl"]


@dataclasses.dataclass(frozen=True, slots=True)
class NodeContext:
    """Where an implementation is running.

    Attributes:
        node_id: the id of the node being run (unique within the graph).
        kind: the node kind it was registered for, e.g. ``"ComputeText"``.
    """

    node_id: str
    kind: str


class StreamingNodeImpl(Protocol):
    """An async generator function: yields deltas, which the engine streams and merges."""

    def __call__(
        self, args: dict[str, Any], context: NodeContext, /
    ) -> AsyncIterator[dict[str, Any]]: ...


class ResultNodeImpl(Protocol):
    """An async function: returns the node's whole output."""

    def __call__(
        self, args: dict[str, Any], context: NodeContext, /
    ) -> Awaitable[dict[str, Any]]: ...


NodeImpl: TypeAlias = StreamingNodeImpl | ResultNodeImpl
