"""Whether a streamed run arrived whole: the check the load tests and ``bench_server`` share."""

from __future__ import annotations

from rxsubstrate import Event, GraphResult, NodeDelta, NodeResult


def by_node(events: list[Event]) -> dict[str, list[Event]]:
    """Each node's events, in the order they came."""
    nodes: dict[str, list[Event]] = {}
    for event in events:
        node_id = getattr(event, "node_id", None)
        if node_id is not None:
            nodes.setdefault(node_id, []).append(event)
    return nodes


def check_whole(events: list[Event], reference: list[Event]) -> None:
    """Each node's events exactly as in ``reference`` (nodes interleave as they like): deltas,
    then one result; then the same graph result, once, last.

    Raises:
        AssertionError: what was lost, repeated or changed.
    """
    mine = by_node(events)
    if mine != by_node(reference):
        raise AssertionError("a node's events were lost, repeated or changed")
    for node_id, node_events in mine.items():
        *deltas, last = node_events
        if not isinstance(last, NodeResult) or not all(isinstance(e, NodeDelta) for e in deltas):
            raise AssertionError(f"node {node_id}: not deltas then one result")
    if [e for e in events if isinstance(e, GraphResult)] != [reference[-1]]:
        raise AssertionError("the graph result is missing, repeated or changed")
    if events[-1] != reference[-1]:
        raise AssertionError("the graph result is not the last event")
