"""``Mailbox``: a run's node tasks hand their messages to its one reader, bounded, on one loop.

``asyncio.Queue`` would do, at a cost the engine pays per delta: a coroutine per ``put``, a
size check through three methods, a wake-up per ``get``. Here a writer with room appends and
goes on (``put_nowait``), the reader takes everything waiting in one call, and writers wait
only when the box is full, woken in the order they came. A node that streams fast still gives
the loop up once per box of messages: the bound is what keeps it fair and memory flat.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Generic, TypeVar

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """At most ``size`` messages between many writers and one reader of one event loop."""

    __slots__ = ("_items", "_promised", "_reader", "_size", "_writers")

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: list[T] = []
        self._promised = 0  # 1 while a writer is woken and has not run yet: its place is held
        self._reader: asyncio.Future[None] | None = None
        self._writers: collections.deque[asyncio.Future[None]] = collections.deque()

    def has_room(self) -> bool:
        """Whether ``put_nowait`` may be called now: there is a place that no woken writer
        holds (so a writer that waited is not passed by one that did not)."""
        return len(self._items) + self._promised < self._size

    def put_nowait(self, item: T) -> None:
        """Add ``item``; the caller has checked ``has_room`` (or is the run's own bookkeeping,
        which must never wait)."""
        self._items.append(item)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def put(self, item: T) -> None:
        """Add ``item`` once there is room, after the writers that waited before."""
        if not self.has_room():
            waiter = asyncio.get_running_loop().create_future()
            self._writers.append(waiter)
            try:
                await waiter
            except BaseException:
                self._writers.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._promised -= 1  # woken, then cancelled: its place goes to the next
                    self._wake_writers()
                raise
            self._writers.remove(waiter)
            self._promised -= 1
        self.put_nowait(item)

    async def take(self) -> list[T]:
        """Every message waiting, oldest first, once there is at least one."""
        while not self._items:
            self._reader = asyncio.get_running_loop().create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        items, self._items = self._items, []
        self._wake_writers()
        return items

    def _wake_writers(self) -> None:
        """Wake the writer first in line, if there is room and none is woken already.

        One at a time: a writer woken goes on writing while there is room, so one wake-up per
        box fills it (waking one per free place cost the engine a fifth of its time per delta,
        223 fast nodes at once), and the next writer in line gets the next box.
        """
        if self._promised or len(self._items) >= self._size:
            return
        for waiter in self._writers:
            if not waiter.done():
                waiter.set_result(None)
                self._promised = 1
                return
