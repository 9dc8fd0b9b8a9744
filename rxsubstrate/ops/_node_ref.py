"""How operators name nodes: a node object (anything with an ``id``) or its id string."""

from __future__ import annotations

from typing import Protocol, TypeAlias, TypeVar

from .._events import NodeDelta, NodeError, NodeResult

__all__ = ["NodeEvent", "NodeLike", "TypedNode", "node_ids"]

OutT_co = TypeVar("OutT_co", covariant=True)

NodeEvent: TypeAlias = NodeDelta | NodeResult | NodeError
"""An event that belongs to one node (``graph.result`` and unknown events do not)."""


class NodeLike(Protocol):
    """A graph node, as operators see it: only its id matters."""

    @property
    def id(self) -> str: ...


class TypedNode(NodeLike, Protocol[OutT_co]):
    """A node that knows the msgspec Struct its output decodes to (``ComputeText`` ->
    ``ComputeTextOut``)."""

    @property
    def output_type(self) -> type[OutT_co]: ...


def node_ids(nodes: tuple[NodeLike | str, ...]) -> frozenset[str]:
    """The ids of ``nodes``.

    Raises:
        TypeError: an argument is neither a string nor has a string ``id``.
    """
    ids: set[str] = set()
    for node in nodes:
        node_id = node if isinstance(node, str) else getattr(node, "id", None)
        if not isinstance(node_id, str):
            raise TypeError(f"expected a node or a node id string, got {node!r}")
        ids.add(node_id)
    return frozenset(ids)
