"""What a user of the client can observe that the rest of the suite left unchecked.

Each test here kills mutants that survived ``mutmut run`` (see ``[tool.mutmut]`` in
pyproject.toml): changes to the client's code that every other test let pass. They assert what a
user sees, through the public API, against real loopback servers.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import msgspec
import pytest
from reactivex.operators import to_list

from rxsubstrate import (
    APIStatusError,
    AuthenticationError,
    ClientClosed,
    ComputeText,
    ConnectError,
    ConnectTimeout,
    Event,
    GraphResult,
    Limits,
    MalformedEvent,
    NodeDelta,
    NodeFailed,
    ProtocolError,
    ReadTimeout,
    Retry,
    ServerError,
    StreamConsumed,
    StreamInterrupted,
    Substrate,
    Timeout,
    TransportError,
    UnexpectedContentType,
    WouldDeadlock,
)
from rxsubstrate._loop_thread import LoopThread
from rxsubstrate.engine import Engine, NodeContext
from tests.fault_server import (
    Behaviour,
    FaultServer,
    answer,
    free_port,
    http_head,
    raw,
    reset,
    silent,
)
from tests.replay_server import ReplayServer, Reply, seed_events, sse
from tests.test_client_stream import DAG, seed_bytes

TIMEOUT = 10.0
KEY = "sk-contract-0123456789"
FAST = Retry(attempts=3, backoff=0.01, max_wait=0.1)
SEED = [msgspec.json.encode(e) for e in seed_events()]
FIRST = sse(SEED[0])
MID_RUN = "the client was closed while this run streamed"


@pytest.fixture(autouse=True)
def no_substrate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Makes clients (one request each unless told otherwise), all closed after the test."""
    with ExitStack() as clients:
        yield lambda url, **kwargs: clients.enter_context(
            Substrate(api_key=KEY, base_url=url, **({"retry": None} | kwargs))
        )


def stream_error(client: Substrate) -> BaseException:
    """The error that ends one ``iter()`` run of DAG (the test fails if it completes)."""
    with pytest.raises(Exception) as info:  # noqa: PT011  (each caller checks the type)
        list(client.stream(DAG).iter())
    return info.value


def json_answer(body: Any, **kwargs: Any) -> Behaviour:
    return answer(200, [msgspec.json.encode(body)], content_type="application/json", **kwargs)


