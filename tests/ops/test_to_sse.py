"""``to_sse`` with what a browser needs: ids, ``retry``, an end event, text chunks as plain data.

What a browser makes of the text is read with ``tests/sse_reference.py``, the WHATWG rules
written plainly, not with the project's own decoder.
"""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex.testing import TestScheduler

from rxsubstrate import Event, ServerSentEvent
from rxsubstrate._events import encode_event
from rxsubstrate.ops import to_sse
from tests.sse_reference import parse
from tests.test_events import events as any_event

from ._make import d, g, marble, on_completed, on_error, on_next, r, subscribe

DA = d("a", text="Hel")
RA = r("a", text="Hello")
G = g(a={"text": "Hello"})
NO_LIMIT = 1 << 30


def seen_by_a_browser(texts: list[str]) -> list[ServerSentEvent]:
    parsed = parse("".join(texts).encode(), NO_LIMIT)
    assert not parsed.pending  # every message is complete
    return parsed.events


def test_ids_retry_and_end() -> None:
    messages, source = marble(DA, RA, G, operator=to_sse(ids=True, retry=2500, end="end"), end=300)
    json = [encode_event(e).decode() for e in (DA, RA, G)]
    assert messages == [
        on_next(210, f"id: 1\nretry: 2500\ndata: {json[0]}\n\n"),
        on_next(220, f"id: 2\ndata: {json[1]}\n\n"),
        on_next(230, f"id: 3\ndata: {json[2]}\n\n"),
        on_next(300, "event: end\nid: 4\ndata: {}\n\n"),
        on_completed(300),
    ]
    assert source.subscriptions == [subscribe(200, 300)]


def test_text_chunks_are_plain_data_and_the_end_follows_the_last() -> None:
    messages, _ = marble("Hel", "lo\nworld", " again", operator=to_sse(end="done"))
    texts = [m.value.value for m in messages if m.value.kind == "N"]
    assert [(e.event, e.data) for e in seen_by_a_browser(texts)] == [
        ("message", b"Hel"),
        ("message", b"lo\nworld"),
        ("message", b" again"),
        ("done", b"{}"),
    ]


def test_an_error_stays_an_error_with_no_end_event() -> None:
    scheduler = TestScheduler()
    boom = RuntimeError("boom")
    source = scheduler.create_hot_observable(on_next(210, DA), on_error(250, boom))
    result = scheduler.start(lambda: source.pipe(to_sse(ids=True, end="end")))
    assert result.messages == [
        on_next(210, f"id: 1\ndata: {encode_event(DA).decode()}\n\n"),
        on_error(250, boom),
    ]


def test_a_value_that_cannot_be_written_is_an_error() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(on_next(210, object()), on_completed(300))
    result = scheduler.start(lambda: source.pipe(to_sse(end="end")))
    assert [m.time for m in result.messages] == [210]
    assert isinstance(result.messages[0].value.exception, TypeError)
    assert source.subscriptions == [subscribe(200, 210)]


def test_every_subscription_counts_its_own_ids() -> None:
    cold = reactivex.from_iterable(["a", "b"]).pipe(to_sse(ids=True, retry=10))
    first = cold.pipe(reactivex.operators.to_list()).run()
    second = cold.pipe(reactivex.operators.to_list()).run()
    assert first == second == ["id: 1\nretry: 10\ndata: a\n\n", "id: 2\ndata: b\n\n"]


@pytest.mark.parametrize(
    "options",
    [{"end": ""}, {"end": "end\ndata: x"}, {"end": "a\rb"}, {"retry": -1}],
)
def test_options_that_would_write_other_fields_are_refused_at_once(options: Any) -> None:
    with pytest.raises(ValueError, match=r"end|retry"):
        to_sse(**options)


# Text as a browser can receive it: SSE has no way to carry a CR (any CR ends a line).
text_chunks = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r"))


@given(
    st.lists(any_event | text_chunks, max_size=8),
    st.booleans(),
    st.none() | st.integers(0, 10**6),
    st.none() | st.sampled_from(["end", "done", "run.end", "é"]),
)
def test_a_browser_reads_back_every_item_its_id_and_the_end(
    items: list[Event | str], ids: bool, retry: int | None, end: str | None
) -> None:
    texts = (
        reactivex.from_iterable(items)
        .pipe(to_sse(ids=ids, retry=retry, end=end), reactivex.operators.to_list())
        .run()
    )
    events = seen_by_a_browser(texts)
    expected = [i.encode() if isinstance(i, str) else encode_event(i) for i in items]
    if end is not None:
        expected.append(b"{}")
    assert [e.data for e in events] == expected
    assert [e.event for e in events] == ["message"] * len(items) + ([end] if end else [])
    assert [e.id for e in events] == [str(i + 1) if ids else "" for i in range(len(events))]
    assert {e.retry for e in events} <= {retry}
