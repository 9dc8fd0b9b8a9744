"""Marble tests of ``typed()``; the node classes' own output types are checked in
test_real_runs.py."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from reactivex.testing import ReactiveTest, TestScheduler

from rxsubstrate import MalformedEvent, NodeFailed
from rxsubstrate.ops import typed

from ._make import d, e, g, r

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
subscribe = ReactiveTest.subscribe


class TextOut(msgspec.Struct):
    text: str


@dataclass
class TextNode:
    id: str
    output_type: type[TextOut] = TextOut


def test_typed_converts_that_nodes_result() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        on_next(210, d("a", text="H")),
        on_next(220, r("b", text="other")),
        on_next(230, r("a", text="Hi")),
        on_next(240, g()),
        on_completed(300),
    )
    result = scheduler.start(lambda: source.pipe(typed(TextNode("a"))))
    assert result.messages == [on_next(230, TextOut("Hi")), on_completed(300)]
    assert source.subscriptions == [subscribe(200, 300)]


def test_typed_fails_on_a_result_of_the_wrong_shape() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(on_next(210, r("a", text=3)), on_completed(300))
    result = scheduler.start(lambda: source.pipe(typed(TextNode("a"))))
    error = result.messages[0].value.exception
    assert isinstance(error, MalformedEvent)
    assert "TextOut" in str(error)
    assert source.subscriptions == [subscribe(200, 210)]


def test_typed_fails_when_the_node_fails() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(on_next(210, e("a")), on_completed(300))
    result = scheduler.start(lambda: source.pipe(typed(TextNode("a"))))
    assert isinstance(result.messages[0].value.exception, NodeFailed)
