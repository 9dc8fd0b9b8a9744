"""``Channel``: items handed from producers to one consumer, bounded, across threads or on a loop.

Every iterator of a run reads through one: ``iter()`` (a run's batches to the calling thread)
and ``iterate``/``aiterate`` (any Observable's items to a thread or a coroutine).

Producers ``put`` from any thread. A producer that can wait, a run's reader on its event loop,
checks ``full()`` after each item and then awaits ``space()``, which returns once the consumer
has taken what waits: the reader stops reading its socket meanwhile, and TCP pushes back on the
server. A producer that cannot wait meets the hard ``limit``: the item past it is not kept, the
channel ends with the error ``overflow`` makes, and ``on_overflow`` runs (its owner disposes the
subscription there).

The consumer takes every waiting item at once, from a thread (``take``) or on a loop
(``atake``): one wake-up per burst, not per item. A producer on an event loop wakes the consumer
once its current callback is over (``call_soon``), so all it puts meanwhile (a run's whole
network read) goes over together. Items come first, then how the producer ended. ``close()`` is
the consumer leaving: what waits is dropped and nothing more is kept.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Generic, TypeVar

__all__ = ["Channel"]

T = TypeVar("T")


class Channel(Generic[T]):
    """Items from producers to one consumer.

    Args:
        pause_at: how many waiting items make ``full()`` true (producers that can wait then
            await ``space()``).
        limit: the most items that wait, or None when every producer waits on ``full()``.
        overflow: makes the error the consumer gets when an item would pass ``limit``.
        on_overflow: called once, on the producer's thread, outside the lock, on overflow.
    """

    def __init__(
        self,
        pause_at: int,
        limit: int | None = None,
        overflow: Callable[[], BaseException] | None = None,
        on_overflow: Callable[[], object] | None = None,
    ) -> None:
        self._pause_at = pause_at
        self._limit = limit
        self._overflow = overflow
        self.on_overflow = on_overflow
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)  # a consumer thread waits on it
        self._waiter: asyncio.Future[None] | None = None  # a consumer coroutine waits on it
        self._spaces: list[asyncio.Future[None]] = []  # producers waiting for the consumer
        self._done = False  # nothing more is kept: the end is known, or the consumer left
        self._error: BaseException | None = None
        self._sleeping = False  # the consumer thread waits on _ready
        self._wake_soon = False  # a producer's loop will wake the consumer

    # -- producers ----------------------------------------------------------------------------

    def put(self, item: T) -> None:
        """Keep ``item`` for the consumer (any thread); dropped once the channel has ended."""
        overflowed = False
        with self._lock:
            if self._done:
                return
            if self._limit is not None and len(self._items) >= self._limit:
                assert self._overflow is not None
                self._done, self._error, overflowed = True, self._overflow(), True
                self._wake_consumer()
            else:
                self._items.append(item)
                if not self._wake_soon:
                    loop = asyncio._get_running_loop()
                    if loop is None:
                        self._wake_consumer()
                    else:
                        self._wake_soon = True
                        loop.call_soon(self._woken)
        if overflowed and self.on_overflow is not None:
            self.on_overflow()

    def finish(self, error: BaseException | None = None) -> None:
        """The producer ended, with ``error`` or completed; the consumer gets it after the items."""
        with self._lock:
            if self._done:
                return
            self._done, self._error = True, error
            self._wake_consumer()

    def full(self) -> bool:
        """True when a producer that can wait should await ``space()`` (a hint: no lock)."""
        return len(self._items) >= self._pause_at

    async def space(self) -> None:
        """Wait, on the producer's loop, until the consumer has taken what waits (or left)."""
        with self._lock:
            if self._done or len(self._items) < self._pause_at:
                return
            space = asyncio.get_running_loop().create_future()
            self._spaces.append(space)
        try:
            await space
        finally:
            with self._lock:
                # Under the lock: a consumer that still sees this future knows its loop is alive.
                if space in self._spaces:
                    self._spaces.remove(space)

    def _woken(self) -> None:
        """On a producer's loop, once the callback that put items is over."""
        with self._lock:
            self._wake_soon = False
            self._wake_consumer()

    def _wake_consumer(self) -> None:
        """Under the lock."""
        if self._sleeping:
            self._ready.notify()
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            _release(waiter)

    # -- the consumer -------------------------------------------------------------------------

    def take(self) -> deque[T] | None:
        """Every waiting item, waiting for one on the calling thread; None at the end.

        Raises:
            BaseException: the error the producer ended with, once the items before it are taken.
        """
        with self._ready:
            while not self._items and not self._done:
                self._sleeping = True
                self._ready.wait()
                self._sleeping = False
            return self._take()

    async def atake(self) -> deque[T] | None:
        """``take`` on the running loop."""
        while True:
            with self._lock:
                if self._items or self._done:
                    return self._take()
                waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None

    def _take(self) -> deque[T] | None:
        """Under the lock."""
        if not self._items:
            if self._error is not None:
                raise self._error
            return None
        taken, self._items = self._items, deque()
        self._release_producers()
        return taken

    def close(self) -> None:
        """The consumer left: drop what waits, keep nothing more, let waiting producers go."""
        with self._lock:
            self._done = True
            self._error = None
            self._items.clear()
            self._release_producers()

    def _release_producers(self) -> None:
        """Under the lock: each waiting producer's task is alive, and so its loop."""
        spaces, self._spaces = self._spaces, []
        for space in spaces:
            _release(space)


def _release(waiter: asyncio.Future[None]) -> None:
    """Resolve ``waiter`` from any thread."""
    loop = waiter.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _set(waiter)
    else:
        with suppress(RuntimeError):  # a loop closed under its tasks: no one left to wake
            loop.call_soon_threadsafe(_set, waiter)


def _set(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