@contextmanager
def never_accepting() -> Iterator[str]:
    """The URL of a loopback port whose listener never accepts: its one-place backlog is full,
    so the kernel drops every further SYN and connecting hangs (as a firewalled host does)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        host, port = listener.getsockname()
        with socket.create_connection((host, port), timeout=TIMEOUT):  # fills the backlog
            yield f"http://{host}:{port}"


class FakeNode:
    """What ``RunResult.get`` needs of a node: its id."""

    def __init__(self, id: str) -> None:
        self.id = id


# -- configuration as given to Substrate() ---------------------------------------------------


def test_a_number_as_timeout_bounds_connecting_and_reading(client_for: Any) -> None:
    with FaultServer(silent()) as server:
        error = stream_error(client_for(server.url, timeout=0.3))
    assert isinstance(error, ConnectTimeout)
    assert "connect=0.3 s" in str(error)
    with FaultServer(answer(200, [], end="stall")) as server:
        error = stream_error(client_for(server.url, timeout=0.3))
    assert isinstance(error, ReadTimeout)
    assert "read=0.3 s" in str(error)


def test_additional_headers_are_sent_with_every_request(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url, additional_headers={"X-Team": "blue"})
        list(client.stream(DAG).iter())
        list(client.stream(DAG).iter())
    assert [seen.headers.get("X-Team") for seen in server.requests] == ["blue", "blue"]


def test_an_engine_and_a_base_url_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"pass either engine= \(embedded\) or base_url="):
        Substrate(engine=Engine(), base_url="http://127.0.0.1:9")


def test_retry_takes_a_retry_or_none() -> None:
    with pytest.raises(TypeError, match=r"retry= takes an rxsubstrate\.Retry, or None"):
        Substrate(api_key=KEY, base_url="http://127.0.0.1:9", retry=3)  # type: ignore[arg-type]
    Retry(backoff=0, max_wait=0, give_up_after=0)  # zero waits are allowed: "0 or more"


def test_where_a_client_sends_its_runs() -> None:
    # A key alone: the hosted API (nothing is sent here, nothing starts).
    # The repr names the backend (never the key).
    with Substrate(api_key=KEY) as hosted:
        assert repr(hosted) == "Substrate(RemoteServer('https://api.substrate.run'))"
        assert hosted.base_url == "https://api.substrate.run"
    with Substrate(base_url="http://127.0.0.1:9") as keyless:
        assert repr(keyless) == "Substrate(RemoteServer('http://127.0.0.1:9'))"
    with Substrate() as embedded:
        assert repr(embedded) == "Substrate(EmbeddedEngine())"


def test_a_key_with_an_engine_runs_on_that_engine() -> None:
    async def shout(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        return {"text": "LOUD"}

    engine = Engine()
    engine.register("ComputeText", shout)
    with Substrate(api_key=KEY, engine=engine) as client:
        assert repr(client) == "Substrate(EmbeddedEngine())"
        events = list(client.stream(ComputeText(prompt="hi")).iter())
    assert isinstance(events[-1], GraphResult)
    assert list(events[-1].outputs.values()) == [{"text": "LOUD"}]


@pytest.mark.parametrize("key", ["two words", "k"])
def test_a_key_with_an_inner_space_is_sent_as_it_is(client_for: Any, key: str) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        list(Substrate(api_key=key, base_url=server.url).stream(DAG).iter())
    assert server.requests[0].headers["Authorization"] == f"Bearer {key}"


def test_a_key_with_a_control_character_is_refused_with_advice() -> None:
    with pytest.raises(ValueError, match=r"strip it where it is read") as info:
        Substrate(api_key=KEY + "\x7f", base_url="http://127.0.0.1:9")
    assert KEY not in str(info.value)


def test_a_bad_base_url_is_refused_with_an_example() -> None:
    with pytest.raises(ValueError, match=r"e\.g\. http://127\.0\.0\.1:8787 or https://"):
        Substrate(api_key=KEY, base_url="ftp://example.com")


def test_a_base_url_with_a_trailing_slash_reaches_compose(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        events = list(client_for(server.url + "/").stream(DAG).iter())
    assert isinstance(events[-1], GraphResult)


@pytest.mark.parametrize("nodes", [(), ("not a node",)])
def test_stream_and_run_take_nodes(nodes: tuple[Any, ...]) -> None:
    with Substrate(api_key=KEY, base_url="http://127.0.0.1:9") as client:
        with pytest.raises(TypeError, match=r"stream\(\)/run\(\) take nodes"):
            client.stream(*nodes)
        with pytest.raises(TypeError, match=r"stream\(\)/run\(\) take nodes"):
            client.run(*nodes)


# -- error answers ---------------------------------------------------------------------------


def test_an_error_answer_with_no_body_gives_its_reason_phrase(client_for: Any) -> None:
    with FaultServer(answer(503, [], content_type="text/plain")) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, ServerError)
    assert error.message == "Whatever"  # the status line's reason, as FaultServer sends it


def test_a_300_answer_is_a_status_error(client_for: Any) -> None:
    with FaultServer(answer(300, [b"choose"], content_type="text/html")) as server:
        error = stream_error(client_for(server.url))
    assert type(error) is APIStatusError
    assert (error.status, error.message) == (300, "choose")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"detail":"dag too deep"}', "dag too deep"),  # FastAPI's shape
        (b'{"error":{"message":"quota exceeded","code":7}}', "quota exceeded"),  # OpenAI's
        (b"bad \xff\xfe bytes", "bad \ufffd\ufffd bytes"),  # not UTF-8: shown, not raised
    ],
)
def test_the_message_of_an_error_body(client_for: Any, body: bytes, message: str) -> None:
    with FaultServer(answer(400, [body], content_type="application/json")) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, APIStatusError)
    assert error.message == message


def test_an_error_answer_cut_short_is_still_the_status_error(client_for: Any) -> None:
    with FaultServer(
        answer(503, [b"overloaded, try"], content_type="text/plain", end="reset")
    ) as s:
        error = stream_error(client_for(s.url))
    assert isinstance(error, ServerError)
    assert error.message == "overloaded, try"


def test_a_slow_error_body_holds_the_error_up_for_timeout_read_only(client_for: Any) -> None:
    # The body trickles for 30 s; the error comes after Timeout.read (0.3 s) with what arrived.
    # The bound is the behaviour: a wait of 10 s or 30 s here is the bug.
    with FaultServer(answer(500, [b"upstream "], content_type="text/plain", end="trickle")) as s:
        started = time.monotonic()
        error = stream_error(client_for(s.url, timeout=Timeout(read=0.3)))
        waited = time.monotonic() - started
    assert isinstance(error, ServerError)
    assert waited < 5.0


def test_an_echoed_key_reads_as_redacted(client_for: Any) -> None:
    echo = answer(401, [b"bad key: Bearer " + KEY.encode()], content_type=None)
    with FaultServer(echo) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, AuthenticationError)
    assert error.message == "bad key: Bearer <redacted>"
    with FaultServer(raw(b"Bearer " + KEY.encode() + b"\r\n\r\n")) as server:
        error = stream_error(client_for(server.url))
    assert type(error) is ProtocolError  # aiohttp's parser quotes the bytes it refused
    assert "Bearer <redacted>" in str(error)
    assert KEY not in str(error)


def test_the_body_of_an_unexpected_answer_is_its_first_kib(client_for: Any) -> None:
    pieces = [b"<p>" + bytes([65 + i]) * 600 for i in range(4)]  # each in its own TCP segment
    with FaultServer(answer(200, pieces, content_type="text/html", gap=0.05)) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, UnexpectedContentType)
    assert error.body == b"".join(pieces)[:1024]


# -- connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize("sync", [True, False])
def test_a_host_that_never_accepts_is_a_connect_timeout_for_a_plain_run(
    client_for: Any, sync: bool
) -> None:
    # run() waits `read` for its answer: only the connect timeout can say the host is away.
    with never_accepting() as url:
        client = client_for(url, retry=FAST, timeout=Timeout(connect=0.3, read=5))
        with pytest.raises(ConnectTimeout) as info:
            client.run(DAG) if sync else asyncio.run(client.async_run(DAG))
    assert isinstance(info.value, TimeoutError)
    assert str(info.value).startswith("no connection to the server: ")
    assert url.removeprefix("http://") in str(info.value)


def test_a_refused_connection_says_where_it_tried(client_for: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    error = stream_error(client_for(url))
    assert isinstance(error, ConnectError)
    assert str(error).startswith("the connection failed before the server answered: ")
    assert url.removeprefix("http://") in str(error)


def test_a_reset_says_why(client_for: Any) -> None:
    with FaultServer(reset()) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, ConnectError)
    assert "Connection reset by peer" in str(error)
    assert "Connection reset by peer" in str(error.__cause__)


@pytest.mark.parametrize("sync", [True, False])
def test_a_tls_failure_is_named_and_not_retried(client_for: Any, sync: bool) -> None:
    # https:// to a plain HTTP server: the handshake fails, as with a bad certificate.
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url.replace("http://", "https://"), retry=FAST)
        with pytest.raises(TransportError) as info:
            list(client.stream(DAG).iter()) if sync else asyncio.run(client.async_run(DAG))
    assert type(info.value) is TransportError  # not a ConnectError: retrying cannot help
    prefix = "the TLS connection to the server failed: "
    assert str(info.value).startswith(prefix)
    assert "SSL" in str(info.value).removeprefix(prefix)  # aiohttp's words, which say why


def test_an_answer_that_is_not_http_says_what_came(client_for: Any) -> None:
    with FaultServer(raw(b"GARBAGE, NOT HTTP\r\n\r\n")) as server:
        error = stream_error(client_for(server.url, retry=FAST))
    assert type(error) is ProtocolError
    assert str(error).startswith("the server's answer is not valid HTTP: ")
    assert "GARBAGE" in str(error)
    assert len(server.requests) == 1  # not retried: the server answered
    # The chained aiohttp error still says which request it was, its key masked.
    info = error.__cause__.request_info  # type: ignore[union-attr]
    assert (str(info.url), info.method) == (f"{server.url}/compose", "POST")
    assert str(info.real_url) == f"{server.url}/compose"
    assert info.headers["Authorization"] == "<redacted>"
    assert info.headers["Accept"] == "text/event-stream"


def test_a_retry_after_past_the_total_deadline_gives_up_at_once(client_for: Any) -> None:
    busy = answer(503, [b"busy"], content_type="text/plain", headers={"Retry-After": "3"})
    with FaultServer(busy, answer(200, [seed_bytes()])) as server:
        client = client_for(server.url, retry=Retry(max_wait=10), timeout=Timeout(total=1))
        error = stream_error(client)
    assert isinstance(error, ServerError)  # not a RunTimeout 3 s later
    assert error.retry_after == 3.0
    assert len(server.requests) == 1


# -- streams over several network reads ------------------------------------------------------


def test_an_interrupted_stream_counts_the_events_of_every_read(client_for: Any) -> None:
    reads = [sse(SEED[0]), sse(SEED[1]), sse(SEED[2])]
    with FaultServer(answer(200, reads, gap=0.05, end="reset")) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, StreamInterrupted)
    assert error.events_received == 3
    assert not error.partial_event


def test_a_malformed_event_is_numbered_across_reads(client_for: Any) -> None:
    reads = [sse(SEED[0], SEED[1]), sse(b"{oops")]
    with FaultServer(answer(200, reads, gap=0.05)) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, MalformedEvent)
    assert error.index == 2


def test_a_stream_that_ends_inside_an_event_says_so(client_for: Any) -> None:
    with FaultServer(answer(200, [sse(SEED[0]) + b'data: {"object":'])) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, StreamInterrupted)
    assert (error.events_received, error.partial_event) == (1, True)


def test_a_stream_cut_right_after_its_headers_has_no_partial_event(client_for: Any) -> None:
    with FaultServer(answer(200, [], end="reset")) as server:
        error = stream_error(client_for(server.url))
    assert isinstance(error, StreamInterrupted)
    assert (error.events_received, error.partial_event) == (0, False)


# -- run() -----------------------------------------------------------------------------------


def test_a_json_answer_in_pieces_is_read_whole(client_for: Any) -> None:
    body = msgspec.json.encode({"data": {"a": {"text": "Windmills turn."}}})
    pieces = [body[:7], body[7:20], body[20:]]
    with FaultServer(answer(200, pieces, content_type="application/json", gap=0.05)) as server:
        result = client_for(server.url).run(DAG)
    assert result.outputs == {"a": {"text": "Windmills turn."}}


def test_a_json_answer_cut_short_is_a_transport_error(client_for: Any) -> None:
    cut = json_answer({"data": {}}, headers={"Content-Length": "1000"})
    with FaultServer(cut) as server, pytest.raises(TransportError) as info:
        client_for(server.url).run(DAG)
    assert type(info.value) is TransportError
    assert str(info.value).startswith("the connection broke: ")


def test_a_json_answer_that_is_not_an_object_is_a_protocol_error(client_for: Any) -> None:
    with (
        FaultServer(json_answer([1, 2])) as server,
        pytest.raises(ProtocolError, match="the server's JSON answer is not an object"),
    ):
        client_for(server.url).run(DAG)


def test_a_json_answer_of_a_json_subtype_is_read(client_for: Any) -> None:
    body = [b'{"data":{}}']
    with FaultServer(answer(200, body, content_type="application/vnd.substrate+json")) as s:
        assert client_for(s.url).run(DAG).json == {"data": {}}


def test_run_result_tells_outputs_from_failures(client_for: Any) -> None:
    outputs = {
        "label": {"type": "cat", "message": "meow", "score": 0.9},  # fields named like an error
        "note": {"message": "hello"},
        "failed": {"type": "api_error", "message": "overloaded", "status_code": 503},
    }
    with FaultServer(json_answer({"data": outputs})) as server:
        result = client_for(server.url).run(DAG)
    assert repr(result) == "RunResult(request_id=None, nodes=['label', 'note', 'failed'])"
    assert result.get(FakeNode("label")) == outputs["label"]  # type: ignore[arg-type]
    assert result.get(FakeNode("note")) == outputs["note"]  # type: ignore[arg-type]
    with pytest.raises(NodeFailed) as info:
        result.get(FakeNode("failed"))  # type: ignore[arg-type]
    assert (info.value.node_id, info.value.type, info.value.message) == (
        "failed",
        "api_error",
        "overloaded",
    )


# -- iter(), iter_events(), async_iter() -----------------------------------------------------


def test_a_stalled_iter_consumer_makes_the_server_wait(client_for: Any) -> None:
    # The server writes as fast as the client reads, and notes whether a write waited a whole
    # second for room. Were iter() to read on for a stalled consumer, none would: the client
    # would take all 60 MB.
    delta = b'{"object":"node.delta","node_id":"a","data":{"text":"' + b"y" * 60_000 + b'"}}'
    chunk = sse(delta)
    stopped: list[str] = []
    done = threading.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_head(200, {"Content-Type": "text/event-stream"}))
        try:
            for _ in range(1_000):  # far more than the socket buffers hold
                writer.write(chunk)
                async with asyncio.timeout(1.0):
                    await writer.drain()
            stopped.append("wrote everything")
        except TimeoutError:
            stopped.append("waited for the client")
        done.set()
        await writer.drain()  # until the client reads or goes away

    with FaultServer(flood) as server:
        client = client_for(server.url, limits=Limits(max_buffered_batches=2))
        iterator = client.stream(DAG).iter()
        assert isinstance(next(iterator), NodeDelta)
        assert done.wait(TIMEOUT)
        assert stopped == ["waited for the client"]
        iterator.close()
        assert server.client_gone.wait(TIMEOUT)


def test_closing_iter_events_cancels_the_run(client_for: Any) -> None:
    with ReplayServer(Reply([FIRST], trickle=True)) as server:
        texts = client_for(server.url).stream(DAG).iter_events()
        assert next(texts).startswith("event: message\ndata: ")
        texts.close()  # type: ignore[attr-defined]
        assert server.client_gone.wait(TIMEOUT)


async def test_iter_events_is_read_one_way_once(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        stream = client_for(server.url).stream(DAG)
        by_async_for = stream.iter_events()
        [text async for text in by_async_for]  # type: ignore[attr-defined]
        with pytest.raises(StreamConsumed, match="either with for or with async for, once"):
            next(by_async_for)
        by_for = stream.iter_events()
        await asyncio.to_thread(next, by_for)
        with pytest.raises(StreamConsumed, match="either with for or with async for, once"):
            by_for.__aiter__()  # type: ignore[attr-defined]
        await asyncio.to_thread(by_for.close)  # type: ignore[attr-defined]


async def test_cancelling_the_task_reading_async_iter_cancels_it(client_for: Any) -> None:
    # A web framework cancels the handler whose client went away: that is a cancellation, not
    # a closed client.
    with ReplayServer(Reply([FIRST], trickle=True)) as server:
        client = client_for(server.url)
        got_one = asyncio.Event()

        async def read() -> None:
            async for _ in client.stream(DAG).async_iter():
                got_one.set()

        task = asyncio.ensure_future(read())
        await asyncio.wait_for(got_one.wait(), TIMEOUT)
        task.cancel()
        await asyncio.wait([task], timeout=TIMEOUT)
        assert task.cancelled()
        assert await asyncio.to_thread(server.client_gone.wait, TIMEOUT)


async def test_runs_on_the_callers_loop_report_nothing_to_its_exception_handler(
    client_for: Any,
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        with ReplayServer(Reply([seed_bytes()])) as server:
            events = [e async for e in client_for(server.url).stream(DAG).async_iter()]
        with FaultServer(json_answer({"data": {}})) as server:
            result = await client_for(server.url).async_run(DAG)
        for _ in range(10):  # let done callbacks run: each may report to the handler
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert isinstance(events[-1], GraphResult)
    assert result.json == {"data": {}}
    assert reported == []


async def test_close_during_an_async_read_ends_it_and_leaves_no_task_behind(
    client_for: Any,
) -> None:
    with ReplayServer(Reply([FIRST], hang=True)) as server:
        client = client_for(server.url)
        closer = threading.Thread(target=client.close)
        with pytest.raises(ClientClosed, match=MID_RUN):  # noqa: PT012  (close while reading)
            async for _ in client.stream(DAG).async_iter():
                closer.start()  # returns at once: the consumer is reading when it closes
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            await asyncio.wait(others, timeout=TIMEOUT)
        assert all(task.done() for task in others), "the run's own task never ended"
        await asyncio.to_thread(closer.join, TIMEOUT)


# -- closing, and what close() says ----------------------------------------------------------


def kept_alive_answer() -> bytes:
    """The seed stream with its Content-Length, in an answer that keeps the connection open."""
    body = seed_bytes()
    head = http_head(200, {"Content-Type": "text/event-stream", "Content-Length": str(len(body))})
    return head.replace(b"Connection: close\r\n", b"") + body


def keep_alive(connections_closed: threading.Semaphore) -> Behaviour:
    """Answer every request on the connection with the seed stream (Content-Length, kept
    alive), until the client closes the connection; then release ``connections_closed``."""
    answer = kept_alive_answer()

    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(30):
                while True:
                    writer.write(answer)
                    await writer.drain()
                    request = await reader.readuntil(b"\r\n\r\n")
                    length = int(request.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            connections_closed.release()

    return behave


def test_runs_share_a_connection_that_close_releases(client_for: Any) -> None:
    # iter() reads on a loop of its own: the client keeps that loop, and its session's pooled
    # connection, for the next iter().
    closed = threading.Semaphore(0)
    with FaultServer(keep_alive(closed)) as server:
        client = client_for(server.url)
        first = list(client.stream(DAG).iter())
        second = list(client.stream(DAG).iter())
        assert first == second
        assert len(server.requests) == 1  # one connection: the second run reused it
        client.close()
        assert closed.acquire(timeout=TIMEOUT), "close() left the pooled connection open"


def test_a_pooled_connection_the_server_closed_is_not_reused(client_for: Any) -> None:
    # Between two iter() runs nothing runs the loop that holds the pooled connection: the next
    # run must see that the server closed it, not send its request there and fail (no retry).
    first_run_over, closed = threading.Event(), threading.Event()

    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(kept_alive_answer())
        await writer.drain()
        await asyncio.to_thread(first_run_over.wait, TIMEOUT)  # the client's loop is idle
        writer.close()
        await writer.wait_closed()
        closed.set()

    with FaultServer(answer_then_close) as server:
        client = client_for(server.url)
        list(client.stream(DAG).iter())
        first_run_over.set()
        assert closed.wait(TIMEOUT)
        events = list(client.stream(DAG).iter())
    assert isinstance(events[-1], GraphResult)
    assert len(server.requests) == 2


def test_a_client_dropped_without_close_is_released_when_collected() -> None:
    # Its loop thread (started by stream().run()) ends, and the connections pooled on it and on
    # the loop iter() drives are closed: nothing a run left behind (a pooled connection keeps
    # the context it was opened in) holds the client.
    closed = threading.Semaphore(0)
    gc.collect()  # what earlier tests left for the collector is not this client's
    with FaultServer(keep_alive(closed)) as server:
        before = set(threading.enumerate())
        client = Substrate(api_key=KEY, base_url=server.url)
        list(client.stream(DAG).iter())
        assert isinstance(client.stream(DAG).run(), GraphResult)  # on the client's loop thread
        started = [t for t in threading.enumerate() if t not in before]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            del client
            gc.collect()
        for thread in started:
            thread.join(TIMEOUT)
        assert closed.acquire(timeout=TIMEOUT)
        assert closed.acquire(timeout=TIMEOUT), "a pooled connection outlived its client"
    assert [str(w.message) for w in caught] == []  # closed by the client, not by collection
    assert len(server.requests) == 2  # one connection per loop
    assert [t.name for t in started] == ["rxsubstrate-loop"]
    assert not [t.name for t in started if t.is_alive()]


def test_the_clients_threads_are_daemons_named_for_it() -> None:
    # Daemons, so that a script that never closes its client can exit (the client is released
    # at exit, after the interpreter has waited for every non-daemon thread). iter() starts
    # none (it reads on the calling thread); run() reads on the client's loop thread.
    before = set(threading.enumerate())
    with Substrate() as client:
        client.run(ComputeText(prompt="windmills", max_tokens=3))
        started = [t for t in threading.enumerate() if t not in before]
    assert {t.name for t in started} >= {"rxsubstrate-loop", "rxsubstrate-embedded-server"}
    assert all(t.daemon for t in started)


def test_blocking_calls_from_a_subscribe_callback_say_what_to_use() -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = Substrate(api_key=KEY, base_url=server.url)
        errors: list[Exception] = []
        done = threading.Event()

        def on_next(_: Event) -> None:
            client.run(DAG)

        client.stream(DAG).subscribe(on_next, lambda e: (errors.append(e), done.set()))
        assert done.wait(TIMEOUT)
        client.close()
    assert isinstance(errors[0], WouldDeadlock)
    assert "use the async API or subscribe() there instead" in str(errors[0])


def test_loop_thread_run_from_its_own_thread_is_refused() -> None:
    loop_thread = LoopThread("rxsubstrate-test-loop")

    async def answer() -> int:
        return 42

    async def call_from_inside() -> bool:
        refused = answer()
        with pytest.raises(WouldDeadlock, match="a blocking call was made from the client's"):
            loop_thread.run(refused)
        return refused.cr_frame is None  # closed, not left to warn that it was never awaited

    try:
        assert loop_thread.run(call_from_inside())
    finally:
        loop_thread.close()


def arrives(seen: threading.Event) -> Behaviour:
    """Note that the request arrived, then never answer."""
    hold = silent()

    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.set()
        await hold(reader, writer)

    return behave


def test_close_tells_a_subscriber_and_a_blocked_run_why_they_ended() -> None:
    with FaultServer(answer(200, [FIRST], end="stall")) as server:
        client = Substrate(api_key=KEY, base_url=server.url)
        errors: list[Exception] = []
        ended = threading.Event()
        got_one = threading.Event()
        client.stream(DAG).subscribe(
            lambda _: got_one.set(), lambda e: (errors.append(e), ended.set())
        )
        assert got_one.wait(TIMEOUT)
        client.close()
        assert ended.wait(TIMEOUT)
    assert [(type(e), str(e)) for e in errors] == [(ClientClosed, MID_RUN)]

    arrived = threading.Event()
    with FaultServer(arrives(arrived)) as server:
        client = Substrate(api_key=KEY, base_url=server.url)
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                client.run(DAG)
            except ClientClosed as exc:
                outcome.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        assert arrived.wait(TIMEOUT)
        client.close()
        thread.join(TIMEOUT)
    assert [str(e) for e in outcome] == [MID_RUN]


async def test_close_tells_an_async_run_why_it_ended() -> None:
    arrived = threading.Event()
    with FaultServer(arrives(arrived)) as server:
        client = Substrate(api_key=KEY, base_url=server.url)
        run = asyncio.ensure_future(client.async_run(DAG))
        assert await asyncio.to_thread(arrived.wait, TIMEOUT)
        await client.aclose()
        with pytest.raises(ClientClosed, match=MID_RUN):
            await asyncio.wait_for(run, TIMEOUT)


async def test_subscribing_in_a_loop_to_a_closed_client_says_to_make_a_new_one() -> None:
    client = Substrate(api_key=KEY, base_url="http://127.0.0.1:9")
    await client.aclose()
    errors: list[Exception] = []
    client.stream(DAG).subscribe(on_error=errors.append)
    assert [(type(e), str(e)) for e in errors] == [
        (ClientClosed, "this Substrate client is closed; create a new one")
    ]


async def test_an_unhandled_subscriber_error_is_reported_as_one() -> None:
    loop = asyncio.get_running_loop()
    reported: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    loop.set_exception_handler(lambda _, context: reported.put_nowait(context))

    def fail(_: Event) -> None:
        raise ValueError("my bug")

    try:
        with ReplayServer(Reply([seed_bytes()])) as server:
            client = Substrate(api_key=KEY, base_url=server.url)
            subscription = client.stream(DAG).subscribe(fail)
            context = await asyncio.wait_for(reported.get(), TIMEOUT)
            await client.aclose()
        subscription.dispose()
    finally:
        loop.set_exception_handler(None)
    assert isinstance(context["exception"], ValueError)
    assert context["message"].startswith("Unhandled error in an rxsubstrate subscription")
    assert context["message"].endswith("or its run failed and it has no on_error)")


# -- stream_many -----------------------------------------------------------------------------


def test_stream_many_takes_single_nodes_and_runs_in_order_one_at_a_time() -> None:
    a = ComputeText(prompt="windmills", max_tokens=3)
    b = ComputeText(prompt="lighthouses", max_tokens=3)
    with Substrate() as client:
        labelled = client.stream_many({"x": a, "y": [b]}).pipe(to_list()).run()
        positional = client.stream_many([[a], [b]], max_concurrency=1).pipe(to_list()).run()
    assert {e.run for e in labelled} == {"x", "y"}
    runs = [e.run for e in positional]
    assert runs == sorted(runs)  # run 1 only once run 0 has ended
    assert set(runs) == {0, 1}
