"""The ``rxsubstrate`` logger: debug lines for requests, retries and cancellations (saying who
cancelled), no key in any of them, and no handler but a NullHandler."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from rxsubstrate import Retry, Secrets, StreamInterrupted, Substrate, iterate, ops
from tests.fault_server import FaultServer, answer
from tests.replay_server import ReplayServer, Reply, seed_events, sse

DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
SECRET = "sk-very-secret-key"
PROVIDER = "sk-openai-provider-key"
PASSWORD = "hunter2-password"
SEED = sse(*(msgspec.json.encode(e) for e in seed_events()))
FIRST = sse(msgspec.json.encode(seed_events()[0]))


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="rxsubstrate")
    yield caplog
    for record in caplog.records:
        shown = record.getMessage() + repr(record.args)
        for secret in (SECRET, PROVIDER, PASSWORD):
            assert secret not in shown, record.getMessage()


def lines(log: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in log.records if r.name.startswith("rxsubstrate")]


def client(url: str, **kwargs: Any) -> Substrate:
    return Substrate(api_key=SECRET, base_url=url, secrets=Secrets(openai=PROVIDER), **kwargs)


def test_a_request_logs_its_url_status_and_request_id(log: pytest.LogCaptureFixture) -> None:
    headers = {"Content-Type": "text/event-stream", "x-substrate-request-id": "req-42"}
    with ReplayServer(Reply([SEED], headers=headers)) as server, client(server.url) as substrate:
        assert len(list(substrate.stream(DAG).iter())) == len(seed_events())
    url = f"{server.url}/compose"
    assert f"POST {url} (attempt 1)" in lines(log)
    assert f"POST {url} -> 200 text/event-stream (request id req-42)" in lines(log)
    assert f"POST {url}: the stream ended after 6 event(s)" in lines(log)
    assert {r.name for r in log.records} <= {"rxsubstrate.transport", "rxsubstrate.client"}


def test_a_retry_is_logged_with_its_reason(log: pytest.LogCaptureFixture) -> None:
    unavailable = answer(503, [b'{"message": "busy"}'], content_type="application/json")
    with (
        FaultServer(unavailable, answer(200, [SEED])) as server,
        client(server.url, retry=Retry(backoff=0.01)) as substrate,
    ):
        list(substrate.stream(DAG).iter())
    url = f"{server.url}/compose"
    assert f"POST {url} -> 503 application/json (request id None)" in lines(log)
    retry = [line for line in lines(log) if "retrying in" in line]
    assert len(retry) == 1
    assert retry[0].startswith(f"POST {url}: retrying in ")
    assert retry[0].endswith("(attempt 2): HTTP 503: busy")


def test_each_way_to_cancel_a_run_says_who_cancelled(log: pytest.LogCaptureFixture) -> None:
    with ReplayServer(Reply([FIRST], trickle=True)) as server, client(server.url) as substrate:
        got_one = threading.Event()
        subscription = substrate.stream(DAG).subscribe(lambda _: got_one.set())
        assert got_one.wait(10)
        subscription.dispose()

        events = substrate.stream(DAG).iter()
        next(events)
        events.close()  # what `break` does

        for _ in iterate(substrate.stream(DAG).pipe(ops.for_node("a"))):
            break

        async def async_break() -> None:
            async for _ in substrate.stream(DAG).async_iter():
                break

        asyncio.run(async_break())

        still_going = substrate.stream(DAG).iter()
        next(still_going)
        substrate.close()
    said = lines(log)
    for who in (
        "cancelling a run: its subscription was disposed",
        "cancelling a run: its iterator was closed (break, close() or dropped)",
        "iterate()'s consumer (break, close() or dropped) left its iteration before the end:"
        " its subscription is disposed",
        "cancelling a run: its async iterator was closed or its task cancelled",
        "cancelling a run: the client was closed",
    ):
        assert who in said, f"{who!r} not logged"
    closed = [line for line in said if "the client closed the stream after" in line]
    assert len(closed) >= 4  # the transport's side of each


def test_a_password_in_the_url_is_not_logged(log: pytest.LogCaptureFixture) -> None:
    with ReplayServer(Reply([SEED])) as server:
        url = server.url.replace("http://", f"http://user:{PASSWORD}@")
        with Substrate(base_url=url) as substrate:
            list(substrate.stream(DAG).iter())
    assert f"POST http://***@{server.url[7:]}/compose (attempt 1)" in lines(log)


def test_a_failure_is_logged_in_rxsubstrates_words(log: pytest.LogCaptureFixture) -> None:
    with ReplayServer(Reply([FIRST], cut=True)) as server, client(server.url) as substrate:
        events = substrate.stream(DAG).iter()
        with pytest.raises(StreamInterrupted, match=r"stream ended before graph\.result"):
            list(events)
    failed = f"POST {server.url}/compose failed after 1 event(s): stream ended before graph.result"
    assert any(line.startswith(failed) for line in lines(log))


def test_the_library_adds_no_handler_but_a_null_one() -> None:
    top = logging.getLogger("rxsubstrate")
    assert [type(h) for h in top.handlers] == [logging.NullHandler]
    assert top.propagate
    for name in ("rxsubstrate.transport", "rxsubstrate.client", "rxsubstrate.ops"):
        assert logging.getLogger(name).handlers == []
