"""``rxsubstrate.web`` behind real servers on loopback (uvicorn for FastAPI, aiohttp's own), read
as a browser's ``EventSource`` reads it: with ``tests/sse_reference.py``, the WHATWG rules.

Also which endpoint forms end the upstream run when the browser leaves: every one of them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from rxsubstrate import ComputeText, GraphResult, Substrate
from rxsubstrate._events import decode_event
from rxsubstrate.engine import Engine
from rxsubstrate.web import aiohttp_sse_response, sse_body, sse_response
from tests.aiohttp_server import serve_aiohttp_on_loopback
from tests.proxies import EXAMPLES, PROXIES, CountedRuns, graph_result_text, proxy_example
from tests.replay_server import ReplayServer, Reply, seed_events, sse
from tests.server.conftest import Hang
from tests.sse_reference import parse
from tests.uvicorn_server import serve_on_loopback
from tests.wire import graph, node

TIMEOUT = 10.0


@pytest.fixture
def counted() -> CountedRuns:
    return CountedRuns()


@pytest.fixture
def substrate(counted: CountedRuns) -> Iterator[Substrate]:
    with Substrate(engine=Engine(text_generator=counted)) as client:
        yield client


async def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, headers=headers) as reply,
    ):
        return reply.status, dict(reply.headers), await reply.read()


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and the whole body of a GET."""
    return asyncio.run(_get(url, headers))


def read_by_a_browser(body: bytes) -> list[tuple[str, str, bytes]]:
    """(type, last id, data) of every event a browser dispatches from ``body``."""
    parsed = parse(body, 1 << 30)
    assert not parsed.pending
    return [(e.event, e.id, e.data) for e in parsed.events]


# -- What a browser gets --------------------------------------------------------------------


@pytest.mark.parametrize("name", PROXIES)
def test_a_text_node_is_sent_as_plain_chunks_with_ids_then_the_end(
    name: str, substrate: Substrate
) -> None:
    with proxy_example(name, substrate) as (proxy, url):
        status, headers, body = get(f"{url}/story?prompt=windmills")
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache"
    events = read_by_a_browser(body)
    *chunks, last = events
    assert last == ("end", str(len(events)), b"{}")
    assert [(kind, key) for kind, key, _ in chunks] == [
        ("message", str(i)) for i in range(1, len(events))
    ]
    text = b"".join(data for _, _, data in chunks).decode()
    assert text == graph_result_text(substrate, proxy.story_node("windmills"))


def test_events_are_sent_as_their_json_then_the_end_after_graph_result(
    substrate: Substrate,
) -> None:
    wire_graph = ComputeText(prompt="windmills", max_tokens=8)
    app = FastAPI()

    @app.get("/events")
    async def events(request: Request) -> Response:
        return sse_response(request, substrate.stream(wire_graph), ids=False, retry=5000)

    with serve_on_loopback(app) as url:
        _, _, body = get(f"{url}/events")
    parsed = parse(body, 1 << 30).events
    assert [decode_event(e.data) for e in parsed[:-1]] == list(substrate.stream(wire_graph).iter())
    assert isinstance(decode_event(parsed[-2].data), GraphResult)
    assert (parsed[-1].event, parsed[-1].data) == ("end", b"{}")
    assert {(e.id, e.retry) for e in parsed} == {("", 5000)}


@pytest.mark.parametrize("name", PROXIES)
def test_a_reconnecting_browser_gets_204_and_no_run(
    name: str, substrate: Substrate, counted: CountedRuns
) -> None:
    with proxy_example(name, substrate) as (_, url):
        status, _, body = get(f"{url}/story", **{"Last-Event-ID": "7"})
        assert (status, body, counted.runs) == (204, b"", 0)
        status, _, _ = get(f"{url}/story")
    assert (status, counted.runs) == (200, 1)


