"""The client against broken servers: timeouts, error answers, retries, and the key kept secret.

Each server here is a ``FaultServer`` on loopback that misbehaves in one scripted way; the tests
count the requests it received.
"""

from __future__ import annotations

import asyncio
import email.utils
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import msgspec
import pytest

from rxsubstrate import (
    APIStatusError,
    AuthenticationError,
    ConnectError,
    ConnectTimeout,
    Event,
    GraphResult,
    ProtocolError,
    RateLimited,
    ReadTimeout,
    Retry,
    RunResult,
    RunTimeout,
    Secrets,
    ServerError,
    SSEDecoder,
    StreamInterrupted,
    Substrate,
    SubstrateError,
    Timeout,
    TransportError,
    UnexpectedContentType,
)
from rxsubstrate._events import decode_event
from tests.fault_server import FaultServer, answer, free_port, raw, reset, silent
from tests.replay_server import seed_events, sse
from tests.test_client_stream import DAG, consume

SECRET = "sk-fault-secret-0123456789"
PROVIDER_SECRET = "sk-openai-fault-secret-987"
KEY = SECRET.encode()
PROVIDER_KEY = PROVIDER_SECRET.encode()
STREAM_MODES = ["iter", "iter_events", "async_iter", "subscribe_in_loop", "subscribe_without_loop"]
RUN_MODES = ["run", "async_run"]
FAST = Retry(attempts=3, backoff=0.01, max_wait=0.1)
SEED = [msgspec.json.encode(e) for e in seed_events()]


def seed() -> bytes:
    return sse(*SEED)


def ok(mode: str) -> Any:
    """A good answer for ``mode``: the seed stream, or the JSON a non-streaming run gets."""
    if mode in RUN_MODES:
        return answer(200, [b'{"data":{"a":{"text":"hi"}}}'], content_type="application/json")
    return answer(200, [seed()])


@pytest.fixture
def client_for() -> Iterator[Any]:
    """Makes clients (quick retries unless told otherwise), all closed after the test."""
    with ExitStack() as clients:
        yield lambda url, **kwargs: clients.enter_context(
            Substrate(api_key=SECRET, base_url=url, **({"retry": FAST} | kwargs))
        )


def attempt(client: Substrate, mode: str) -> list[Event] | RunResult:
    """One run of DAG the way ``mode`` says; raises what the run raised."""
    if mode == "run":
        return client.run(DAG)
    if mode == "async_run":

        async def in_loop() -> RunResult:
            try:
                return await asyncio.wait_for(client.async_run(DAG), 10)
            finally:
                await client.aclose()

        return asyncio.run(in_loop())
    if mode == "iter_events":
        decoder = SSEDecoder()
        texts = client.stream(DAG).iter_events()
        return [decode_event(d) for t in texts for d in decoder.feed_data(t.encode())]
    return consume(client, mode)


def the_seed_run(result: list[Event] | RunResult) -> bool:
    if isinstance(result, RunResult):
        return result.outputs == {"a": {"text": "hi"}}
    return result == [decode_event(e) for e in SEED]


# -- timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "read"), [(m, None) for m in STREAM_MODES] + [("iter", 5.0)])
def test_a_server_that_never_answers_is_a_connect_timeout(
    client_for: Any, mode: str, read: float | None
) -> None:
    # With read=None this waited forever; with read=5 it waited 5 s for a ReadTimeout.
    with FaultServer(silent()) as server:
        client = client_for(server.url, timeout=Timeout(connect=0.2, read=read))
        with pytest.raises(ConnectTimeout, match=r"connect=0\.2") as info:
            attempt(client, mode)
        assert isinstance(info.value, TimeoutError)
        assert server.client_gone.wait(10), "the timed-out connection was left open"
    assert len(server.requests) == 1  # a timeout is not retried: the server may be working


def test_read_timeout_does_not_apply_before_the_headers(client_for: Any) -> None:
    # The headers come after 0.6 s: later than `read`, within `connect`, which covers them.
    with FaultServer(answer(200, [seed()], delay=0.6)) as server:
        client = client_for(server.url, timeout=Timeout(connect=10, read=0.2))
        assert the_seed_run(attempt(client, "iter"))


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_headers_then_nothing_is_a_read_timeout(client_for: Any, mode: str) -> None:
    with FaultServer(answer(200, [], end="stall")) as server:
        client = client_for(server.url, timeout=Timeout(connect=10, read=0.2))
        with pytest.raises(ReadTimeout, match="0 event"):
            attempt(client, mode)
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", STREAM_MODES)
def test_total_deadline_ends_a_run_that_keeps_the_connection_alive(
    client_for: Any, mode: str
) -> None:
    # Keep-alive comments every 50 ms: never idle, never done. Only `total` can end it.
    with FaultServer(answer(200, [sse(SEED[0])], end="trickle")) as server:
        client = client_for(server.url, timeout=Timeout(read=5, total=0.5))
        with pytest.raises(RunTimeout, match=r"total=0\.5") as info:
            attempt(client, mode)
        assert server.client_gone.wait(10)
    assert isinstance(info.value, TimeoutError)
    assert info.value.events_received == 1


