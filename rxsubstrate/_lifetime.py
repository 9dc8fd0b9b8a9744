"""What a ``Substrate`` client owns, and how it is let go.

A client owns its loop thread, the aiohttp session on it, the embedded server, the runs in
flight on any loop, and the idle loops that ``iter()`` drives (each with its session, whose
pooled connections the next ``iter()`` reuses). ``ClientLifetime`` holds them apart from the
client, so that they are released deterministically: by ``close()``, or by a
``weakref.finalize`` when the client is garbage collected or the interpreter exits (a script that
never closes its client exits quietly). A run in flight keeps its client alive, so a client is
never finalized under its own runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._driven_loop import DrivenLoop
from ._errors import ClientClosed, WouldDeadlock
from ._loop_thread import BLOCKING_CALL_IN_LOOP_THREAD, CLOSED, LoopThread

if TYPE_CHECKING:
    from ._backend import Backend
    from ._transport import Transport

__all__ = ["ClientLifetime", "RunTask"]

T = TypeVar("T")
_log = logging.getLogger("rxsubstrate.client")
CLOSED_MID_RUN: Final = "the client was closed while this run streamed"
# Idle driven loops kept for the next iter(): one serves iterations one after another; more
# serve that many at once from several threads. A loop past these is closed when its run ends.
_IDLE_LOOPS: Final = 4

# How a run ended: None (completed), CancelledError (cancelled by its consumer) or the error.
Outcome = BaseException | None


class RunTask:
    """One run's task on its loop; ``cancel()`` works from any thread, even before it starts."""

    __slots__ = ("_cancelled", "loop", "owner", "settle", "task")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        owner: object,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.loop = loop
        self.owner: object = owner  # kept alive while the run is in flight
        self.settle = settle  # runs its loop until the cancelled run is over (a driven loop)
        self.task: asyncio.Task[Any] | None = None
        self._cancelled = False

    def _start(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        on_done: Callable[[asyncio.Task[Any]], None],
    ) -> None:
        def create() -> None:
            task = self.loop.create_task(make())
            task.add_done_callback(on_done)
            self.task = task
            if self._cancelled:
                task.cancel()

        if _running_loop() is self.loop:
            create()
        else:
            self.loop.call_soon_threadsafe(create)

    def cancel(self, reason: str) -> None:
        """Cancel the run (idempotent); its owner learns of it through the run's outcome.

        Args:
            reason: who cancels, for the debug log ("the client was closed", ...).
        """
        if not self._cancelled and (self.task is None or not self.task.done()):
            _log.debug("cancelling a run: %s", reason)
        if _running_loop() is self.loop:
            self._cancel_here()
        elif not self.loop.is_closed():
            # The loop may close meanwhile, and every task it ran with it: nothing left to do.
            with suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._cancel_here)

    def _cancel_here(self) -> None:
        self._cancelled = True
        if self.task is not None:
            self.task.cancel()


