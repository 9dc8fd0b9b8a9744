"""Facts of Substrate's wire format that the client, the graph API and the engine share."""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "ARRAY_ITEM",
    "PLACEHOLDER",
    "REQUEST_ID_HEADER",
    "STREAMING_HEADER",
    "VISIBLE",
    "array_item",
]

PLACEHOLDER: Final = "__$$SB_GRAPH_OP_ID$$__"
"""Where a node's argument uses a future's value, it holds ``{PLACEHOLDER: future_id}``."""

VISIBLE: Final = "_should_output_globally"
"""A serialized node's flag: its output is part of the run's result."""

ARRAY_ITEM: Final = "array.item"
"""The ``object`` of a delta to one item of an array field."""

REQUEST_ID_HEADER: Final = "x-substrate-request-id"
STREAMING_HEADER: Final = "X-Substrate-Streaming"
"""Sent as ``1`` (with ``Accept: text/event-stream``) to ask for a streamed run."""


def array_item(index: int, chunk: Any) -> dict[str, Any]:
    """A delta to item ``index`` of an array field."""
    return {"object": ARRAY_ITEM, "index": index, "item": chunk}
