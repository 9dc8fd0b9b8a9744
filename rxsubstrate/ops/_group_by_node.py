"""``group_by_node``: one inner Observable per node."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from reactivex import GroupedObservable, Observable
from reactivex import operators as ops

from .._events import Event, NodeDelta, NodeError, NodeResult
from ._node_ref import NodeEvent

__all__ = ["group_by_node"]


def group_by_node() -> Callable[[Observable[Event]], Observable[GroupedObservable[str, NodeEvent]]]:
    """Split the stream by node: a ``GroupedObservable`` keyed by node id, emitted at the node's
    first event, carrying its deltas, result and error. ``graph.result`` is dropped.

    Subscribe to each group as it is emitted (a group's events before that are not replayed);
    every group completes with the source.

    ::

        ---d(a)--d(b)--r(a)--r(b)--g--|      group_by_node()
        ---A-----B--------------------|
        A: d(a)--r(a)-----------|
        B: d(b)--r(b)-----|
    """

    def group(source: Observable[Event]) -> Observable[GroupedObservable[str, NodeEvent]]:
        node_events = cast(
            "Observable[NodeEvent]",
            source.pipe(ops.filter(lambda e: isinstance(e, NodeDelta | NodeResult | NodeError))),
        )
        return node_events.pipe(ops.group_by(lambda event: event.node_id))

    return group