async def test_total_deadline_ends_a_stream_that_never_makes_the_client_wait(
    client_for: Any,
) -> None:
    # The server floods events; the consumer is slower, so every read finds bytes waiting.
    delta = sse(SEED[0]) * 200
    with FaultServer(answer(200, [delta], end="flood")) as server:
        client = client_for(server.url, timeout=Timeout(total=0.3))
        seen = 0
        with pytest.raises(RunTimeout):  # noqa: PT012  (a slow consumer is the scenario)
            async for _ in client.stream(DAG).async_iter():
                seen += 1
                await asyncio.sleep(0.0005)
        await client.aclose()
    assert seen > 0


@pytest.mark.parametrize("mode", RUN_MODES)
def test_run_waits_for_its_answer_as_long_as_read_or_total(client_for: Any, mode: str) -> None:
    # A non-streaming answer comes when the graph is done: `connect` does not bound that wait.
    with FaultServer(ok(mode)) as server:
        slow = answer(200, [b"{}"], content_type="application/json", delay=0.5)
        server.behaviours = (slow,)
        client = client_for(server.url, timeout=Timeout(connect=0.2, read=5))
        assert isinstance(attempt(client, mode), RunResult)
    with FaultServer(silent()) as server:
        client = client_for(server.url, timeout=Timeout(connect=5, read=0.3))
        with pytest.raises(ReadTimeout):
            attempt(client, mode)
    with FaultServer(silent()) as server:
        client = client_for(server.url, timeout=Timeout(connect=5, read=None, total=0.3))
        with pytest.raises(RunTimeout):
            attempt(client, mode)


def test_total_deadline_bounds_the_retries_too(client_for: Any) -> None:
    with FaultServer(answer(503, [b"busy"], content_type="text/plain")) as server:
        retry = Retry(attempts=1000, backoff=0.05, max_wait=0.05, give_up_after=60)
        client = client_for(server.url, retry=retry, timeout=Timeout(total=0.5))
        with pytest.raises((ServerError, RunTimeout)):
            attempt(client, "iter")
    assert 2 <= len(server.requests) < 100


# -- error answers --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["iter", "subscribe_without_loop", "run"])
def test_error_message_comes_from_the_whole_body_sent_in_pieces(client_for: Any, mode: str) -> None:
    body = [b'{"type":"invalid_request_error",', b'"message":"cycle: a', b' -> b -> a"}']
    with (
        FaultServer(answer(400, body, content_type="application/json", gap=0.05)) as server,
        pytest.raises(APIStatusError) as info,
    ):
        attempt(client_for(server.url), mode)
    assert type(info.value) is APIStatusError
    assert info.value.message == "cycle: a -> b -> a"


def test_a_slow_error_body_gives_the_status_error_with_what_arrived(client_for: Any) -> None:
    # The error body trickles forever: the status is the error, its message what came in time.
    with FaultServer(answer(500, [b"upstream "], content_type="text/plain", end="trickle")) as s:
        client = client_for(s.url, timeout=Timeout(read=0.3))
        with pytest.raises(ServerError) as info:
            attempt(client, "iter")
    assert info.value.status == 500
    assert info.value.message.startswith("upstream")


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, AuthenticationError), (429, RateLimited)]
    + [(s, ServerError) for s in (500, 502, 503, 504)]
    + [(400, APIStatusError), (404, APIStatusError), (413, APIStatusError)],
)
def test_each_status_has_its_class(client_for: Any, status: int, error: type) -> None:
    with (
        FaultServer(answer(status, [b'{"message":"no"}'], content_type="application/json")) as s,
        pytest.raises(APIStatusError) as info,
    ):
        attempt(client_for(s.url, retry=None), "iter")
    assert type(info.value) is error
    assert (info.value.status, info.value.message, info.value.retry_after) == (status, "no", None)


