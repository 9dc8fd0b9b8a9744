"""``DrivenLoop``: a private event loop run by the thread that waits for what it makes.

``iter()`` on a thread where no event loop runs reads its run on a loop of its own, and runs
that loop only while it waits for the next events: reading, decoding and the consumer's own code
then share one thread, and no batch changes threads (two busy threads would pass the GIL back and
forth, which cost ``iter()`` a quarter of its speed).

Any thread may advance the loop, one at a time. Between runs, ``settle()`` ends what a run left
on it and keeps it (with its session's pooled connections) for the next; ``close()`` ends every
task left on it and closes it, from any thread; on a thread where another event loop runs (a
subscribe callback, a generator collected there), on a short-lived thread of its own, since two
loops cannot run on one thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ._errors import WouldDeadlock
from ._loop_thread import end_tasks, release_loop

__all__ = ["DrivenLoop"]

T = TypeVar("T")


class DrivenLoop:
    """An event loop that runs only inside ``run``, on the thread that calls it.

    Args:
        cleanup: makes what ``close()`` awaits on the loop before closing it (its session's
            ``close``), once its tasks are over.
    """

    def __init__(self, cleanup: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self._lock = threading.Lock()  # one thread runs the loop at a time; close() waits for it
        self._cleanup = cleanup

    def run(self, make: Callable[[], Awaitable[T]], closed: Callable[[], T]) -> T:
        """Run the loop on this thread until ``make()`` is done, and return its result; once
        the loop is closed, ``closed()`` instead.

        Raises:
            WouldDeadlock: another event loop runs on this thread.
        """
        if asyncio._get_running_loop() is not None:
            raise WouldDeadlock(
                "this iterator was started where no event loop ran and reads its run there;"
                " go on reading it outside the event loop (or use async_iter())"
            )
        with self._lock:
            if self.loop.is_closed():
                return closed()
            return self.loop.run_until_complete(make())

    def settle(self, finish: Callable[[], Awaitable[None]]) -> bool:
        """End the tasks left on the loop (a read that ``KeyboardInterrupt`` cut short among
        them), await ``finish()`` there, and keep the loop open.

        Returns:
            False, having run nothing, where the loop cannot run: it is closed, or another event
            loop runs on this thread.
        """
        if asyncio._get_running_loop() is not None:
            return False
        with self._lock:
            if self.loop.is_closed():
                return False
            self.loop.run_until_complete(_settled(finish))
        return True

    def close(self) -> None:
        """Cancel the tasks left on the loop, let them unwind, close it (idempotent, any thread).

        Waits for a thread that is running the loop to stop first.
        """
        if asyncio._get_running_loop() is None:
            self._close()
            return
        thread = threading.Thread(target=self._close, name="rxsubstrate-close")
        thread.start()
        thread.join()

    def _close(self) -> None:
        with self._lock:
            if not self.loop.is_closed():
                release_loop(self.loop, None if self._cleanup is None else self._cleanup())


async def _settled(finish: Callable[[], Awaitable[None]]) -> None:
    await end_tasks()
    await finish()
