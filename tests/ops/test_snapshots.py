"""Marble tests of ``snapshots()``."""

from __future__ import annotations

from typing import Any

import pytest
from reactivex.testing import ReactiveTest

from rxsubstrate import MalformedEvent
from rxsubstrate.ops import snapshots

from ._make import d, e, g, item, marble, r

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
subscribe = ReactiveTest.subscribe


def run(*events: Any) -> tuple[list[Any], Any]:
    return marble(*events, operator=snapshots())


def test_snapshots_after_every_delta_then_the_final_one() -> None:
    messages, source = run(
        d("a", text="He"), d("a", text="y"), e("b"), r("a", text="Hey"), g(a={"text": "Hey"})
    )
    assert [m.time for m in messages] == [210, 220, 240, 400]
    snaps = [m.value.value for m in messages[:-1]]
    assert [(s.node_id, s.final, dict(s.output)) for s in snaps] == [
        ("a", False, {"text": "He"}),
        ("a", False, {"text": "Hey"}),
        ("a", True, {"text": "Hey"}),
    ]
    assert source.subscriptions == [subscribe(200, 400)]


def test_a_snapshot_keeps_its_moment_and_cannot_be_changed() -> None:
    messages, _ = run(
        d("m", choices=item(0, {"text": "a"}), meta={"n": 1}),
        d("m", choices=item(0, {"text": "b"}), meta={"n": 2}),
        d("m", choices=item(1, {"text": "c"})),
    )
    first, second, third = (m.value.value for m in messages[:-1])
    assert first.output == {"choices": ({"text": "a"},), "meta": {"n": 1}}
    assert second.output == {"choices": ({"text": "ab"},), "meta": {"n": 2}}
    assert third.output == {"choices": ({"text": "ab"}, {"text": "c"}), "meta": {"n": 2}}
    with pytest.raises(TypeError):
        first.output["choices"][0]["text"] = "z"
    assert first.to_builtins() == {"choices": [{"text": "a"}], "meta": {"n": 1}}


def test_a_node_that_does_not_stream_gets_only_its_final_snapshot() -> None:
    messages, _ = run(r("b", value=[1, {"x": "y"}]))
    (snap,) = (m.value.value for m in messages[:-1])
    assert snap.final
    assert snap.output == {"value": (1, {"x": "y"})}


def test_snapshots_reject_a_bad_array_index() -> None:
    messages, source = run(d("a", text="ok"), d("a", choices=item(-2, "x")))
    assert messages[1].time == 220
    assert isinstance(messages[1].value.exception, MalformedEvent)
    assert source.subscriptions == [subscribe(200, 220)]
