"""Marble tests of ``assemble()``."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from reactivex.testing import ReactiveTest

from rxsubstrate import MalformedEvent
from rxsubstrate.ops import MAX_ARRAY_GROWTH, NodeOutput, assemble

from ._make import d, e, g, item, marble, r

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
subscribe = ReactiveTest.subscribe


def run(*events: Any) -> tuple[list[Any], Any]:
    return marble(*events, operator=assemble())


def test_assemble_emits_each_result_once_the_deltas_agree() -> None:
    messages, source = run(
        d("a", text="He"),
        d("a", text="y"),
        r("a", text="Hey"),
        r("b", value=3),
        g(a={"text": "Hey"}, b={"value": 3}),
    )
    assert messages == [
        on_next(230, NodeOutput("a", {"text": "Hey"})),
        on_next(240, NodeOutput("b", {"value": 3})),
        on_completed(400),
    ]
    assert source.subscriptions == [subscribe(200, 400)]


def test_assemble_merges_arrays_of_objects_by_index() -> None:
    messages, _ = run(
        d("m", choices=item(1, {"text": "b"})),
        d("m", choices=item(0, {"text": "a"})),
        d("m", choices=item(1, {"text": "c", "n": 1})),
        d("m", choices=item(1, {"n": 2})),
    )
    assert messages == [
        on_next(400, NodeOutput("m", {"choices": [{"text": "a"}, {"text": "bc", "n": 2}]}, False)),
        on_completed(400),
    ]


def test_assemble_reports_a_mismatch_with_the_result(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "rxsubstrate.ops"):
        messages, _ = run(d("a", text="Hex"), r("a", text="Hello"))
    output = messages[0].value.value
    assert output.data == {"text": "Hello"}
    assert output.mismatch
    assert output.assembled == {"text": "Hex"}
    assert "differs" in caplog.text


def test_assemble_gives_a_failed_node_no_output() -> None:
    messages, _ = run(d("a", text="He"), e("a"), r("b", x=1))
    assert messages == [on_next(230, NodeOutput("b", {"x": 1})), on_completed(400)]


@pytest.mark.parametrize(
    "bad", [-1, "0", 1.0, True, None, MAX_ARRAY_GROWTH + 5], ids=lambda v: repr(v)
)
def test_assemble_rejects_a_bad_array_index(bad: Any) -> None:
    chunk = {"object": "array.item", "index": bad, "item": "x"}
    messages, source = run(d("a", text="ok"), d("a", choices=chunk))
    assert messages[0].time == 220
    error = messages[0].value.exception
    assert isinstance(error, MalformedEvent)
    assert error.index == 1
    assert b"array.item" in error.raw
    assert source.subscriptions == [subscribe(200, 220)]
