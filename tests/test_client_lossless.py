"""Nothing lost before an error, nothing read after graph.result: the public client against a
loopback server that writes exact bytes, every way a run can be consumed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest

from rxsubstrate import (
    Event,
    EventTooLarge,
    GraphResult,
    Limits,
    MalformedEvent,
    Substrate,
    Timeout,
)
from rxsubstrate._events import decode_event
from rxsubstrate.ops import graph_result
from tests.replay_server import ReplayServer, Reply, seed_events, sse
from tests.test_client_stream import DAG, MODES, consume, seed_bytes

GOOD = [msgspec.json.encode(e) for e in seed_events()[:2]]
EXPECTED = [decode_event(raw) for raw in GOOD]
HUGE = b'{"object":"node.delta","node_id":"a","data":{"text":"' + b"x" * 5000 + b'"}}'
SMALL = Limits(max_event_size=1024)


@contextmanager
def client_at(url: str, **kwargs: Any) -> Iterator[Substrate]:
    client = Substrate(api_key="key", base_url=url, **kwargs)
    try:
        yield client
    finally:
        client.close()


def outcome(url: str, mode: str, **kwargs: Any) -> tuple[list[Event], BaseException | None]:
    """The events a consumer received, then the error that ended the run (None if it completed)."""
    received: list[Event] = []
    with client_at(url, **kwargs) as client:
        try:
            consume(client, mode, received)
        except Exception as exc:
            return received, exc
    return received, None


@pytest.mark.parametrize("mode", MODES)
def test_events_in_the_same_read_as_a_malformed_one_reach_the_consumer_first(mode: str) -> None:
    with ReplayServer(Reply([sse(*GOOD, b"{oops", GOOD[0])])) as server:
        events, error = outcome(server.url, mode)
    assert events == EXPECTED
    assert isinstance(error, MalformedEvent)
    assert error.index == 2


@pytest.mark.parametrize("mode", MODES)
def test_events_in_the_same_read_as_an_oversized_one_reach_the_consumer_first(mode: str) -> None:
    with ReplayServer(Reply([sse(*GOOD, HUGE, GOOD[0])])) as server:
        events, error = outcome(server.url, mode, limits=SMALL)
    assert events == EXPECTED
    assert isinstance(error, EventTooLarge)


def test_an_oversized_event_fails_the_run_at_once_even_if_the_server_then_stalls() -> None:
    # The events before it are delivered first, but the error must not wait for another read:
    # here that read would only end with the read timeout.
    reply = Reply([sse(*GOOD) + b"data: " + HUGE], hang=True)
    with ReplayServer(reply) as server:
        events, error = outcome(server.url, "iter", limits=SMALL, timeout=Timeout(read=5))
    assert events == EXPECTED
    assert isinstance(error, EventTooLarge)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("after", [sse(b"{oops"), sse(HUGE), b"data: " + HUGE, b"\xff\xfe\n\n"])
def test_bytes_after_graph_result_in_the_same_read_are_ignored(mode: str, after: bytes) -> None:
    with ReplayServer(Reply([seed_bytes() + after])) as server:
        events, error = outcome(server.url, mode, limits=SMALL)
    assert error is None
    assert events == [decode_event(msgspec.json.encode(e)) for e in seed_events()]


@pytest.mark.parametrize(
    "data",
    [
        GOOD[0] + b',{"object":"graph.result","data":{"data":{}}}',  # a second event smuggled in
        b" ",
        b"",
    ],
    ids=["two in one", "whitespace", "empty"],
)
def test_an_event_that_is_not_one_json_object_fails_the_run(data: bytes) -> None:
    with ReplayServer(Reply([sse(GOOD[1], data) + seed_bytes()])) as server:
        events, error = outcome(server.url, "iter")
    assert events == EXPECTED[1:]
    assert isinstance(error, MalformedEvent)
    assert error.index == 1


@pytest.mark.parametrize(
    "data",
    [{"data": {"a": {"text": "hi"}}}, {"a": {"text": "hi"}}],
    ids=["enveloped", "bare"],
)
def test_graph_result_outputs_whichever_shape_the_server_sends(
    data: dict[str, Any],
) -> None:
    final = msgspec.json.encode({"object": "graph.result", "data": data})
    outputs: list[dict[str, Any]] = []
    ended = threading.Event()
    with ReplayServer(Reply([sse(GOOD[0], final)])) as server, client_at(server.url) as client:
        events = list(client.stream(DAG).iter())
        client.stream(DAG).pipe(graph_result()).subscribe(
            outputs.append, lambda _: ended.set(), ended.set
        )
        assert ended.wait(10), "the run neither completed nor failed"
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs == {"a": {"text": "hi"}}
    assert outputs == [{"a": {"text": "hi"}}]
