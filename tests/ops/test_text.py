"""Marble tests of ``text()``."""

from __future__ import annotations

import logging

import pytest
from reactivex.testing import ReactiveTest

from rxsubstrate import NodeFailed
from rxsubstrate.ops import text

from ._make import d, e, g, item, marble, r

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
subscribe = ReactiveTest.subscribe


def test_text_streams_chunks_and_nothing_more_at_the_result() -> None:
    messages, source = marble(
        d("a", text="Hel"), d("a", text="lo"), r("a", text="Hello"), g(), operator=text()
    )
    assert messages == [on_next(210, "Hel"), on_next(220, "lo"), on_completed(400)]
    assert source.subscriptions == [subscribe(200, 400)]


def test_text_of_a_node_that_does_not_stream_comes_whole_from_its_result() -> None:
    messages, _ = marble(r("b", text="Hi"), g(), operator=text("b"))
    assert messages == [on_next(210, "Hi"), on_completed(400)]


def test_text_completes_a_stream_that_stopped_short_from_the_result() -> None:
    messages, _ = marble(d("a", text="Hel"), r("a", text="Hello"), operator=text())
    assert messages == [on_next(210, "Hel"), on_next(220, "lo"), on_completed(400)]


def test_text_logs_a_result_that_contradicts_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "rxsubstrate.ops"):
        messages, _ = marble(d("a", text="Hex"), r("a", text="Hello"), operator=text())
    assert messages == [on_next(210, "Hex"), on_completed(400)]
    assert "not a prefix" in caplog.text


def test_text_reads_only_the_given_node() -> None:
    messages, _ = marble(d("a", text="A"), d("b", text="B"), r("b", text="B"), operator=text("b"))
    assert messages == [on_next(220, "B"), on_completed(400)]


def test_text_reads_choice_zero_of_choices_shaped_outputs_by_default() -> None:
    events = [
        d("m", choices=item(0, {"text": "a"})),
        d("m", choices=item(1, {"text": "b"})),
        d("m", choices=item(0, {"text": "c"})),
        r("m", choices=[{"text": "ac"}, {"text": "b"}]),
    ]
    messages, _ = marble(*events, operator=text())
    assert messages == [on_next(210, "a"), on_next(230, "c"), on_completed(400)]
    messages, _ = marble(*events, operator=text("m", choice=1))
    assert messages == [on_next(220, "b"), on_completed(400)]


def test_text_of_a_choice_from_a_non_streaming_result() -> None:
    messages, _ = marble(r("m", choices=[{"text": "x"}, {"text": "y"}]), operator=text(choice=1))
    assert messages == [on_next(210, "y"), on_completed(400)]


def test_text_fails_when_the_node_read_fails() -> None:
    messages, source = marble(d("a", text="He"), e("a", "overloaded"), operator=text("a"))
    assert messages[0] == on_next(210, "He")
    assert messages[1].time == 220
    assert isinstance(messages[1].value.exception, NodeFailed)
    assert source.subscriptions == [subscribe(200, 220)]


def test_text_ignores_errors_of_other_nodes() -> None:
    messages, _ = marble(e("b"), r("a", text="ok"), operator=text("a"))
    assert messages == [on_next(220, "ok"), on_completed(400)]


def test_text_rejects_a_negative_choice() -> None:
    with pytest.raises(ValueError, match="choice"):
        text(choice=-1)
