"""HTTP transport: ``POST {base_url}/compose`` over aiohttp, bytes -> SSE -> typed events.

aiohttp's exceptions are translated to rxsubstrate's in one place, ``_translate_errors``. One
``aiohttp.ClientSession`` is kept per event loop, because a session belongs to the loop it was
made on: the client's own loop thread has one, and so does every loop that uses the async API.
"""

from __future__ import annotations

import asyncio
import platform
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Final

import aiohttp
import msgspec

from ._config import Limits, Timeout
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ConnectTimeout,
    ReadTimeout,
    StreamInterrupted,
    TransportError,
)
from ._events import Event, GraphResult, decode_batch
from ._sse import SSEDecoder
from ._version import __version__

__all__ = ["Transport"]

USER_AGENT: Final = (
    f"rxsubstrate/{__version__} python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)
_json_encoder: Final = msgspec.json.Encoder()
# At most this much is decoded per batch: enough to amortise the per-batch work, small enough
# that many concurrent runs do not each hold a large batch of decoded events.
READ_SIZE: Final = 16 * 1024
_ERROR_BODY_LIMIT: Final = 64 * 1024


class _Progress:
    """What a run has received so far, for the error raised if it breaks."""

    __slots__ = ("events", "pending")

    def __init__(self) -> None:
        self.events = 0
        self.pending = False


class Transport:
    """Sends dags to one server and reads its answers; owns the aiohttp sessions it opens."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout: Timeout,
        limits: Limits,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limits = limits
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout.connect, sock_read=timeout.read
        )
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        headers.update(extra_headers or {})
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._headers = headers
        self.home_loop: Callable[[], asyncio.AbstractEventLoop | None] = lambda: None
        self._home_session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"Transport(base_url={self.base_url!r})"

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """The home loop's shared session, or a session of this request's own elsewhere.

        ``home_loop`` names the loop (the client's own thread) whose runs share one long-lived
        session and its pooled connections.

        A session belongs to the loop it was made on and must be closed there; on a caller's
        loop (``asyncio.run`` and friends) nobody would close a cached one, so each request
        owns its session, as the official SDK does with its httpx clients.
        """
        if asyncio.get_running_loop() is self.home_loop():
            if self._home_session is None or self._home_session.closed:
                self._home_session = aiohttp.ClientSession(
                    timeout=self._timeout, headers=self._headers
                )
            yield self._home_session
        else:
            async with aiohttp.ClientSession(timeout=self._timeout, headers=self._headers) as own:
                yield own

    async def aclose(self) -> None:
        """Close the shared session; call it on the home loop."""
        if self._home_session is not None:
            await self._home_session.close()
            self._home_session = None

    async def post_json(self, dag: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Run a dag without streaming; return the response JSON and the request id."""
        body = _json_encoder.encode({"dag": dag})
        headers = {"Accept": "application/json"}
        with _translate_errors(_Progress(), streaming=False):
            async with (
                self._session() as session,
                session.post(f"{self.base_url}/compose", data=body, headers=headers) as response,
            ):
                await _raise_for_status(response)
                payload = await response.read()
                request_id = response.headers.get("x-substrate-request-id")
        try:
            decoded = msgspec.json.decode(payload)
        except msgspec.DecodeError as exc:
            raise TransportError(f"the server's JSON answer is malformed: {exc}") from None
        if not isinstance(decoded, dict):
            raise TransportError("the server's JSON answer is not an object")
        return decoded, request_id

    async def stream_batches(self, dag: dict[str, Any]) -> AsyncGenerator[list[Event], None]:
        """Stream a run: yield its events in batches, one batch per network read.

        The last event yielded is the ``GraphResult``; anything the server sends after it is
        ignored. Close the generator (``aclose``) to cancel the request.

        Raises:
            APIStatusError: a non-2xx answer, with the server's message.
            StreamInterrupted: the stream ended before ``graph.result``.
            ProtocolError: the bytes are not a valid event stream.
            ConnectTimeout, ReadTimeout, TransportError: the connection failed.
        """
        body = _json_encoder.encode({"dag": dag})
        headers = {"Accept": "text/event-stream", "X-Substrate-Streaming": "1"}
        decoder = SSEDecoder(self.limits.max_event_size)
        progress = _Progress()
        with _translate_errors(progress, streaming=True):
            async with (
                self._session() as session,
                session.post(f"{self.base_url}/compose", data=body, headers=headers) as response,
            ):
                await _raise_for_status(response)
                content = response.content
                while True:
                    chunk = await content.read(READ_SIZE)
                    if not chunk:
                        break
                    payloads = decoder.feed_data(chunk)
                    progress.pending = decoder.pending
                    if not payloads:
                        continue
                    batch = decode_batch(payloads, progress.events)
                    progress.events += len(batch)
                    for i, event in enumerate(batch):
                        if type(event) is GraphResult:
                            yield batch[: i + 1]
                            return
                    yield batch
        raise StreamInterrupted(progress.events, partial_event=decoder.pending)


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status < 300:
        return
    # An error body is for a message: read a bounded prefix, however much the server sends.
    text = (await response.content.read(_ERROR_BODY_LIMIT)).decode("utf-8", "replace")
    message = text.strip() or (response.reason or "")
    try:
        decoded = msgspec.json.decode(text)
    except msgspec.DecodeError:
        decoded = None
    if isinstance(decoded, dict):
        for key in ("message", "error", "detail"):
            value = decoded.get(key)
            if isinstance(value, str):
                message = value
                break
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                message = value["message"]
                break
    request_id = response.headers.get("x-substrate-request-id")
    error = AuthenticationError if response.status in (401, 403) else APIStatusError
    raise error(response.status, message, request_id)


@contextmanager
def _translate_errors(progress: _Progress, *, streaming: bool) -> Iterator[None]:
    """The one place where aiohttp's exceptions become rxsubstrate's."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise ConnectTimeout(f"no connection to the server: {exc}") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise ReadTimeout(
            f"the server sent nothing within the read timeout ({progress.events} event(s) so far)"
        ) from exc
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
        if not streaming:
            raise TransportError(f"the connection broke: {exc}") from exc
        raise StreamInterrupted(
            progress.events, partial_event=progress.pending, reason=str(exc) or type(exc).__name__
        ) from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:
        raise ConnectTimeout("no answer from the server within the connect timeout") from exc
