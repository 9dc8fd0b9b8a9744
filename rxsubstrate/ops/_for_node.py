"""``for_node``: the events of some nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from reactivex import Observable
from reactivex import operators as ops

from .._events import Event, NodeDelta, NodeError, NodeResult
from .._pipeline import selecting
from ._node_ref import NodeEvent, NodeLike, node_ids

__all__ = ["for_node"]


def for_node(*nodes: NodeLike | str) -> Callable[[Observable[Event]], Observable[NodeEvent]]:
    """Keep the deltas, results and errors of the given nodes; ``graph.result`` is dropped.

    ::

        ---d(a)--d(b)--r(a)--g--|      for_node(a)
        ---d(a)--------r(a)-----|

    Args:
        nodes: node objects (anything with an ``id``) or node id strings; at least one.

    Raises:
        TypeError: no node given, or an argument that is not a node or a string (at call time).
    """
    if not nodes:
        raise TypeError("for_node() needs at least one node or node id")
    ids = node_ids(nodes)

    def keep(event: Event) -> bool:
        return isinstance(event, NodeDelta | NodeResult | NodeError) and event.node_id in ids

    return selecting(
        ids, cast("Callable[[Observable[Event]], Observable[NodeEvent]]", ops.filter(keep))
    )
