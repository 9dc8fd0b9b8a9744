"""HTTP transport: ``POST {base_url}/compose`` over aiohttp, bytes -> SSE -> typed events.

aiohttp's exceptions are translated to rxsubstrate's in one place, ``_translated``, used by
``_request_errors`` and ``_stream_errors`` (which differ only in how they name a connection
broken mid-answer). A session belongs to the loop it was made on: each loop the client owns (its
loop thread's, the loops ``iter()`` drives) keeps one, whose connections its runs share; a
request on any other loop (the async API's) has a session of its own.

Every wait on the server is timed here, by the run's ``_Clock``: aiohttp itself times only the
connecting. A request that fails before the server answered is sent again as ``Retry`` allows
(``_retry``); once an answer is being read, nothing is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import platform
import random
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any, Final, TypeVar, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import msgspec
from aiohttp.http_exceptions import HttpProcessingError

from ._config import Limits, Retry, Timeout
from ._error_body import ERROR_BODY_LIMIT, error_message
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ConnectError,
    ConnectTimeout,
    ProtocolError,
    RateLimited,
    ReadTimeout,
    RunTimeout,
    ServerError,
    StreamInterrupted,
    SubstrateError,
    TransportError,
    UnexpectedContentType,
)
from ._event_stream import READ_SIZE, Progress, Tap, read_events
from ._events import Event
from ._retry import parse_retry_after, retry_wait
from ._version import __version__
from ._wire import REQUEST_ID_HEADER, STREAMING_HEADER

__all__ = ["Transport"]

T = TypeVar("T")
_log = logging.getLogger("rxsubstrate.transport")
USER_AGENT: Final = (
    f"rxsubstrate/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)
_json_encoder: Final = msgspec.json.Encoder()
_EVENT_STREAM: Final = "text/event-stream"
_JSON: Final = "application/json"
# An error body is read for its message only: ERROR_BODY_LIMIT at most, for this long at most.
_UNEXPECTED_BODY_LIMIT: Final = 1024
_MESSAGE_WAIT: Final = 10.0
# aiohttp stops reading a connection's socket while twice this much waits unread (its default,
# 64 KiB, holds up to 128 KiB): four of read_events' reads ahead keep one stream fed, and many
# runs at once each hold half as much (TCP keeps the rest at the server).
_READ_BUFSIZE: Final = 2 * READ_SIZE


class _Clock:
    """A run's deadlines: each wait on the server is bounded by its own timeout and the total.

    Waits are timed one by one, never across a ``yield`` to the consumer, so a slow consumer
    neither counts as an idle server nor gets a timeout raised into its own code.
    """

    __slots__ = ("_deadline", "_loop", "_progress", "_started", "timeout")

    def __init__(self, timeout: Timeout, progress: Progress) -> None:
        self.timeout = timeout
        self._progress = progress
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._deadline = None if timeout.total is None else self._started + timeout.total

    def elapsed(self) -> float:
        return self._loop.time() - self._started

    def remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - self._loop.time()

    def check_total(self) -> None:
        """Raise ``RunTimeout`` past the total deadline: for a stream that never makes the
        client wait (the server always ahead of a slow consumer)."""
        if self._deadline is not None and self._loop.time() >= self._deadline:
            raise self._run_timeout()

    def _run_timeout(self) -> RunTimeout:
        assert self.timeout.total is not None
        return RunTimeout(self.timeout.total, self._progress.events)

    async def within(
        self,
        start: Callable[[], Awaitable[T]],
        seconds: float | None,
        timed_out: Callable[[], TransportError],
    ) -> T:
        """Await ``start()`` for ``seconds`` at most (then ``timed_out()``), and no longer than
        the total allows (then ``RunTimeout``).

        ``start`` is called where its result is awaited: a coroutine made earlier and then
        interrupted before its first step (a Ctrl-C lands anywhere when ``iter()`` drives the
        loop on the main thread) would print "coroutine ... was never awaited" at exit.
        """
        deadline = self._deadline
        if seconds is None and deadline is None:
            return await start()
        own = None if seconds is None else self._loop.time() + seconds
        total_first = own is None or (deadline is not None and deadline <= own)
        scope = asyncio.timeout_at(deadline if total_first else own)
        try:
            async with scope:
                return await start()
        except TimeoutError:
            if not scope.expired():
                raise
            raise (self._run_timeout() if total_first else timed_out()) from None

    def read_timeout(self) -> ReadTimeout:
        return ReadTimeout(
            f"the server sent nothing for Timeout.read={self.timeout.read:g} s"
            f" ({self._progress.events} event(s) so far)"
        )

    def connect_timeout(self) -> ConnectTimeout:
        return ConnectTimeout(
            f"no answer from the server (response headers) within"
            f" Timeout.connect={self.timeout.connect:g} s"
        )


class _Body:
    """The answer's body; each read waits no longer than ``Timeout.read`` and the total."""

    __slots__ = ("_clock", "_content", "request_id")

    def __init__(self, response: aiohttp.ClientResponse, clock: _Clock) -> None:
        self._content = response.content
        self._clock = clock
        self.request_id = response.headers.get(REQUEST_ID_HEADER)

    async def read(self, n: int) -> bytes:
        # Bytes already buffered are no wait: only an empty buffer starts a timer (the hot path
        # of a fast stream then costs no timer per read).
        if chunk := self._content.read_nowait(n):
            self._clock.check_total()
            return chunk
        clock = self._clock
        return await clock.within(
            partial(self._content.read, n), clock.timeout.read, clock.read_timeout
        )

    async def read_all(self) -> bytes:
        chunks = []
        while chunk := await self.read(READ_SIZE):
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_prefix(self, limit: int) -> bytes:
        """Up to ``limit`` bytes, or what arrived within ``Timeout.read`` (10 s at most): the
        body of an error, read for its message."""
        data = bytearray()
        wait = min(_MESSAGE_WAIT, self._clock.timeout.read or _MESSAGE_WAIT)
        # Best effort on purpose: the status or content type is the error; a body cut short or
        # slow only shortens its message.
        with contextlib.suppress(TimeoutError, aiohttp.ClientError):
            async with asyncio.timeout(wait):
                while len(data) < limit and (chunk := await self.read(limit - len(data))):
                    data += chunk
        return bytes(data)