@pytest.mark.parametrize("mode", ["iter", "run"])
def test_retry_after_is_kept_on_the_error_in_seconds_and_as_a_date(
    client_for: Any, mode: str
) -> None:
    a_day = email.utils.formatdate(time.time() + 86_400, usegmt=True)
    with FaultServer(
        answer(429, [b"slow down"], content_type="text/plain", headers={"Retry-After": "7"}),
        answer(503, [b"later"], content_type="text/plain", headers={"Retry-After": a_day}),
    ) as server:
        # Both waits are longer than max_wait: each run gives up at once, error in hand.
        client = client_for(server.url, retry=Retry(max_wait=1))
        with pytest.raises(RateLimited, match="retry after 7 s") as limited:
            attempt(client, mode)
        with pytest.raises(ServerError) as unavailable:
            attempt(client, mode)
    assert limited.value.retry_after == 7.0
    assert unavailable.value.retry_after is not None
    assert 86_000 < unavailable.value.retry_after <= 86_400
    assert len(server.requests) == 2


@pytest.mark.parametrize("mode", STREAM_MODES)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
        ("application/json", b'{"error":"quota exceeded"}'),
        (None, b"data: {}\n\n"),
    ],
)
def test_a_200_that_is_not_an_event_stream_names_its_type(
    client_for: Any, mode: str, content_type: str | None, body: bytes
) -> None:
    with (
        FaultServer(answer(200, [body], content_type=content_type)) as server,
        pytest.raises(UnexpectedContentType) as info,
    ):
        attempt(client_for(server.url), mode)
    assert isinstance(info.value, ProtocolError)
    assert info.value.content_type == (content_type or "none")
    assert info.value.expected == "text/event-stream"
    assert info.value.body == body
    assert f"answered {content_type or 'none'}, not text/event-stream" in str(info.value)
    assert len(server.requests) == 1


def test_a_huge_page_instead_of_json_is_named_not_read(client_for: Any) -> None:
    page = b"<html>" + b"x" * (8 * 1024 * 1024)
    with (
        FaultServer(answer(200, [page], content_type="text/html")) as server,
        pytest.raises(UnexpectedContentType, match="text/html, not application/json") as e,
    ):
        attempt(client_for(server.url), "run")
    assert e.value.body.startswith(b"<html>xxx")
    assert len(e.value.body) <= 1024


def test_a_json_answer_that_does_not_parse_is_a_protocol_error(client_for: Any) -> None:
    with (
        FaultServer(answer(200, [b"{oops"], content_type="application/json")) as server,
        pytest.raises(ProtocolError, match="malformed"),
    ):
        attempt(client_for(server.url), "run")


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", STREAM_MODES + RUN_MODES)
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_unavailable_answers_are_retried_then_the_run_succeeds(
    client_for: Any, mode: str, status: int
) -> None:
    busy = answer(status, [b"busy"], content_type="text/plain")
    with FaultServer(busy, busy, ok(mode)) as server:
        result = attempt(client_for(server.url), mode)
    assert the_seed_run(result)  # each event once: only the third answer was read
    assert len(server.requests) == 3


@pytest.mark.parametrize("mode", STREAM_MODES + RUN_MODES)
def test_a_reset_before_any_byte_is_retried(client_for: Any, mode: str) -> None:
    with FaultServer(reset(), ok(mode)) as server:
        assert the_seed_run(attempt(client_for(server.url), mode))
    assert len(server.requests) == 2


def test_failures_of_each_kind_in_one_run_are_all_retried(client_for: Any) -> None:
    busy = answer(503, [b"busy"], content_type="text/plain")
    with FaultServer(busy, reset(), busy, reset(), ok("iter")) as server:
        client = client_for(server.url, retry=Retry(attempts=5, backoff=0.01))
        assert the_seed_run(attempt(client, "iter"))
    assert len(server.requests) == 5


@pytest.mark.parametrize("mode", ["iter", "async_iter", "run"])
def test_a_refused_connection_is_retried_until_the_server_is_up(client_for: Any, mode: str) -> None:
    retry = Retry(attempts=100, backoff=0.05, max_wait=0.1, give_up_after=20)
    with FaultServer(ok(mode), port=free_port(), start_after=0.3) as server:
        assert the_seed_run(attempt(client_for(server.url, retry=retry), mode))
    assert len(server.requests) == 1


def test_a_refused_connection_without_retries_fails_at_once(client_for: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectError, match="before the server answered"):
        attempt(client_for(url, retry=None), "iter")


def test_retry_after_is_honoured(client_for: Any) -> None:
    limited = answer(429, [b"wait"], content_type="text/plain", headers={"Retry-After": "1"})
    with FaultServer(limited, ok("iter")) as server:
        assert the_seed_run(attempt(client_for(server.url, retry=Retry(max_wait=5)), "iter"))
    first, second = server.requests
    assert second.at - first.at >= 0.95