class ClientLifetime:
    """A client's loop thread, transport, embedded server and runs in flight; ``close()`` ends
    them all.

    ``lock`` guards ``closed``, ``transport`` and ``backend`` (the client sets the last two on
    first use, under it; the backend is closed with the rest), and the idle driven loops.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = False
        self.loop_thread = LoopThread()
        self.transport: Transport | None = None
        self.backend: Backend | None = None
        self._runs: set[RunTask] = set()
        self._released = threading.Event()
        self._closer: threading.Thread | None = None  # releases when close() cannot wait
        self._idle: list[DrivenLoop] = []  # driven loops between iterations, newest last
        # The loops whose runs share one session (and its pooled connections): the loop
        # thread's and the driven loops'; a caller's loop is not one of them.
        self._homes: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()

    def is_home(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True for a loop this client owns, whose runs share one session."""
        return loop is self.loop_thread.started_loop() or loop in self._homes

    def driven_loop(self) -> DrivenLoop:
        """A loop for ``iter()`` to drive, the last one given back if any (its session's
        connections still open), else a new one.

        Raises:
            ClientClosed: the client is closed.
        """
        with self.lock:
            if self.closed:
                raise ClientClosed(CLOSED)
            if self._idle:
                return self._idle.pop()
        driven = DrivenLoop(self._close_session)
        self._homes.add(driven.loop)
        return driven

    def give_back(self, driven: DrivenLoop, finish: Callable[[], Awaitable[None]]) -> None:
        """End an iteration's run on its loop (``finish()``, then the run's tasks) and keep the
        loop for the next one; close it instead where it cannot run here, once the client is
        closed, or when enough loops wait."""
        kept = False
        try:
            kept = driven.settle(finish) and self._keep(driven)
        finally:
            if not kept:
                driven.close()

    def _keep(self, driven: DrivenLoop) -> bool:
        with self.lock:
            if self.closed or len(self._idle) >= _IDLE_LOOPS:
                return False
            self._idle.append(driven)
            return True

    async def _close_session(self) -> None:
        """Close the running loop's session, if it has one."""
        if self.transport is not None:
            await self.transport.aclose()

    def launch(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        on_done: Callable[[Outcome], None],
        owner: object,
        loop: asyncio.AbstractEventLoop | None = None,
        settle: Callable[[], None] | None = None,
    ) -> RunTask:
        """Run ``make()`` as a task on ``loop`` (default the client's loop thread).

        ``on_done(outcome)`` is called on that loop once the run is over, however it ended, even
        when it was cancelled before it started. A run cut short by ``close()`` ends with
        ``ClientClosed``.

        Args:
            settle: for a loop that runs only when its consumer runs it (``DrivenLoop``): runs
                it until the cancelled run is over, so that ``close()`` releases the run even
                when its consumer never comes back.

        Raises:
            ClientClosed: the client is closed.
        """
        with self.lock:
            if self.closed:
                raise ClientClosed(CLOSED)
            run = RunTask(loop or self.loop_thread.start(), owner, settle)
            self._runs.add(run)

            def finished(task: asyncio.Task[Any]) -> None:
                with self.lock:
                    self._runs.discard(run)
                run.owner = None
                on_done(self.outcome(task))

            # Scheduled under the lock: a task on the loop thread exists before close() asks
            # the loop thread to cancel every task.
            run._start(make, finished)
        return run

    def outcome(self, task: asyncio.Task[Any]) -> Outcome:
        """How a finished run ended; a run that ``close()`` cut short ends with ClientClosed.

        ``close()`` cancels the runs before it stops the embedded server, so a run it ends sees
        the cancellation, never the connection breaking.
        """
        if task.cancelled():
            return ClientClosed(CLOSED_MID_RUN) if self.closed else asyncio.CancelledError()
        return task.exception()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and wait for its result.

        Raises:
            ClientClosed: the client is closed, or was closed before ``coro`` finished.
            WouldDeadlock: called on the loop thread, which would wait for itself.
        """
        if self.loop_thread.in_loop_thread():
            coro.close()
            raise WouldDeadlock(BLOCKING_CALL_IN_LOOP_THREAD)
        with self.lock:
            if self.closed:
                coro.close()
                raise ClientClosed(CLOSED)
            future = self.loop_thread.submit(coro)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self.closed:
                raise ClientClosed(CLOSED_MID_RUN) from None
            raise

    async def call_here(self, make: Callable[[], Coroutine[Any, Any, T]], owner: object) -> T:
        """Run ``make()`` on the running loop as a run ``close()`` can end, and return its result.

        Raises:
            ClientClosed: the client is closed, or was closed before the run finished.
        """
        run = self.launch(make, lambda _: None, owner, asyncio.get_running_loop())
        task = run.task
        assert task is not None  # made at once on the running loop
        try:
            result: T = await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if self.closed and not (me is not None and me.cancelling()):  # not our caller's
                raise ClientClosed(CLOSED_MID_RUN) from None
            raise
        return result

    def close(self) -> None:
        """End the runs in flight (their consumers get ClientClosed), close the loop thread and
        its session, then the embedded server (idempotent, thread-safe).

        Waits until all is released, except on the client's own threads (a ``subscribe()``
        callback), where a short-lived thread finishes the job once the callback returns.
        """
        with self.lock:
            first = not self.closed
            self.closed = True
            runs = list(self._runs)
            transport, backend = self.transport, self.backend
            idle, self._idle = self._idle, []
        own_thread = self.loop_thread.in_loop_thread() or (
            backend is not None and backend.in_own_thread()
        )
        if not first:
            if not own_thread:
                self._released.wait()
                if self._closer is not None and self._closer is not threading.current_thread():
                    self._closer.join()
            return
        for run in runs:
            run.cancel("the client was closed")
        if own_thread:
            self._closer = threading.Thread(
                target=self._release,
                args=(transport, backend, runs, idle),
                name="rxsubstrate-close",
            )
            self._closer.start()
        else:
            self._release(transport, backend, runs, idle)

    def _release(
        self,
        transport: Transport | None,
        backend: Backend | None,
        runs: list[RunTask],
        idle: list[DrivenLoop],
    ) -> None:
        try:
            for run in runs:
                if run.settle is not None:
                    run.settle()
            for driven in idle:
                driven.close()
            self.loop_thread.close(transport.aclose() if transport is not None else None)
            if backend is not None:
                backend.close()
        finally:
            self._released.set()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
