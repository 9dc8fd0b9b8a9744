"""The Substrate-compatible HTTP app: ``POST /compose`` answered as a stream or as JSON.

The app holds no state between requests: every request validates its own graph and runs it on
the engine, so several processes (``rxsubstrate serve --workers N``) or several hosts behind any
load balancer serve the same API. Every answer carries an ``x-substrate-request-id`` header (the
client's own ``X-Substrate-Request-Id`` when it sent a well-formed one).

A bad request (bad key, body too large, not JSON, no ``dag``, a graph the engine rejects) is
answered ``{"type": ..., "message": ...}`` with a 4xx status before anything runs or streams.

A run belongs to its request: when the client goes away the run is cancelled, and so are the
engine's node tasks. Run the app with ``handler_cancellation=True`` (``rxsubstrate serve`` and
``EmbeddedServer`` do) so that happens at once; otherwise a streamed run stops at its next
write, and a JSON run goes on to its end. Shutting the app down cancels the runs still going;
its cleanup closes the engine (whose sandbox processes evaluate jq and jinja).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec
from aiohttp import web

from .._events import Event, GraphResult, encode_event
from .._sse import encode_sse

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["DEFAULT_MAX_BODY_SIZE", "DEFAULT_MAX_NODES", "create_app"]

DEFAULT_MAX_BODY_SIZE: Final = 8 * 1024 * 1024
DEFAULT_MAX_NODES: Final = 1000
# How _Batch coalesces a fast run's events into writes (seconds, bytes, bytes).
_WINDOW: Final = 0.001
_FLUSH_SIZE: Final = 64 * 1024
_MAX_PENDING: Final = 256 * 1024
_REQUEST_ID_HEADER: Final = "x-substrate-request-id"
_WELL_FORMED_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")

T = TypeVar("T")
_RUNS: Final[web.AppKey[set[asyncio.Task[Any]]]] = web.AppKey("rxsubstrate_runs")
_log = logging.getLogger("rxsubstrate.server")
_json: Final = msgspec.json.Encoder()


def create_app(
    engine: Engine | None = None,
    *,
    api_key: str | None = None,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> web.Application:
    """The aiohttp application serving ``POST /compose``.

    Args:
        engine: runs the graphs; default a new ``rxsubstrate.engine.Engine()``.
        api_key: when set, every request must send ``Authorization: Bearer <api_key>`` or get
            401. It is compared in constant time and never logged.
        max_body_size: the largest request body, in bytes (larger gets 413).
        max_nodes: the most nodes one graph may have (more gets 400).

    Returns:
        The application; run it with ``web.AppRunner(app, handler_cancellation=True)``.
    """
    if engine is None:
        from ..engine import Engine

        engine = Engine()
    app = web.Application(client_max_size=max_body_size)
    app[_RUNS] = set()
    compose = _Compose(engine, api_key, max_body_size, max_nodes, app[_RUNS])
    app.router.add_post("/compose", compose.handle)
    app.on_response_prepare.append(_add_request_id)
    app.on_shutdown.append(_cancel_runs)
    app.on_cleanup.append(lambda _app: engine.aclose())  # its sandbox processes; it can restart
    return app


class _Compose:
    """The ``/compose`` handler and its configuration."""

    def __init__(
        self,
        engine: Engine,
        api_key: str | None,
        max_body_size: int,
        max_nodes: int,
        runs: set[asyncio.Task[Any]],
    ) -> None:
        self._engine = engine
        self._expected_auth = f"Bearer {api_key}".encode() if api_key else None
        self._max_body_size = max_body_size
        self._max_nodes = max_nodes
        self._runs = runs

    async def handle(self, request: web.Request) -> web.StreamResponse:
        from ..engine import GraphInvalid  # the engine's import cost is paid by the app's users

        try:
            self._check_auth(request)
            dag = await self._read_dag(request)
            try:
                plan = await self._engine.prepare_async(dag)
            except GraphInvalid as exc:
                raise _Refusal(400, "invalid_request_error", exc.message) from None
            events = self._engine.execute(plan)
            if _wants_stream(request):
                return await self._stream(request, events)
            return await self._collect(events)
        except _Refusal as refusal:
            return refusal.response()

    def _check_auth(self, request: web.Request) -> None:
        if self._expected_auth is None:
            return
        sent = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(sent, self._expected_auth):
            raise _Refusal(401, "authentication_error", "missing or invalid API key")

    async def _read_dag(self, request: web.Request) -> Any:
        """The request's ``dag``.

        Raises:
            _Refusal: the 4xx answer refusing the request.
        """
        too_large = _Refusal(
            413,
            "invalid_request_error",
            f"the request body exceeds {self._max_body_size} bytes",
        )
        if request.content_length is not None and request.content_length > self._max_body_size:
            raise too_large
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise too_large from None
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise _Refusal(
                400, "invalid_request_error", f"the request body is not JSON: {exc}"
            ) from None
        if not isinstance(payload, dict) or "dag" not in payload:
            raise _Refusal(
                400,
                "invalid_request_error",
                'the request body must be {"dag": {...}}',
            )
        dag = payload["dag"]
        nodes = dag.get("nodes") if isinstance(dag, dict) else None
        if isinstance(nodes, list) and len(nodes) > self._max_nodes:
            raise _Refusal(
                400,
                "invalid_request_error",
                f"the graph has {len(nodes)} nodes; this server runs at most {self._max_nodes}",
            )
        return dag

    async def _collect(self, events: AsyncIterator[Event]) -> web.Response:
        """Run to the end and answer the graph result as JSON (the non-streaming API)."""
        run = self._start(_last_graph_result(events))
        try:
            result = await run
        except asyncio.CancelledError:
            if _cancelling():
                raise
            raise _Refusal(503, "api_error", "the server is shutting down") from None
        except Exception:  # an engine bug: logged, and answered as JSON like every error
            _log.exception("the engine failed")
            raise _Refusal(500, "api_error", "the engine failed") from None
        if result is None:
            raise _Refusal(500, "api_error", "the run ended without a graph result")
        return web.Response(body=_json.encode(result.data), content_type="application/json")

    async def _stream(
        self, request: web.Request, events: AsyncIterator[Event]
    ) -> web.StreamResponse:
        """Write the run's events as SSE, many to a write when the engine has many ready.

        A stream that ends without ``graph.result`` (shutdown, an engine failure) is what the
        client reports as an interrupted stream.
        """
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        batch = _Batch()
        run = self._start(batch.fill(events))
        run.add_done_callback(batch.finish)
        try:
            while chunk := await batch.take():
                await response.write(chunk)
        except ConnectionError:
            _log.debug("the client went away; its run is cancelled")
        finally:
            run.cancel()
            (outcome,) = await asyncio.gather(run, return_exceptions=True)
        if isinstance(outcome, Exception):
            _log.error("the engine failed", exc_info=outcome)
        return response

    def _start(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task that shutdown can cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return task


class _Batch:
    """SSE bytes handed from the run to the response writer, coalesced into few writes.

    A run can make many thousands of events a second, and the engine hands them over one loop
    turn apart, so waking the writer per event would cost a loop turn and a ``send`` each. The
    writer sends the first event of a burst at once, then at most one write per ``_WINDOW``
    seconds (sooner when ``_FLUSH_SIZE`` bytes wait): everything made meanwhile goes in one
    write. The run pauses while ``_MAX_PENDING`` bytes wait for a slow client.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._done = False
        self._last_write = -_WINDOW
        self._wakeup: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._room.set()

    async def fill(self, events: AsyncIterator[Event]) -> None:
        """Producer: encode every event; the run's task."""
        try:
            async for event in events:
                data = encode_sse(encode_event(event))
                self._chunks.append(data)
                self._size += len(data)
                if len(self._chunks) == 1 or self._size >= _FLUSH_SIZE:
                    self._wake()
                if self._size >= _MAX_PENDING:
                    self._room.clear()
                    await self._room.wait()
        finally:
            await _aclose(events)

    def finish(self, _run: object = None) -> None:
        """The run is over (done, failed or cancelled, even before it started)."""
        self._done = True
        self._wake()

    async def take(self) -> bytes:
        """Consumer: everything encoded since the last take; empty once the run is over."""
        loop = asyncio.get_running_loop()
        while not self._done and self._size < _FLUSH_SIZE:
            delay = None
            if self._chunks:
                delay = self._last_write + _WINDOW - loop.time()
                if delay <= 0:
                    break
            self._wakeup = loop.create_future()
            timer = loop.call_later(delay, self._wake) if delay is not None else None
            try:
                await self._wakeup
            finally:
                self._wakeup = None
                if timer is not None:
                    timer.cancel()
        chunk = b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._room.set()
        self._last_write = loop.time()
        return chunk

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)


