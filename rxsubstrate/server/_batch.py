"""``Batch``: a run's SSE bytes handed to the response writer, coalesced into few writes.

A run can make many thousands of events a second, and the engine hands them over one loop turn
apart, so waking the writer per event would cost a loop turn and a ``send`` each. The writer
sends the first event of a burst at once, then at most one write per ``window`` seconds (sooner
when ``flush_size`` bytes wait): everything made meanwhile goes in one write.

Backpressure: the run pauses while ``max_pending`` bytes (and the engine's last list of events)
wait for the writer, and the writer waits for the socket (aiohttp's ``write`` drains), so a
client that reads slowly or not at all holds about ``max_pending`` bytes here plus the socket
buffers, and the engine's own bounded mailbox stops the run's nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Final

from .._events import Event
from .._sse_writer import write_wire_sse

__all__ = ["Batch"]

WINDOW: Final = 0.001
FLUSH_SIZE: Final = 64 * 1024
MAX_PENDING: Final = 256 * 1024


class Batch:
    """One run's bytes between the producer (``fill``) and the consumer (``take``); one loop.

    Args:
        window: seconds between two writes of a burst.
        flush_size: bytes that make the writer go before its window ends.
        max_pending: bytes waiting that pause the producer until the next ``take``.
    """

    def __init__(
        self,
        *,
        window: float = WINDOW,
        flush_size: int = FLUSH_SIZE,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._window = window
        self._flush_size = flush_size
        self._max_pending = max_pending
        self._buffer = bytearray()
        self._done = False
        self._last_write = -window
        self._wakeup: asyncio.Future[None] | None = None
        self._room = asyncio.Event()
        self._room.set()

    @property
    def pending(self) -> int:
        """Bytes encoded and not yet taken."""
        return len(self._buffer)

    async def fill(self, batches: AsyncGenerator[list[Event], None]) -> None:
        """Producer: encode every event of the run, list by list as the engine hands them over;
        closes ``batches`` however it ends."""
        buffer = self._buffer
        try:
            async for events in batches:
                was_empty = not buffer
                write_wire_sse(events, buffer)
                if was_empty or len(buffer) >= self._flush_size:
                    self._wake()
                if len(buffer) >= self._max_pending:
                    self._room.clear()
                    await self._room.wait()
        finally:
            await batches.aclose()  # cancels the run's node tasks

    def finish(self, _run: object = None) -> None:
        """The run is over (done, failed or cancelled, even before it started)."""
        self._done = True
        self._wake()

    async def take(self) -> bytes:
        """Consumer: everything encoded since the last take; empty once the run is over."""
        loop = asyncio.get_running_loop()
        while not self._done and len(self._buffer) < self._flush_size:
            delay = None
            if self._buffer:
                delay = self._last_write + self._window - loop.time()
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
        chunk = bytes(self._buffer)
        self._buffer.clear()
        self._room.set()
        self._last_write = loop.time()
        return chunk

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)