class Transport:
    """Sends dags to one server and reads its answers; owns the aiohttp sessions it opens."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: Timeout,
        limits: Limits,
        retry: Retry,
        *,
        is_home: Callable[[asyncio.AbstractEventLoop], bool] = lambda _: False,
        extra_headers: dict[str, str] | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._shown_url = _without_userinfo(f"{self.base_url}/compose")  # for log lines
        self.limits = limits
        self.timeout = timeout
        self.retry = retry
        # aiohttp times the connecting only (ConnectionTimeoutError); _Clock times the rest.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout.connect)
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        headers.update(extra_headers or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Never shown in an error: the key, the provider keys among the extra headers, and a
        # password in the URL (aiohttp sends it as Basic credentials).
        self._secrets = tuple(s for s in (api_key, *secrets, *_url_secrets(base_url)) if s)
        self._headers = headers
        self._is_home = is_home
        self._sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The running loop's shared session if ``is_home(loop)``, else one of this request's own.

        The client's own loops (``is_home``) keep one long-lived session each, with its pooled
        connections, closed by ``aclose()`` on that loop. A session belongs to the loop it was
        made on and must be closed there; on a caller's loop (``asyncio.run`` and friends)
        nobody would close a cached one, so each request owns its session, as the official SDK
        does with its httpx clients.
        """
        loop = asyncio.get_running_loop()
        if self._is_home(loop):
            session = self._sessions.get(loop)
            if session is None or session.closed:
                session = self._sessions[loop] = self._new_session()
            else:
                # A loop that ran only while its iterator waited has not yet seen a server close
                # an idle connection: one turn shows it, before a pooled connection is taken.
                await asyncio.sleep(0)
            yield session
        else:
            async with self._new_session() as own:
                yield own

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            timeout=self._timeout, headers=self._headers, read_bufsize=_READ_BUFSIZE
        )

    async def aclose(self) -> None:
        """Close the running loop's shared session, if it has one."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    async def post_json(self, dag: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Run a dag without streaming; return the response JSON and the request id."""
        progress = Progress()
        with _request_errors(progress, self._secrets):
            async with self._answer(dag, _JSON, progress) as body:
                payload = await body.read_all()
        try:
            decoded = msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise ProtocolError(f"the server's JSON answer is malformed: {exc}") from None
        if not isinstance(decoded, dict):
            raise ProtocolError("the server's JSON answer is not an object")
        return decoded, body.request_id

    def stream_batches(
        self, dag: dict[str, Any], tap: Tap | None = None
    ) -> AsyncGenerator[list[Event], None]:
        """Stream a run: its events in batches, one batch per network read (``read_events``).

        The last event yielded is the ``GraphResult``; anything the server sends after it is
        ignored, malformed or not. Every well-formed event before a malformed or oversized one
        is yielded before the error is raised. Close the generator (``aclose``) to cancel the
        request. Failures before the server answered are retried as ``Retry`` allows; none
        after.

        Args:
            dag: the graph to run.
            tap: given each read's event data as it came (a recording).

        Raises:
            APIStatusError: a non-2xx answer, with the server's message.
            StreamInterrupted: the stream ended before ``graph.result``.
            ProtocolError: the bytes are not a valid event stream.
            ConnectError, ConnectTimeout, ReadTimeout, RunTimeout, TransportError: the
                connection failed.
        """
        return read_events(partial(self._open_stream, dag), self.limits.max_event_size, tap)

    @asynccontextmanager
    async def _open_stream(self, dag: dict[str, Any], progress: Progress) -> AsyncIterator[_Body]:
        """The body of the run's event stream; aiohttp's failures while it is open are
        translated (``_stream_errors``), and how it ends is logged."""
        # _logged_end outside: it logs the translated error.
        with self._logged_end(progress), _stream_errors(progress, self._secrets):
            async with self._answer(dag, _EVENT_STREAM, progress) as body:
                yield body

    @contextmanager
    def _logged_end(self, progress: Progress) -> Iterator[None]:
        """A debug line when a stream's body is let go: read to its end, closed early by its
        consumer, or failed."""
        try:
            yield
            shown, events = self._shown_url, progress.events
            _log.debug("POST %s: the stream ended after %d event(s)", shown, events)
        except (GeneratorExit, asyncio.CancelledError):
            _log.debug(
                "POST %s: the client closed the stream after %d event(s)",
                self._shown_url,
                progress.events,
            )
            raise
        except Exception as exc:
            _log.debug(
                "POST %s failed after %d event(s): %s", self._shown_url, progress.events, exc
            )
            raise

    @asynccontextmanager
    async def _answer(
        self, dag: dict[str, Any], accept: str, progress: Progress
    ) -> AsyncIterator[_Body]:
        """POST the dag; the body of its 2xx answer of type ``accept``, read by the caller.

        Raises:
            APIStatusError: the last answer was not 2xx (after any retries).
            UnexpectedContentType: a 2xx answer of another type.
            ConnectError, ConnectTimeout, RunTimeout, TransportError: no answer.
        """
        clock = _Clock(self.timeout, progress)
        data = _json_encoder.encode({"dag": dag})
        headers = {"Accept": accept}
        if accept == _EVENT_STREAM:
            headers[STREAMING_HEADER] = "1"
        async with self._session() as session:
            attempt = 0
            while True:
                attempt += 1
                _log.debug("POST %s (attempt %d)", self._shown_url, attempt)
                try:
                    response = await self._attempt(session, data, headers, progress, clock)
                    break
                except (ConnectError, APIStatusError) as exc:
                    wait = retry_wait(
                        self.retry,
                        attempt,
                        exc,
                        elapsed=clock.elapsed(),
                        remaining=clock.remaining(),
                        jitter=random.random(),
                    )
                    if wait is None:
                        raise
                    _log.info(
                        "POST %s: retrying in %.2f s (attempt %d): %s",
                        self._shown_url,
                        wait,
                        attempt + 1,
                        exc,
                    )
                await asyncio.sleep(wait)
            async with response:
                yield _Body(response, clock)

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        data: bytes,
        headers: dict[str, str],
        progress: Progress,
        clock: _Clock,
    ) -> aiohttp.ClientResponse:
        """One request: its response once the headers say it is worth reading, else an error."""
        accept = headers["Accept"]
        progress.answered = False  # a retry starts over: a reset now is a ConnectError again
        request = partial(session.post, f"{self.base_url}/compose", data=data, headers=headers)
        with _request_errors(progress, self._secrets):
            if accept == _EVENT_STREAM:
                response = await clock.within(request, self.timeout.connect, clock.connect_timeout)
            else:  # the answer comes when the graph is done: that wait is a read
                response = await clock.within(request, self.timeout.read, clock.read_timeout)
        progress.answered = True
        _log.debug(
            "POST %s -> %d %s (request id %s)",
            self._shown_url,
            response.status,
            response.content_type,
            response.headers.get(REQUEST_ID_HEADER),
        )
        try:
            if response.status >= 300:
                body = await _Body(response, clock).read_prefix(ERROR_BODY_LIMIT)
                raise _status_error(response, _mask(body, self._secrets))
            content_type = response.content_type if "Content-Type" in response.headers else "none"
            if not _is_type(content_type, accept):
                body = await _Body(response, clock).read_prefix(_UNEXPECTED_BODY_LIMIT)
                raise UnexpectedContentType(content_type, accept, _mask(body, self._secrets))
        except BaseException:
            response.release()
            raise
        return response