def test_a_past_retry_after_date_retries_at_once(client_for: Any) -> None:
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    busy = answer(503, [b"busy"], content_type="text/plain", headers={"Retry-After": past})
    with FaultServer(busy, ok("iter")) as server:
        assert the_seed_run(attempt(client_for(server.url), "iter"))
    assert len(server.requests) == 2


@pytest.mark.parametrize("retry", [None, Retry(attempts=1)])
@pytest.mark.parametrize("mode", ["iter", "run"])
def test_retrying_switched_off(client_for: Any, retry: Retry | None, mode: str) -> None:
    busy = answer(503, [b"busy"], content_type="text/plain")
    with FaultServer(busy, ok(mode)) as server, pytest.raises(ServerError):
        attempt(client_for(server.url, retry=retry), mode)
    with FaultServer(reset(), ok(mode)) as resetting, pytest.raises(ConnectError):
        attempt(client_for(resetting.url, retry=retry), mode)
    assert len(server.requests) == len(resetting.requests) == 1


def test_retries_are_bounded_in_attempts(client_for: Any) -> None:
    with (
        FaultServer(answer(502, [b"bad gateway"], content_type="text/plain")) as server,
        pytest.raises(ServerError, match="bad gateway"),
    ):
        attempt(client_for(server.url, retry=Retry(attempts=4, backoff=0.01)), "iter")
    assert len(server.requests) == 4


def test_retries_are_bounded_in_time(client_for: Any) -> None:
    retry = Retry(attempts=1000, backoff=0.05, max_wait=0.05, give_up_after=0.5)
    with (
        FaultServer(answer(503, [b"busy"], content_type="text/plain")) as server,
        pytest.raises(ServerError),
    ):
        attempt(client_for(server.url, retry=retry), "iter")
    assert 2 <= len(server.requests) < 100


@pytest.mark.parametrize("status", [400, 401, 404, 500])
def test_other_statuses_are_not_retried(client_for: Any, status: int) -> None:
    with (
        FaultServer(answer(status, [b"no"], content_type="text/plain"), ok("iter")) as server,
        pytest.raises(APIStatusError),
    ):
        attempt(client_for(server.url), "iter")
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", STREAM_MODES)
@pytest.mark.parametrize("end", ["close", "reset"])
def test_nothing_is_retried_once_events_have_arrived(client_for: Any, mode: str, end: str) -> None:
    # Were the run sent again, the second answer would complete it, its events twice over.
    three = sse(*SEED[:3])
    with (
        FaultServer(answer(200, [three], end=end), ok(mode)) as server,  # type: ignore[arg-type]
        pytest.raises(StreamInterrupted) as info,
    ):
        attempt(client_for(server.url), mode)
    assert info.value.events_received == 3
    assert len(server.requests) == 1


@pytest.mark.parametrize("mode", ["iter", "subscribe_without_loop"])
def test_events_before_the_cut_are_each_delivered_once(client_for: Any, mode: str) -> None:
    seen: list[Event] = []
    with FaultServer(answer(200, [sse(*SEED[:3])], end="reset"), ok(mode)) as server:
        client = client_for(server.url)
        if mode == "iter":
            iterator = client.stream(DAG).iter()
            with pytest.raises(StreamInterrupted):  # noqa: PT012  (the events come first)
                for event in iterator:
                    seen.append(event)
        else:
            done = threading.Event()
            errors: list[Exception] = []
            client.stream(DAG).subscribe(
                seen.append, lambda e: (errors.append(e), done.set()), done.set
            )
            assert done.wait(10)
            assert isinstance(errors[0], StreamInterrupted)
    assert seen == [decode_event(e) for e in SEED[:3]]
    assert len(server.requests) == 1


def test_an_answer_cut_after_its_headers_is_not_retried(client_for: Any) -> None:
    # 200 and then nothing: the server accepted the run, so it is not sent twice.
    with (
        FaultServer(answer(200, [], end="reset"), ok("iter")) as server,
        pytest.raises(StreamInterrupted, match="0 event"),
    ):
        attempt(client_for(server.url), "iter")
    assert len(server.requests) == 1


# -- the API key ----------------------------------------------------------------------------


def chain_text(exc: BaseException) -> str:
    """Everything an error shows: its traceback, and str, repr and args along the chain."""
    parts = traceback.format_exception(exc)
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        todo += [current.__cause__, current.__context__]
    return "\n".join(parts)


