"""The Substrate-compatible HTTP app: ``POST /compose`` answered as a stream or as JSON.

The app holds no state between requests: every request validates its own graph and runs it on
the engine, so several processes (``rxsubstrate serve --workers N``) or several hosts behind any
load balancer serve the same API. Every answer carries an ``x-substrate-request-id`` header (the
client's own ``X-Substrate-Request-Id`` when it sent a well-formed one).

Every refusal, on every route, is ``{"type": ..., "message": ...}`` with a 4xx status, sent
before anything runs or streams (``_refusal``): a wrong ``Host`` on loopback (421) or key (401),
a body that is not ``application/json`` (415), too large (413), too slow to arrive (408), not
JSON, nested too deeply, too many values or no ``dag`` (400), a graph the engine rejects (400),
or a server already at its ``ServerLimits`` (429 with ``Retry-After``).

A run belongs to its request: when the client goes away the run is cancelled, and so are the
engine's node tasks. Serve the app with ``serve_on`` (``rxsubstrate serve`` and ``EmbeddedServer``
do): it sets ``handler_cancellation=True`` so that happens at once, and puts the connections under
the limits. Shutting the app down cancels the runs still going; its cleanup closes the engine
(whose sandbox processes evaluate jq and jinja).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import AsyncGenerator, Collection, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec
from aiohttp import web

from .._events import Event, GraphResult
from .._wire import REQUEST_ID_HEADER, STREAMING_HEADER
from ._access import check_host, check_key
from ._batch import Batch
from ._body import decode_dag
from ._connections import receive_deadline, track_requests
from ._limits import ServerLimits
from ._refusal import Refusal, json_errors

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["LIMITS", "create_app"]

# A body this small is decoded on the loop (a thread hop would cost more than the decoding), and
# is not counted against max_body_bytes (max_runs of them are a few MiB at most), so that large
# bodies trickled in can hold up other large bodies but never the usual small requests.
_SMALL_BODY: Final = 64 * 1024
_WELL_FORMED_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")

T = TypeVar("T")
LIMITS: Final = web.AppKey("rxsubstrate_limits", ServerLimits)
_RUNS: Final[web.AppKey[set[asyncio.Task[Any]]]] = web.AppKey("rxsubstrate_runs")
_log = logging.getLogger("rxsubstrate.server")
_json: Final = msgspec.json.Encoder()


def create_app(
    engine: Engine | None = None,
    *,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    allowed_hosts: Collection[str] = (),
) -> web.Application:
    """The aiohttp application serving ``POST /compose``.

    Args:
        engine: runs the graphs; default a new ``rxsubstrate.engine.Engine()``.
        api_key: when set, every request must send ``Authorization: Bearer <api_key>`` or get
            401. It is compared in constant time and never logged.
        limits: the bounds on each request and connection; default ``ServerLimits()``.
        allowed_hosts: host names a connection on a loopback address may name in ``Host``
            besides 127.0.0.1, localhost and [::1] (a reverse proxy's public name, say).

    Returns:
        The application; serve it with ``serve_on``.
    """
    if engine is None:
        from ..engine import Engine

        engine = Engine()
    limits = limits or ServerLimits()
    middlewares = [track_requests, json_errors, check_host(allowed_hosts)]
    if api_key:
        middlewares.append(check_key(api_key))
    app = web.Application(client_max_size=limits.max_body_size, middlewares=middlewares)
    app[LIMITS] = limits
    app[_RUNS] = set()
    # One thread: large bodies are decoded one at a time, beside the loop rather than on it.
    decoder = ThreadPoolExecutor(1, thread_name_prefix="rxsubstrate-decode")
    compose = _Compose(engine, limits, app[_RUNS], decoder)
    app.router.add_post("/compose", compose.handle)
    app.on_response_prepare.append(_add_request_id)
    app.on_shutdown.append(_cancel_runs)

    async def cleanup(_app: web.Application) -> None:
        decoder.shutdown(wait=False, cancel_futures=True)
        await engine.aclose()  # its sandbox processes; it can restart

    app.on_cleanup.append(cleanup)
    return app


class _Compose:
    """The ``/compose`` handler: admission, the body, validation, then the run."""

    def __init__(
        self,
        engine: Engine,
        limits: ServerLimits,
        runs: set[asyncio.Task[Any]],
        decoder: ThreadPoolExecutor,
    ) -> None:
        self._engine = engine
        self._limits = limits
        self._runs = runs
        self._decoder = decoder
        self._admitted = 0
        self._body_bytes = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        from ..engine import GraphInvalid  # the engine's import cost is paid by the app's users

        if request.content_type != "application/json":
            raise Refusal(
                415,
                "invalid_request_error",
                f"the request body must be application/json, not {request.content_type!r}",
            )
        with self._admission():
            dag = await self._read_dag(request)
            try:
                plan = await self._engine.prepare_async(dag)
            except GraphInvalid as exc:
                raise Refusal(400, "invalid_request_error", exc.message) from None
            if _wants_stream(request):
                return await self._stream(request, self._engine.execute_batches(plan))
            return await self._collect(self._engine.execute(plan))

    @contextlib.contextmanager
    def _admission(self) -> Iterator[None]:
        """Hold one of the ``max_runs`` places for the whole request, or refuse with 429."""
        if self._admitted >= self._limits.max_runs:
            raise self._busy(f"this server is handling its most requests ({self._limits.max_runs})")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def _read_dag(self, request: web.Request) -> Any:
        """The request's ``dag``: the body received by its deadline, its shape bounded, decoded.

        Raises:
            Refusal: the 4xx answer refusing the request.
        """
        limits = self._limits
        size = request.content_length
        if size is not None and size > limits.max_body_size:
            raise _too_large(limits)
        reserved = limits.max_body_size if size is None else size
        if reserved <= _SMALL_BODY:
            reserved = 0
        elif self._body_bytes + reserved > limits.max_body_bytes:
            raise self._busy("this server is receiving as many large bodies as it holds at once")
        self._body_bytes += reserved
        try:
            body = await self._receive(request)
            if len(body) <= _SMALL_BODY:
                return decode_dag(body, limits)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._decoder, decode_dag, body, limits)
        finally:
            self._body_bytes -= reserved

    async def _receive(self, request: web.Request) -> bytes:
        deadline = receive_deadline(request, self._limits.receive_timeout)
        try:
            async with asyncio.timeout_at(deadline):
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(self._limits) from None
        except TimeoutError:
            raise Refusal(
                408,
                "invalid_request_error",
                f"the request did not arrive within {self._limits.receive_timeout:g} s",
                close=True,
            ) from None

    def _busy(self, why: str) -> Refusal:
        retry_after = self._limits.retry_after
        return Refusal(
            429,
            "rate_limit_error",
            f"{why}; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )

    async def _collect(self, events: AsyncGenerator[Event, None]) -> web.Response:
        """Run to the end and answer the graph result as JSON (the non-streaming API)."""
        run = self._start(_last_graph_result(events))
        try:
            result = await run
        except asyncio.CancelledError:
            if _cancelling():
                raise
            raise Refusal(503, "api_error", "the server is shutting down") from None
        except Exception:  # an engine bug: logged, and answered as JSON like every error
            _log.exception("the engine failed")
            raise Refusal(500, "api_error", "the engine failed") from None
        if result is None:
            raise Refusal(500, "api_error", "the run ended without a graph result")
        return web.Response(body=_json.encode(result.data), content_type="application/json")

    async def _stream(
        self, request: web.Request, events: AsyncGenerator[list[Event], None]
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
        batch = Batch()
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


def _too_large(limits: ServerLimits) -> Refusal:
    return Refusal(
        413, "invalid_request_error", f"the request body exceeds {limits.max_body_size} bytes"
    )


async def _last_graph_result(events: AsyncGenerator[Event, None]) -> GraphResult | None:
    result = None
    try:
        async for event in events:
            if isinstance(event, GraphResult):
                result = event
    finally:
        await events.aclose()  # cancels the run's node tasks
    return result


def _wants_stream(request: web.Request) -> bool:
    return (
        "text/event-stream" in request.headers.get("Accept", "")
        or request.headers.get(STREAMING_HEADER, "") == "1"
    )


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = sent if _WELL_FORMED_ID.fullmatch(sent) else uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id


async def _cancel_runs(app: web.Application) -> None:
    running: set[asyncio.Task[Any]] = app[_RUNS]
    runs = list(running)
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