async def _last_graph_result(events: AsyncIterator[Event]) -> GraphResult | None:
    result = None
    try:
        async for event in events:
            if isinstance(event, GraphResult):
                result = event
    finally:
        await _aclose(events)
    return result


async def _aclose(events: AsyncIterator[Event]) -> None:
    """Close the engine's event generator, which cancels the run's node tasks."""
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()


def _wants_stream(request: web.Request) -> bool:
    return (
        "text/event-stream" in request.headers.get("Accept", "")
        or request.headers.get("X-Substrate-Streaming", "") == "1"
    )


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Refusal(Exception):
    """A request refused with ``status`` and a JSON ``{"type": ..., "message": ...}`` body."""

    def __init__(self, status: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message

    def response(self) -> web.Response:
        body = _json.encode({"type": self.type, "message": self.message})
        return web.Response(status=self.status, body=body, content_type="application/json")


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    sent = request.headers.get(_REQUEST_ID_HEADER, "")
    request_id = sent if _WELL_FORMED_ID.fullmatch(sent) else uuid.uuid4().hex
    response.headers[_REQUEST_ID_HEADER] = request_id


async def _cancel_runs(app: web.Application) -> None:
    running: set[asyncio.Task[Any]] = app[_RUNS]
    runs = list(running)
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
