"""A private event loop on a daemon thread, for callers that have no loop of their own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

from ._errors import ClientClosed, UsageError, WouldDeadlock

__all__ = ["LoopThread", "end_tasks", "release_loop"]

T = TypeVar("T")
# Cancelled tasks may start others while they unwind (aiohttp closing a connection): cancel
# what is left this many times before giving up on it.
_SHUTDOWN_ROUNDS: Final = 5
BLOCKING_CALL_IN_LOOP_THREAD: Final = (
    "a blocking call was made from the client's own loop thread (a subscribe() callback);"
    " use the async API or subscribe() there instead"
)
CLOSED: Final = "this Substrate client is closed; create a new one"


class LoopThread:
    """An event loop on a daemon thread: started on first use, closed once and for good.

    Thread-safe. After ``close()`` nothing starts the loop again: ``start`` and everything that
    needs the loop raise ``closed_error()``.

    Args:
        name: the thread's name.
        closed_error: the misuse error its owner reports once it is closed.
    """

    def __init__(
        self,
        name: str = "rxsubstrate-loop",
        closed_error: Callable[[], UsageError] = lambda: ClientClosed(CLOSED),
    ) -> None:
        self._name = name
        self._closed_error = closed_error
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> asyncio.AbstractEventLoop:
        """The running loop, started if needed.

        Raises:
            UsageError: the loop thread is closed (``closed_error()``).
        """
        with self._lock:
            if self._closed:
                raise self._closed_error()
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(loop, started), name=self._name, daemon=True
                )
                thread.start()
                started.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        try:
            loop.run_forever()
        finally:
            _close_loop(loop)

    def started_loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop if it is running, without starting it."""
        return None if self._closed else self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; cancelling the returned future cancels the task."""
        try:
            loop = self.start()
        except UsageError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for its result on the calling thread."""
        if self.in_loop_thread():
            coro.close()
            raise WouldDeadlock(BLOCKING_CALL_IN_LOOP_THREAD)
        return self.submit(coro).result()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def close(self, cleanup: Coroutine[Any, Any, None] | None = None) -> None:
        """Cancel the loop's tasks and wait for them, run ``cleanup``, stop the loop and join the
        thread (idempotent: a second call waits for the first to finish).

        Called on the loop's own thread it cannot wait: the shutdown then runs once the current
        callback returns.
        """
        with self._lock:
            first = not self._closed
            self._closed = True
            loop, thread = self._loop, self._thread
        if not first or loop is None or thread is None:
            if cleanup is not None:
                cleanup.close()
            if thread is not None and threading.current_thread() is not thread:
                thread.join()
            return
        done = asyncio.run_coroutine_threadsafe(end_tasks(cleanup), loop)
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(loop.stop))
        if threading.current_thread() is not thread:
            try:
                done.result()
            finally:
                thread.join()


async def end_tasks(cleanup: Coroutine[Any, Any, None] | None = None) -> None:
    """Cancel every other task and let each one unwind (their owners learn why), then clean up."""
    me = asyncio.current_task()
    for _ in range(_SHUTDOWN_ROUNDS):
        tasks = [task for task in asyncio.all_tasks() if task is not me]
        if not tasks:
            break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if cleanup is not None:
        await cleanup


def release_loop(
    loop: asyncio.AbstractEventLoop, cleanup: Coroutine[Any, Any, None] | None = None
) -> None:
    """End every task on ``loop`` (a loop that is not running), run ``cleanup``, close it."""
    try:
        loop.run_until_complete(end_tasks(cleanup))
    finally:
        _close_loop(loop)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