def test_a_failed_run_ends_with_the_end_event_naming_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = sse(msgspec.json.encode(seed_events()[0]))
    app = FastAPI()
    with (
        ReplayServer(Reply([first], cut=True)) as upstream,  # cut after one event
        Substrate(api_key="key", base_url=upstream.url) as client,
    ):

        @app.get("/story")
        async def story(request: Request) -> Response:
            return sse_response(request, client.stream(graph()), text="a")

        with serve_on_loopback(app) as url, caplog.at_level(logging.WARNING, "rxsubstrate.web"):
            _, _, body = get(f"{url}/story")
    assert read_by_a_browser(body) == [
        ("message", "1", b"Windmills "),
        ("end", "2", b'{"error":"StreamInterrupted"}'),
    ]
    (record,) = caplog.records
    assert record.exc_info is not None
    assert type(record.exc_info[1]).__name__ == "StreamInterrupted"


def test_a_failed_text_node_ends_with_node_failed() -> None:
    engine = Engine()

    @engine.node("Broken")
    async def broken(args: dict[str, Any], context: object) -> AsyncIterator[dict[str, Any]]:
        yield {"text": "half a "}
        raise RuntimeError("the model fell over")

    app = FastAPI()
    with Substrate(engine=engine) as client:

        @app.get("/story")
        async def story(request: Request) -> Response:
            return sse_response(request, client.stream(graph(node("b", "Broken", x=1))), text="b")

        with serve_on_loopback(app) as url:
            _, _, body = get(f"{url}/story")
    assert read_by_a_browser(body) == [
        ("message", "1", b"half a "),
        ("end", "2", b'{"error":"NodeFailed"}'),
    ]


def test_silence_is_filled_with_comments_a_browser_ignores() -> None:
    hang = Hang(threading.Event)
    engine = Engine()
    engine.register("Hang", hang)
    app = web.Application()

    async def story(request: web.Request) -> web.StreamResponse:
        run = client.stream(graph(node("h", "Hang", x=1)))
        return await aiohttp_sse_response(request, run, text="h", ping=0.01)

    first, ping = b"id: 1\ndata: first\n\n", b": ping\n\n"

    async def read_two_pings(url: str) -> bytes:
        """The stream up to two pings after the first event (a busy machine may ping before
        it too)."""
        async with aiohttp.ClientSession() as session, session.get(f"{url}/story") as reply:
            seen = b""
            while first not in seen or seen.split(first, 1)[1].count(ping) < 2:
                seen += await asyncio.wait_for(reply.content.readany(), TIMEOUT)
            return seen

    app.router.add_get("/story", story)
    with Substrate(engine=engine) as client, serve_aiohttp_on_loopback(app) as url:
        seen = asyncio.run(read_two_pings(url))
        assert hang.cancelled.wait(TIMEOUT)
    before, after = seen.split(first, 1)
    assert before.replace(ping, b"") == b""  # nothing but pings around the one event
    assert after.replace(ping, b"") == b""
    assert [e.data for e in parse(seen, 1 << 30).events] == [b"first"]


@pytest.mark.parametrize(
    "options",
    [{"ping": 0}, {"ping": -1}, {"end": "two\nlines"}, {"retry": -5}, {"choice": -1}],
)
def test_options_out_of_range_are_refused_before_anything_runs(
    options: dict[str, Any], substrate: Substrate, counted: CountedRuns
) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        sse_body(substrate.stream(ComputeText(prompt="x")), text="x", **options)
    assert counted.runs == 0


