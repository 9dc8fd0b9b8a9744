"""The client against real loopback servers: requests, every way to consume a run, failures."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from reactivex.scheduler.eventloop import AsyncIOScheduler

import rxsubstrate
from rxsubstrate import (
    APIStatusError,
    AuthenticationError,
    ClientClosed,
    Event,
    EventTooLarge,
    GraphResult,
    Limits,
    MalformedEvent,
    NodeDelta,
    NodeResult,
    ReadTimeout,
    SSEDecoder,
    StreamInterrupted,
    Substrate,
    Timeout,
    TransportError,
    UnknownEvent,
    WouldDeadlock,
)
from rxsubstrate._events import decode_event
from tests.replay_server import ReplayServer, Reply, seed_events, sse

DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
SECRET = "sk-very-secret-key"
MODES = ["iter", "async_iter", "subscribe_in_loop", "subscribe_without_loop"]


def seed_bytes() -> bytes:
    return sse(*(msgspec.json.encode(e) for e in seed_events()))


@pytest.fixture
def client_for() -> Iterator[Any]:
    clients: list[Substrate] = []

    def make(url: str, **kwargs: Any) -> Substrate:
        client = Substrate(api_key=SECRET, base_url=url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def consume(client: Substrate, mode: str, out: list[Event] | None = None) -> list[Event]:
    """All events of one run of DAG, the way ``mode`` says; raises what the run raised.

    The events are appended to ``out`` as they arrive: after an error it holds those before it.
    """
    stream = client.stream(DAG)
    seen: list[Event] = [] if out is None else out
    if mode == "iter":
        seen.extend(stream.iter())
        return seen

    async def in_loop() -> list[Event]:
        try:
            if mode == "async_iter":
                async for event in stream.async_iter():
                    seen.append(event)
                return seen
            done: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
            loop_thread = threading.current_thread()

            def on_next(event: Event) -> None:
                assert threading.current_thread() is loop_thread  # delivered on this loop
                seen.append(event)

            stream.subscribe(on_next, done.set_exception, lambda: done.set_result(seen))
            return await asyncio.wait_for(done, 10)
        finally:
            await client.aclose()

    if mode != "subscribe_without_loop":
        return asyncio.run(in_loop())
    finished = threading.Event()
    errors: list[Exception] = []
    threads: set[threading.Thread] = set()

    def on_next(event: Event) -> None:
        threads.add(threading.current_thread())
        seen.append(event)

    def on_error(exc: Exception) -> None:
        errors.append(exc)
        finished.set()

    stream.subscribe(on_next, on_error, finished.set)
    assert finished.wait(10), "the run neither completed nor failed"
    assert threading.current_thread() not in threads  # the client's loop thread delivered them
    if errors:
        raise errors[0]
    return seen


@pytest.mark.parametrize("mode", MODES)
def test_seed_run_streams_typed_events_every_way(client_for: Any, mode: str) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        events = consume(client_for(server.url), mode)
    assert events == [decode_event(msgspec.json.encode(e)) for e in seed_events()]
    assert isinstance(events[0], NodeDelta)
    assert isinstance(events[2], NodeResult)
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs["b"] == {"text": "Yes"}


def test_request_is_what_substrate_expects(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        list(client_for(server.url).stream(DAG).iter())
    (seen,) = server.requests
    assert seen.headers["Accept"] == "text/event-stream"
    assert seen.headers["X-Substrate-Streaming"] == "1"
    assert seen.headers["Authorization"] == f"Bearer {SECRET}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith(f"rxsubstrate/{rxsubstrate.__version__} ")
    assert msgspec.json.decode(seen.body) == {"dag": DAG}


def test_each_subscription_is_one_run(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        stream = client_for(server.url).stream(DAG)
        assert server.requests == []  # cold: nothing sent before a subscription
        first = list(stream.iter())
        second = list(stream.iter())
    assert first == second
    assert len(server.requests) == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("status", "body", "content_type", "message"),
    [
        (
            400,
            b'{"type":"invalid_request_error","message":"cycle: a -> b -> a"}',
            "application/json",
            "cycle: a -> b -> a",
        ),
        (500, b"upstream exploded", "text/plain", "upstream exploded"),
        (401, b'{"error":"bad key"}', "application/json", "bad key"),
    ],
)
def test_http_error_carries_status_and_the_servers_message(
    client_for: Any, mode: str, status: int, body: bytes, content_type: str, message: str
) -> None:
    reply = Reply(
        [body],
        status=status,
        headers={"Content-Type": content_type, "x-substrate-request-id": "req-9"},
    )
    with ReplayServer(reply) as server, pytest.raises(APIStatusError) as info:
        consume(client_for(server.url), mode)
    assert info.value.status == status
    assert info.value.message == message
    assert info.value.request_id == "req-9"
    assert isinstance(info.value, AuthenticationError) == (status == 401)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_stream_ending_before_graph_result_is_interrupted_not_complete(
    client_for: Any, mode: str
) -> None:
    events = seed_bytes().split(b"\n\n")
    with (
        ReplayServer(Reply([b"\n\n".join(events[:3]) + b"\n\n"])) as server,
        pytest.raises(StreamInterrupted, match="3 event") as info,
    ):
        consume(client_for(server.url), mode)
    assert info.value.events_received == 3
    assert not info.value.partial_event


@pytest.mark.parametrize("mode", MODES)
def test_connection_cut_inside_an_event_says_so(client_for: Any, mode: str) -> None:
    body = seed_bytes()
    with (
        ReplayServer(Reply([body[:100]], cut=True)) as server,
        pytest.raises(StreamInterrupted) as info,
    ):
        consume(client_for(server.url), mode)
    assert info.value.partial_event
    assert info.value.events_received == body[:100].count(b"\n\n")


@pytest.mark.parametrize("mode", MODES)
def test_malformed_json_is_an_error_not_a_silent_end(client_for: Any, mode: str) -> None:
    with (
        ReplayServer(
            Reply([sse(b'{"object":"node.delta","node_id":"a","data":{}}', b"{oops")])
        ) as server,
        pytest.raises(MalformedEvent) as info,
    ):
        consume(client_for(server.url), mode)
    assert info.value.index == 1


@pytest.mark.parametrize("mode", MODES)
def test_oversized_event_is_refused(client_for: Any, mode: str) -> None:
    huge = b'{"object":"node.delta","node_id":"a","data":{"text":"' + b"x" * 5000 + b'"}}'
    with ReplayServer(Reply([sse(huge)])) as server, pytest.raises(EventTooLarge):
        consume(client_for(server.url, limits=Limits(max_event_size=1024)), mode)


@pytest.mark.parametrize("mode", MODES)
def test_idle_stream_times_out(client_for: Any, mode: str) -> None:
    first = sse(msgspec.json.encode(seed_events()[0]))
    with (
        ReplayServer(Reply([first], hang=True)) as server,
        pytest.raises(ReadTimeout, match="1 event"),
    ):
        consume(client_for(server.url, timeout=Timeout(connect=5, read=0.3)), mode)


def test_refused_connection_is_a_transport_error(client_for: Any) -> None:
    with ReplayServer(Reply()) as server:
        url = server.url
    with pytest.raises(TransportError):
        list(client_for(url, retry=None).stream(DAG).iter())


def test_unknown_events_pass_through(client_for: Any) -> None:
    extra = b'{"object":"node.progress","node_id":"a","pct":5}'
    with ReplayServer(Reply([sse(extra) + seed_bytes()])) as server:
        events = list(client_for(server.url).stream(DAG).iter())
    assert events[0] == UnknownEvent("node.progress", extra)
    assert isinstance(events[-1], GraphResult)


def test_events_after_graph_result_are_ignored(client_for: Any) -> None:
    late = sse(b'{"object":"node.delta","node_id":"z","data":{}}')
    with ReplayServer(Reply([seed_bytes() + late])) as server:
        events = list(client_for(server.url).stream(DAG).iter())
    assert isinstance(events[-1], GraphResult)
    assert len(events) == len(seed_events())


def test_disposing_the_subscription_cancels_the_request(client_for: Any) -> None:
    first = sse(msgspec.json.encode(seed_events()[0]))
    with ReplayServer(Reply([first], trickle=True)) as server:
        got_one = threading.Event()
        subscription = client_for(server.url).stream(DAG).subscribe(lambda _: got_one.set())
        assert got_one.wait(10)
        subscription.dispose()
        assert server.client_gone.wait(10), "the server never saw the disconnect"


def test_breaking_out_of_iter_cancels_the_request(client_for: Any) -> None:
    first = sse(msgspec.json.encode(seed_events()[0]))
    with ReplayServer(Reply([first], trickle=True)) as server:
        iterator = client_for(server.url).stream(DAG).iter()
        assert isinstance(next(iterator), NodeDelta)
        iterator.close()  # what a `break` out of a for loop does
        assert server.client_gone.wait(10)


async def test_breaking_out_of_async_iter_cancels_the_request(client_for: Any) -> None:
    first = sse(msgspec.json.encode(seed_events()[0]))
    with ReplayServer(Reply([first], trickle=True)) as server:
        client = client_for(server.url)
        async for _ in (await client.async_stream(DAG)).async_iter():
            break
        assert await asyncio.to_thread(server.client_gone.wait, 10)
        await client.aclose()


def test_slow_iter_consumer_gets_backpressure_not_a_growing_queue(client_for: Any) -> None:
    delta = sse(b'{"object":"node.delta","node_id":"a","data":{"text":"' + b"y" * 1000 + b'"}}')
    chunks = [delta * 60] * 400  # about 24 MB, far more than the socket buffers hold
    with ReplayServer(Reply(chunks, trickle=True)) as server:
        client = client_for(server.url, limits=Limits(max_buffered_batches=2))
        iterator = client.stream(DAG).iter()
        next(iterator)
        # The consumer stalls. Were reading unbounded, the server would write all 24 MB (in
        # well under a second on loopback); bounded, it blocks on a full socket.
        assert not server.chunks_sent.wait(1.0)
        assert not server.client_gone.is_set()
        assert len(server.requests) == 1
        iterator.close()
        assert server.client_gone.wait(10)


async def test_subscription_with_asyncio_scheduler_delivers_on_its_loop(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Event]] = loop.create_future()
        seen: list[Event] = []
        me = threading.current_thread()

        def on_next(e: Event) -> None:
            assert threading.current_thread() is me
            seen.append(e)

        # Subscribed from another thread, delivered on this loop through the scheduler.
        await asyncio.to_thread(
            lambda: client.stream(DAG).subscribe(
                on_next,
                lambda exc: loop.call_soon_threadsafe(done.set_exception, exc),
                lambda: loop.call_soon_threadsafe(done.set_result, seen),
                scheduler=AsyncIOScheduler(loop),
            )
        )
        assert len(await asyncio.wait_for(done, 10)) == len(seed_events())
        await client.aclose()


def test_iter_events_is_sse_text_that_decodes_to_the_same_events(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url)
        texts = list(client.stream(DAG).iter_events())
        events = list(client.stream(DAG).iter())
    assert all(t.startswith("event: message\ndata: ") and t.endswith("\n\n") for t in texts)
    decoder = SSEDecoder()
    assert [decode_event(d) for t in texts for d in decoder.feed_data(t.encode())] == events


async def test_async_iter_events(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url)
        texts = [t async for t in client.stream(DAG).async_iter_events()]
        await client.aclose()
    # As the official SDK writes them: the type ("message") stated on every event.
    assert "".join(texts) == seed_bytes().decode().replace("data: ", "event: message\ndata: ")


def test_user_callback_error_reaches_on_error(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        failed: list[Exception] = []
        done = threading.Event()

        def on_next(_: Event) -> None:
            raise ValueError("my bug")

        client_for(server.url).stream(DAG).subscribe(
            on_next, lambda e: (failed.append(e), done.set()), done.set
        )
        assert done.wait(10)
    assert [str(e) for e in failed] == ["my bug"]


def test_api_key_never_in_repr(client_for: Any) -> None:
    client = client_for("http://127.0.0.1:9")
    assert SECRET not in repr(client)
    assert SECRET not in repr(client._transport())


def test_environment_gives_key_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        monkeypatch.setenv("SUBSTRATE_API_KEY", "env-key")
        monkeypatch.setenv("SUBSTRATE_BASE_URL", server.url)
        with Substrate() as client:
            list(client.stream(DAG).iter())
    assert server.requests[0].headers["Authorization"] == "Bearer env-key"


def test_closed_client_refuses_new_runs(client_for: Any) -> None:
    client = client_for("http://127.0.0.1:9")
    client.close()
    with pytest.raises(ClientClosed, match="create a new one"):
        list(client.stream(DAG).iter())


def test_iter_inside_a_loop_thread_callback_is_refused_not_a_deadlock(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url)
        failures: list[Exception] = []
        done = threading.Event()

        def on_next(_: Event) -> None:
            next(client.stream(DAG).iter())

        client.stream(DAG).subscribe(on_next, lambda e: (failures.append(e), done.set()))
        assert done.wait(10)
    assert isinstance(failures[0], WouldDeadlock)
    assert "async_iter" in str(failures[0])


async def test_disposing_from_another_thread_cancels_a_run_on_this_loop(client_for: Any) -> None:
    first = sse(msgspec.json.encode(seed_events()[0]))
    with ReplayServer(Reply([first], trickle=True)) as server:
        client = client_for(server.url)
        got_one = asyncio.Event()
        subscription = client.stream(DAG).subscribe(lambda _: got_one.set())
        await asyncio.wait_for(got_one.wait(), 10)
        await asyncio.to_thread(subscription.dispose)
        assert await asyncio.to_thread(server.client_gone.wait, 10)


def test_a_huge_error_body_is_read_only_as_far_as_a_message_needs(client_for: Any) -> None:
    body = b"overloaded " + b"x" * (8 * 1024 * 1024)
    reply = Reply([body], status=503, headers={"Content-Type": "text/plain"})
    with ReplayServer(reply) as server, pytest.raises(APIStatusError) as info:
        list(client_for(server.url, retry=None).stream(DAG).iter())
    assert info.value.status == 503
    assert info.value.message.startswith("overloaded x")
    assert len(info.value.message) <= 64 * 1024