FAULTS: dict[str, tuple[Any, Timeout]] = {
    "not http": (raw(b"GARBAGE, NOT HTTP\r\n\r\n"), Timeout()),
    # Servers that quote the request's headers back: an echo service, a proxy's error page.
    "echoed in a status line": (raw(b"HTTP/1.1 200 " + KEY + b"\r\nX: \x00\r\n\r\n"), Timeout()),
    "echoed in garbage": (raw(b"Bearer " + KEY + b"\r\n\r\n"), Timeout()),
    "echoed in an error": (
        answer(401, [b"bad key: Bearer " + KEY + b" " + PROVIDER_KEY], content_type=None),
        Timeout(),
    ),
    "echoed in a page": (
        answer(200, [b"<pre>Bearer " + KEY + b" " + PROVIDER_KEY], content_type="text/html"),
        Timeout(),
    ),
    "reset": (reset(), Timeout()),
    "silent": (silent(), Timeout(connect=0.2, read=0.2)),
    "401": (answer(401, [b'{"error":"bad key"}'], content_type="application/json"), Timeout()),
    "503": (answer(503, [b"busy"], content_type="text/plain"), Timeout()),
    "html": (answer(200, [b"<html>"], content_type="text/html"), Timeout()),
    "cut": (answer(200, [sse(SEED[0]), b"data: {"], end="reset"), Timeout()),
    "malformed": (answer(200, [sse(b"{oops")]), Timeout()),
    "idle": (answer(200, [], end="stall"), Timeout(read=0.2)),
    "total": (answer(200, [], end="trickle"), Timeout(total=0.2)),
}


@pytest.mark.parametrize("mode", ["iter", "async_iter", "run"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_api_key_is_in_no_error(client_for: Any, mode: str, fault: str) -> None:
    behaviour, timeout = FAULTS[fault]
    secrets = Secrets(openai=PROVIDER_SECRET)  # provider keys are hidden the same way
    with (
        FaultServer(behaviour) as server,
        pytest.raises(SubstrateError) as info,
    ):
        attempt(client_for(server.url, timeout=timeout, secrets=secrets), mode)
    assert SECRET not in chain_text(info.value)
    assert PROVIDER_SECRET not in chain_text(info.value)
    assert server.requests  # the key was sent: the server saw the request


def test_the_api_key_is_in_no_error_when_nothing_listens(client_for: Any) -> None:
    with pytest.raises(TransportError) as info:
        attempt(client_for(f"http://127.0.0.1:{free_port()}"), "iter")
    assert SECRET not in chain_text(info.value)


@pytest.mark.parametrize(
    "key", [SECRET + "\n", " " + SECRET, SECRET + "\r\nX-Evil: 1", "\t" + SECRET, SECRET + "\x00"]
)
def test_a_key_with_whitespace_or_a_line_break_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    with pytest.raises(ValueError, match="API key has surrounding whitespace") as info:
        Substrate(api_key=key, base_url="http://127.0.0.1:9")
    assert SECRET not in chain_text(info.value)
    monkeypatch.setenv("SUBSTRATE_API_KEY", key.replace("\x00", "\x01"))
    with pytest.raises(ValueError, match="API key"):
        Substrate(base_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com", "http:// or https://"),
        ("127.0.0.1:8787", "http:// or https://"),
        ("api.substrate.run", "http:// or https://"),
        ("http://", "no host"),
        ("http:///compose", "no host"),
        ("http://example.com/?key=1", "no query"),
        ("http://example.com:http", "not a valid URL"),
        ("http://exa mple.com", "whitespace"),
        ("http://example.com\n", "whitespace"),
    ],
)
def test_base_url_is_checked_when_the_client_is_made(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        Substrate(api_key="k", base_url=url)
    monkeypatch.setenv("SUBSTRATE_BASE_URL", url)
    with pytest.raises(ValueError, match="base_url"):
        Substrate(api_key="k")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8787", "https://api.substrate.run/", "http://[::1]:80/v1"]
)
def test_good_base_urls_pass(url: str) -> None:
    Substrate(api_key="k", base_url=url).close()


# -- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Timeout(connect=0),
        lambda: Timeout(read=-1),
        lambda: Timeout(total=0),
        lambda: Retry(attempts=0),
        lambda: Retry(backoff=-1),
        lambda: Retry(max_wait=float("nan")),
    ],
)
def test_nonsense_configuration_is_refused(make: Any) -> None:
    with pytest.raises(ValueError, match=r"Timeout\.|Retry\."):
        make()


def test_a_run_that_succeeds_sends_one_request(client_for: Any) -> None:
    with FaultServer(ok("iter")) as server:
        events = attempt(client_for(server.url), "iter")
    assert isinstance(events, list)
    assert isinstance(events[-1], GraphResult)
    assert len(server.requests) == 1
