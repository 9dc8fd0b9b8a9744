"""Marble tests of the operators that select or re-encode events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from reactivex import GroupedObservable
from reactivex.testing import ReactiveTest, TestScheduler

from rxsubstrate import GraphResult, NodeFailed, SSEDecoder
from rxsubstrate._events import decode_event
from rxsubstrate.ops import (
    deltas,
    errors,
    for_node,
    graph_result,
    group_by_node,
    raise_on_error,
    results,
    to_sse,
)

from ._make import d, e, g, r

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe

DA = d("a", text="x")
DB = d("b", text="y")
RA = r("a", text="x")
EB = e("b")
G = g(a={"text": "x"})


@dataclass
class FakeNode:
    id: str


def hot(scheduler: TestScheduler, *events: Any, end: int = 300) -> Any:
    messages = [on_next(210 + 10 * i, event) for i, event in enumerate(events)]
    return scheduler.create_hot_observable(*messages, on_completed(end))


def test_for_node_keeps_that_nodes_events_and_drops_graph_result() -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, DB, RA, EB, G)
    result = scheduler.start(lambda: source.pipe(for_node(FakeNode("a"))))
    assert result.messages == [on_next(210, DA), on_next(230, RA), on_completed(300)]
    assert source.subscriptions == [subscribe(200, 300)]


def test_for_node_takes_ids_and_several_nodes() -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, DB, RA, EB, G)
    result = scheduler.start(lambda: source.pipe(for_node("a", FakeNode("b"))))
    assert [m.value.value for m in result.messages[:-1]] == [DA, DB, RA, EB]


def test_for_node_rejects_no_node_and_non_nodes() -> None:
    with pytest.raises(TypeError):
        for_node()
    with pytest.raises(TypeError, match="node id"):
        for_node(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("operator", "kept"), [(results, [RA]), (deltas, [DA, DB]), (errors, [EB])]
)
def test_results_deltas_errors_keep_one_kind_each(operator: Any, kept: list[Any]) -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, DB, RA, EB, G)
    result = scheduler.start(lambda: source.pipe(operator()))
    assert [m.value.value for m in result.messages[:-1]] == kept
    assert result.messages[-1] == on_completed(300)
    assert source.subscriptions == [subscribe(200, 300)]


@pytest.mark.parametrize("final", [G, GraphResult({"a": {"text": "x"}})], ids=["envelope", "bare"])
def test_graph_result_emits_the_outputs_mapping(final: GraphResult) -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, RA, final)
    result = scheduler.start(lambda: source.pipe(graph_result()))
    assert result.messages == [on_next(230, {"a": {"text": "x"}}), on_completed(300)]
    assert source.subscriptions == [subscribe(200, 300)]


def test_raise_on_error_fails_with_node_failed_and_unsubscribes() -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, RA, e("b", "bad prompt", "invalid_request_error"), G)
    result = scheduler.start(lambda: source.pipe(raise_on_error()))
    assert result.messages[:2] == [on_next(210, DA), on_next(220, RA)]
    error = result.messages[2].value.exception
    assert result.messages[2].time == 230
    assert isinstance(error, NodeFailed)
    assert (error.node_id, error.type, error.message) == (
        "b",
        "invalid_request_error",
        "bad prompt",
    )
    assert source.subscriptions == [subscribe(200, 230)]


def test_raise_on_error_for_other_nodes_lets_errors_pass() -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, EB, G)
    result = scheduler.start(lambda: source.pipe(raise_on_error("a")))
    assert result.messages == [
        on_next(210, DA),
        on_next(220, EB),
        on_next(230, G),
        on_completed(300),
    ]


def test_to_sse_writes_what_the_decoder_reads_back() -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, RA, G)
    result = scheduler.start(lambda: source.pipe(to_sse()))
    chunks = [m.value.value for m in result.messages[:-1]]
    assert chunks[0] == 'data: {"object":"node.delta","node_id":"a","data":{"text":"x"}}\n\n'
    decoder = SSEDecoder()
    decoded = [decode_event(raw) for raw in decoder.feed_data("".join(chunks).encode())]
    assert decoded == [DA, RA, G]
    assert source.subscriptions == [subscribe(200, 300)]


def test_group_by_node_gives_one_group_per_node() -> None:
    scheduler = TestScheduler()
    source = hot(scheduler, DA, DB, RA, EB, G)
    seen: dict[str, list[Any]] = {}

    def collect(group: GroupedObservable[str, Any]) -> str:
        group.subscribe(seen.setdefault(group.key, []).append)
        return group.key

    result = scheduler.start(lambda: source.pipe(group_by_node()).pipe(_map(collect)))
    assert result.messages == [on_next(210, "a"), on_next(220, "b"), on_completed(300)]
    assert seen == {"a": [DA, RA], "b": [DB, EB]}
    assert source.subscriptions == [subscribe(200, 300)]


def _map(fn: Any) -> Any:
    from reactivex import operators as ops

    return ops.map(fn)