def test_import_rxsubstrate_imports_no_web_framework() -> None:
    program = (
        "import sys, rxsubstrate; before = set(sys.modules); import rxsubstrate.web;"
        " frameworks = ('starlette', 'fastapi', 'uvicorn', 'aiohttp.web');"
        " print(sorted(m for m in sys.modules if m.startswith(frameworks)),"
        " 'rxsubstrate.web' in before)"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[] False", done.stderr


@pytest.mark.parametrize("name", PROXIES)
async def test_the_proxy_example_runs_with_one_command_and_stops_on_ctrl_c(name: str) -> None:
    script = EXAMPLES / f"{name}.py"
    command = [sys.executable, str(script), "--port", "0", "--chunk-delay", "0"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), TIMEOUT)
        url = first.decode().split()[1].rstrip("/")
        page = await _get(f"{url}/", {})
        story = await _get(f"{url}/story?prompt=tides", {})
        process.send_signal(signal.SIGINT)
        _, errors = await asyncio.wait_for(process.communicate(), TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert errors == b""  # nothing at exit: no traceback, no warning
    assert page[0] == 200
    assert b"new EventSource(" in page[2]
    assert b'addEventListener("end"' in page[2]
    events = read_by_a_browser(story[2])
    assert events[-1] == ("end", str(len(events)), b"{}")
    assert len(events) > 2


# -- Which endpoint forms end the run when the browser leaves: all of them -------------------


def _fastapi(endpoint: Callable[[Any, Request], Any]) -> FastAPI:
    app = FastAPI()
    app.get("/story")(endpoint)
    return app


def _announcement(client: Substrate) -> FastAPI:
    def story(request: Request) -> StreamingResponse:  # a sync endpoint, as announced
        stream = client.stream(graph(node("h", "Hang", x=1)))
        return StreamingResponse(stream.iter_events(), media_type="text/event-stream")

    return _fastapi(story)


def _async_iter_events(client: Substrate) -> FastAPI:
    async def story(request: Request) -> StreamingResponse:
        stream = client.stream(graph(node("h", "Hang", x=1)))
        return StreamingResponse(stream.async_iter_events(), media_type="text/event-stream")

    return _fastapi(story)


def _sse_response_sync(client: Substrate) -> FastAPI:
    def story(request: Request) -> Response:
        return sse_response(request, client.stream(graph(node("h", "Hang", x=1))), ping=None)

    return _fastapi(story)


def _sse_response_async(client: Substrate) -> FastAPI:
    async def story(request: Request) -> Response:
        return sse_response(request, client.stream(graph(node("h", "Hang", x=1))), ping=None)

    return _fastapi(story)


def _aiohttp(client: Substrate, ping: float | None) -> web.Application:
    async def story(request: web.Request) -> web.StreamResponse:
        stream = client.stream(graph(node("h", "Hang", x=1)))
        return await aiohttp_sse_response(request, stream, ping=ping)

    app = web.Application()
    app.router.add_get("/story", story)
    return app


SERVED: dict[str, Callable[[Substrate], AbstractContextManager[str]]] = {
    "def, StreamingResponse(iter_events())": lambda c: serve_on_loopback(_announcement(c)),
    "async def, StreamingResponse(async_iter_events())": lambda c: serve_on_loopback(
        _async_iter_events(c)
    ),
    "def, sse_response()": lambda c: serve_on_loopback(_sse_response_sync(c)),
    "async def, sse_response()": lambda c: serve_on_loopback(_sse_response_async(c)),
    "aiohttp_sse_response(), handler_cancellation": lambda c: serve_aiohttp_on_loopback(
        _aiohttp(c, None), handler_cancellation=True
    ),
    "aiohttp_sse_response(), the next ping": lambda c: serve_aiohttp_on_loopback(_aiohttp(c, 0.01)),
}


@pytest.mark.parametrize("form", SERVED)
def test_the_run_ends_when_the_browser_leaves(form: str) -> None:
    hang = Hang(threading.Event)  # one delta, then silence until cancelled
    engine = Engine()
    engine.register("Hang", hang)

    async def read_the_first_event_and_leave(url: str) -> bytes:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/story") as reply:
            seen = b""
            while b"first" not in seen:
                seen += await asyncio.wait_for(reply.content.readany(), TIMEOUT)
            return seen

    with Substrate(engine=engine) as client, SERVED[form](client) as url:
        assert b"first" in asyncio.run(read_the_first_event_and_leave(url))
        assert hang.cancelled.wait(TIMEOUT), "the upstream run went on after the browser left"