def _is_type(content_type: str, accept: str) -> bool:
    if accept == _JSON:
        return content_type == _JSON or content_type.endswith("+json")
    return content_type == accept


def _status_error(response: aiohttp.ClientResponse, body: bytes) -> APIStatusError:
    """The error for a non-2xx answer: its class by status, the server's own message."""
    message = error_message(body, response.reason or "")
    status = response.status
    error: type[APIStatusError] = APIStatusError
    if status in (401, 403):
        error = AuthenticationError
    elif status == 429:
        error = RateLimited
    elif status >= 500:
        error = ServerError
    return error(
        status,
        message,
        response.headers.get(REQUEST_ID_HEADER),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


@contextmanager
def _request_errors(progress: Progress, secrets: tuple[str, ...]) -> Iterator[None]:
    """aiohttp's exceptions while sending a request and reading a whole (JSON) answer, as
    rxsubstrate's: before the response headers, a broken connection is a ``ConnectError``
    (retried); after, a ``TransportError``. ``secrets`` (the API key, provider keys) are masked
    in the aiohttp exceptions chained."""
    try:
        yield
    except aiohttp.ClientError as exc:
        _scrub(exc, secrets)
        raise _translated(exc, progress, secrets) or TransportError(
            f"the connection broke: {_reason(exc)}"
        ) from exc


@contextmanager
def _stream_errors(progress: Progress, secrets: tuple[str, ...]) -> Iterator[None]:
    """``_request_errors`` for a stream, whose connection breaking after the response headers
    is a ``StreamInterrupted`` (never retried: events may have reached the consumer)."""
    try:
        yield
    except aiohttp.ClientError as exc:
        _scrub(exc, secrets)
        raise _translated(exc, progress, secrets) or StreamInterrupted(
            progress.events, partial_event=progress.pending, reason=_reason(exc)
        ) from exc


def _translated(
    exc: aiohttp.ClientError, progress: Progress, secrets: tuple[str, ...]
) -> SubstrateError | None:
    """What an aiohttp failure is, in words that do not need aiohttp to be read, without
    ``secrets`` (a redirect may quote anything); or None for a connection broken after the
    answer began (which the caller names)."""
    error = _named(exc, progress)
    if error is not None:
        error.args = tuple(_mask(arg, secrets) for arg in error.args)
    return error


def _named(exc: aiohttp.ClientError, progress: Progress) -> SubstrateError | None:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout(f"no connection to the server: {exc}")
    # TLS and redirects are not ConnectErrors: retrying does not fix them.
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        why = getattr(error, "verify_message", None) or _reason(error)
        return TransportError(f"the server's TLS certificate was refused ({exc.host}): {why}")
    if isinstance(exc, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
        return TransportError(f"the TLS connection to the server failed: {_reason(exc)}")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return TransportError(
            f"the server redirected {len(exc.history)} times, last to {exc.request_info.real_url}"
        )
    if isinstance(exc, aiohttp.NonHttpUrlRedirectClientError):
        where = _one_line(str(exc))  # its only argument is the URL
        return TransportError(f"the server redirected to {where}, which is not an http(s) URL")
    if isinstance(exc, aiohttp.InvalidUrlRedirectClientError):
        return TransportError(f"the server redirected to {exc.url!s:.200}, which is not a URL")
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportError(f"no request can be sent to {exc.url}: {exc.description or exc}")
    if isinstance(exc, aiohttp.ClientResponseError) and isinstance(
        exc.__cause__, HttpProcessingError
    ):
        # aiohttp's parser refused the bytes (it names them with a made-up status 400).
        return ProtocolError(f"the server's answer is not valid HTTP: {_reason(exc)}")
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        if not progress.answered:
            return ConnectError(f"the connection failed before the server answered: {_reason(exc)}")
        return None
    return TransportError(f"{type(exc).__name__}: {exc}")


def _url_secrets(url: str) -> tuple[str, ...]:
    """The password of a ``user:password@`` URL, and the Basic credentials made of it."""
    parts = urlsplit(url)
    if parts.password is None:
        return ()
    password = unquote(parts.password)
    basic = base64.b64encode(f"{unquote(parts.username or '')}:{password}".encode("latin-1"))
    return (parts.password, password, basic.decode("ascii"))


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` replaced, fit for a log line."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _reason(exc: BaseException) -> str:
    """What went wrong, in one line; for bytes aiohttp's parser refused, the parser's words
    (found down the chain of causes: aiohttp 3.10 wraps them in an empty error)."""
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, HttpProcessingError) and cause.message:
            return _one_line(cause.message)
        cause = cause.__cause__
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    """aiohttp's multi-line parser messages on one line, without the caret under the bytes."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip(" ^"))


def _mask(value: T, secrets: tuple[str, ...]) -> T:
    """``value`` (str or bytes; anything else as it is) without ``secrets``: what a server
    sent back may quote the request's headers (an echo service, a proxy's error page)."""
    for secret in secrets:
        if isinstance(value, str):
            value = cast(T, value.replace(secret, "<redacted>"))
        elif isinstance(value, bytes):
            value = cast(T, value.replace(secret.encode(), b"<redacted>"))
    return value


def _scrub(exc: BaseException, secrets: tuple[str, ...]) -> None:
    """Mask ``secrets`` in ``exc`` and every exception it chains, before an error chains it.

    A ``ClientResponseError`` shows the request's headers in its repr, and aiohttp's parser
    errors quote the bytes a server sent, which may echo a key.
    """
    todo: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        attributes = getattr(current, "__dict__", {})
        for name, value in list(attributes.items()):
            attributes[name] = _mask(value, secrets)
        current.args = tuple(_mask(arg, secrets) for arg in current.args)
        if isinstance(current, aiohttp.ClientResponseError):
            info = current.request_info
            headers = info.headers.copy()
            for name, value in info.headers.items():
                if _mask(value, secrets) != value:
                    headers[name] = "<redacted>"
            current.request_info = aiohttp.RequestInfo(
                info.url, info.method, type(info.headers)(headers), info.real_url
            )
            current.args = (current.request_info, current.history)
        todo += [current.__cause__, current.__context__]
