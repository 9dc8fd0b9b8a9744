"""Bridges from a run to the iterators of the official SDK: ``iter``, ``async_iter``,
``iter_events``, ``async_iter_events``.

``async_iter`` reads the stream on the caller's loop: pull-based, so a slow consumer slows the
socket reads and nothing queues up. ``iter`` reads on the client's loop thread and hands batches
(one per network read) to the calling thread through a bounded channel: when
``Limits.max_buffered_batches`` are waiting, the reader stops reading the socket until the
consumer takes one, so TCP flow control pushes back on the server and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

from ._errors import ClientClosed
from ._events import Event, encode_event
from ._loop_thread import LoopThread
from ._sse import encode_sse
from ._transport import Transport

__all__ = ["iterate", "sse_text"]


def sse_text(event: Event) -> str:
    """An event as SSE text, as the server writes it."""
    return encode_sse(encode_event(event)).decode("utf-8")


class _Channel:
    """Batches from the loop thread to one consuming thread, at most ``capacity`` waiting."""

    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop) -> None:
        self._capacity = capacity
        self._loop = loop
        self._batches: deque[list[Event]] = deque()
        self._ready = threading.Condition()
        self._space = asyncio.Event()
        self._done = False
        self._error: BaseException | None = None

    async def fill(self, transport: Transport, dag: dict[str, Any]) -> None:
        """Producer, on the loop thread."""
        try:
            async with aclosing(transport.stream_batches(dag)) as batches:
                async for batch in batches:
                    while len(self._batches) >= self._capacity:
                        self._space.clear()
                        await self._space.wait()
                    with self._ready:
                        self._batches.append(batch)
                        self._ready.notify()
        except asyncio.CancelledError:
            # Either the consumer stopped iterating (and reads no more) or the client was closed
            # under it: then the consumer must not mistake the end for a complete run.
            self._error = ClientClosed("the client was closed while this run streamed")
            raise
        except Exception as exc:  # handed to the consumer, which raises it
            self._error = exc
        finally:
            with self._ready:
                self._done = True
                self._ready.notify()

    def take(self) -> list[list[Event]] | None:
        """Consumer: every waiting batch, or None at the end. Raises the producer's error."""
        with self._ready:
            while not self._batches and not self._done:
                self._ready.wait()
            if self._batches:
                taken = list(self._batches)
                self._batches.clear()
            elif self._error is not None:
                raise self._error
            else:
                return None
        self._loop.call_soon_threadsafe(self._space.set)
        return taken


def iterate(
    transport: Transport, dag: dict[str, Any], loop_thread: LoopThread, capacity: int
) -> Iterator[Event]:
    """The run's events on the calling thread; closing the iterator cancels the request."""
    if loop_thread.in_loop_thread():
        raise RuntimeError(
            "iter() would block the client's loop thread, which delivers subscribe() callbacks;"
            " use async_iter() or subscribe() there instead"
        )
    channel = _Channel(capacity, loop_thread.loop)
    future = loop_thread.submit(channel.fill(transport, dag))
    try:
        while (batches := channel.take()) is not None:
            for batch in batches:
                yield from batch
    finally:
        future.cancel()
