"""``sse_body``: a run as the SSE text a browser's ``EventSource`` should get, for any framework."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Final, Protocol, TypedDict

from .._errors import SubstrateError
from .._events import Event
from .._sse_writer import SSEWriter
from ..ops._node_ref import NodeLike
from ..ops._text import text_fold
from ._paced import paced

__all__ = ["HEADERS", "MEDIA_TYPE", "PING", "RunLike", "SSEOptions", "is_reconnect", "sse_body"]

logger = logging.getLogger("rxsubstrate.web")

PING: Final = ": ping\n\n"
"""An SSE comment: a browser ignores it; a proxy sees the connection in use."""

MEDIA_TYPE: Final = "text/event-stream"
HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""Never cached, nor buffered by a proxy (``X-Accel-Buffering`` is nginx's switch)."""


def is_reconnect(headers: Mapping[str, str]) -> bool:
    """A browser's ``EventSource`` reconnecting after a stream it got ids from: it sends the
    last id it saw. A new run for it would be a second run for one page; the web helpers
    answer 204 instead, which tells an ``EventSource`` to stop reconnecting."""
    return "last-event-id" in headers


class SSEOptions(TypedDict, total=False):
    """``sse_body``'s options, which the framework helpers pass on (see ``sse_body``)."""

    text: NodeLike | str | None
    choice: int | None
    ids: bool
    retry: int | None
    end: str | None
    ping: float | None


class RunLike(Protocol):
    """What the web helpers read a run from: a ``RunStream``, or anything with its
    ``async_iter()``."""

    def async_iter(self) -> AsyncIterator[Event]: ...


def sse_body(
    stream: RunLike,
    *,
    text: NodeLike | str | None = None,
    choice: int | None = None,
    ids: bool = True,
    retry: int | None = None,
    end: str | None = "end",
    ping: float | None = 15.0,
) -> AsyncGenerator[str, None]:
    """The run as SSE text for a browser, to hand to any framework's streaming response.

    The run starts when the body is first read, on the reading loop, and is cancelled when
    the body is closed or its reading task is cancelled (a framework whose client went away).
    A run that fails (any ``SubstrateError``, ``ClientClosed`` included) ends the body with
    the end event naming the error's type, and is logged as a warning on the
    ``rxsubstrate.web`` logger with its traceback.

    Args:
        stream: the run (``substrate.stream(...)``); nothing runs until the body is read.
        text: send this node's text as plain chunks (``ops.text(node, choice)``'s), not the
            events as JSON; the chunks add up to the node's whole text.
        choice: with ``text``, which choice of a multi-choice node (default 0).
        ids: number the messages, so that a browser that reconnects says so (``Last-Event-ID``).
        retry: milliseconds a browser waits before reconnecting.
        end: the type of the event written last, data ``{}`` or ``{"error": "<type>"}``; a
            page closes its ``EventSource`` on it. None writes none.
        ping: seconds of silence after which an SSE comment is written: it keeps proxies from
            closing an idle stream, and a server that only notices a departed client when a
            write fails (aiohttp) then ends the run. None writes none.

    Raises:
        ValueError: an option is out of range (at call time).
    """
    writer = SSEWriter(ids=ids, retry=retry, end=end)
    fold = None if text is None else text_fold(text, choice)
    if ping is not None and ping <= 0:
        raise ValueError(f"ping must be a number of seconds > 0, or None; not {ping}")

    async def body() -> AsyncGenerator[str, None]:
        failed: SubstrateError | None = None
        try:
            async with aclosing(paced(_events(stream), ping)) as events:
                position = -1
                async for event in events:
                    if event is None:
                        yield PING
                    elif fold is None:
                        yield writer.message(event)
                    else:
                        position += 1
                        for chunk in fold.step(event, position):
                            yield writer.message(chunk)
        except SubstrateError as exc:
            logger.warning("run failed while streaming to a browser", exc_info=exc)
            failed = exc
        if fold is not None and failed is None:
            for chunk in fold.completed():
                yield writer.message(chunk)
        if writer.end is not None:
            yield writer.ending(failed)

    return body()


async def _events(stream: RunLike) -> AsyncGenerator[Event, None]:
    """The run's events as an async generator (what ``paced`` closes)."""
    events = stream.async_iter()
    try:
        async for event in events:
            yield event
    finally:
        closing = getattr(events, "aclose", None)
        if closing is not None:
            await closing()
