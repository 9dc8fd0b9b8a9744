"""Event constructors for operator tests: short names, as marble diagrams use them."""

from __future__ import annotations

from typing import Any

from rxsubstrate import ErrorData, GraphResult, NodeDelta, NodeError, NodeResult


def d(node: str, **data: Any) -> NodeDelta:
    return NodeDelta(node, data)


def r(node: str, **data: Any) -> NodeResult:
    return NodeResult(node, data)


def e(node: str, message: str = "boom", type: str = "api_error") -> NodeError:
    return NodeError(node, ErrorData(type, message))


def g(**outputs: Any) -> GraphResult:
    return GraphResult({"data": outputs})


def item(index: int, chunk: Any) -> dict[str, Any]:
    return {"object": "array.item", "index": index, "item": chunk}
