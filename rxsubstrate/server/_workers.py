"""Worker processes for ``rxsubstrate serve --workers N``: kept alive, watched, stopped on time.

The supervisor starts N spawned processes that serve the same listening socket, and then only
watches them:

- a worker that exits is replaced, with a log line; one that dies within ``STABLE_AFTER``
  seconds of its start waits a doubling backoff first (up to ``MAX_BACKOFF``), so a crash loop
  does not spin, and if ``MAX_BOOT_FAILURES`` workers in a row die before serving at all the
  supervisor gives up (exit status 1: the configuration is broken);
- each worker's event loop sends a heartbeat byte down a pipe every ``worker_timeout / 4``
  seconds; a worker silent for ``worker_timeout`` seconds (its loop blocked, or the process
  stopped) is killed and replaced (before its first beat it has at least ``BOOT_TIMEOUT``). A
  worker whose heartbeat finds the pipe closed (the supervisor is gone) shuts itself down;
- on SIGINT or SIGTERM every worker gets SIGTERM and one deadline, ``shutdown_timeout`` seconds
  from then, for all of them; those still running then are killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

__all__ = ["Heartbeat", "supervise"]

STABLE_AFTER: Final = 10.0
FIRST_BACKOFF: Final = 0.1
MAX_BACKOFF: Final = 30.0
MAX_BOOT_FAILURES: Final = 5
# The least time a new worker gets to import, build its app and send its first heartbeat.
BOOT_TIMEOUT: Final = 30.0
# Beyond the graceful shutdown, the time a worker gets to exit once its runs are cancelled.
_EXIT_GRACE: Final = 2.0
_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_log = logging.getLogger("rxsubstrate.serve")

# A worker's entry point: (listening socket, heartbeat pipe, heartbeat interval, *args).
Target = Callable[..., None]


@dataclasses.dataclass
class _Slot:
    """One of the N places a worker fills; its current process, if any."""

    index: int
    process: BaseProcess | None = None
    beats: Connection | None = None
    started: float = 0.0
    last_beat: float = 0.0
    served: bool = False
    quick_deaths: int = 0
    restart_at: float | None = 0.0


def supervise(
    sock: socket.socket,
    target: Target,
    args: tuple[Any, ...],
    *,
    workers: int,
    worker_timeout: float,
    shutdown_timeout: float,
) -> int:
    """Run ``workers`` processes of ``target`` on ``sock`` until SIGINT or SIGTERM.

    Blocks the calling (main) thread, whose SIGINT and SIGTERM handlers it replaces meanwhile.

    Args:
        sock: the bound, listening socket every worker serves.
        target: the worker's entry point, called as ``target(sock, beats, interval, *args)``; it
            must run a ``Heartbeat`` on ``beats`` every ``interval`` seconds from its loop.
        args: the rest of ``target``'s arguments (picklable).
        workers: how many processes.
        worker_timeout: seconds of heartbeat silence after which a worker is killed.
        shutdown_timeout: seconds the workers get, all together, to stop gracefully.

    Returns:
        The exit status: 0 after a stop signal, 1 if workers kept failing to start.
    """
    supervisor = _Supervisor(sock, target, args, workers, worker_timeout)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)

    def on_signal(_signum: int, _frame: object) -> None:
        with contextlib.suppress(BlockingIOError):  # a byte is there already
            os.write(wake_write, b"!")

    previous = {sig: signal.signal(sig, on_signal) for sig in _STOP_SIGNALS}
    try:
        return supervisor.run(wake_read)
    finally:
        supervisor.stop(shutdown_timeout + _EXIT_GRACE)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)


class _Supervisor:
    def __init__(
        self,
        sock: socket.socket,
        target: Target,
        args: tuple[Any, ...],
        workers: int,
        worker_timeout: float,
    ) -> None:
        self._sock = sock
        self._target = target
        self._args = args
        self._timeout = worker_timeout
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i) for i in range(workers)]
        self._boot_failures = 0

    def run(self, wake: int) -> int:
        """Watch the workers until ``wake`` is readable (a stop signal) or they cannot start."""
        while True:
            now = time.monotonic()
            for slot in self._slots:
                if slot.restart_at is not None and slot.restart_at <= now:
                    self._start(slot)
            waitables: dict[Any, _Slot] = {}
            for slot in self._slots:
                if slot.process is not None and slot.beats is not None:
                    waitables[slot.process.sentinel] = slot
                    waitables[slot.beats] = slot
            ready = wait([wake, *waitables], self._next_check(now))
            if wake in ready:
                return 0
            now = time.monotonic()
            for obj in ready:
                slot = waitables[obj]
                if obj is slot.beats:
                    self._read_beats(slot, now)
                elif slot.process is not None and obj == slot.process.sentinel:
                    self._reap(slot, now)
            for slot in self._slots:
                if slot.process is not None and now > self._deadline(slot):
                    _log.error(
                        "worker %d (pid %s) sent no heartbeat for %.1f s; killing it",
                        slot.index,
                        slot.process.pid,
                        now - slot.last_beat,
                    )
                    slot.process.kill()
                    slot.last_beat = now  # reaped when its sentinel fires
            if self._boot_failures >= MAX_BOOT_FAILURES:
                _log.error("%d workers in a row died before serving; stopping", MAX_BOOT_FAILURES)
                return 1

    def _deadline(self, slot: _Slot) -> float:
        """When the slot's worker is overdue if no heartbeat comes."""
        return slot.last_beat + (self._timeout if slot.served else max(self._timeout, BOOT_TIMEOUT))

    def _next_check(self, now: float) -> float:
        times = [s.restart_at for s in self._slots if s.restart_at is not None]
        times += [self._deadline(s) for s in self._slots if s.process is not None]
        return max(0.0, min(times, default=now + self._timeout) - now) + 0.01

    def _start(self, slot: _Slot) -> None:
        beats, beats_writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=self._target,
            args=(self._sock, beats_writer, self._timeout / 4, *self._args),
            name=f"rxsubstrate-worker-{slot.index}",
            daemon=True,
        )
        process.start()
        beats_writer.close()  # the worker holds the only writer: its exit closes the pipe
        now = time.monotonic()
        slot.process, slot.beats = process, beats
        slot.started = slot.last_beat = now
        slot.served, slot.restart_at = False, None
        _log.info("worker %d started (pid %s)", slot.index, process.pid)

    def _read_beats(self, slot: _Slot, now: float) -> None:
        assert slot.beats is not None
        try:
            got = os.read(slot.beats.fileno(), 4096)
        except OSError:
            got = b""
        if got:
            slot.last_beat = now
            if not slot.served:
                slot.served = True
                self._boot_failures = 0
                assert slot.process is not None
                _log.info("worker %d (pid %s) is serving", slot.index, slot.process.pid)
        # Nothing read: the worker closed the pipe, exiting; its sentinel says so next.

    def _reap(self, slot: _Slot, now: float) -> None:
        process, beats = slot.process, slot.beats
        assert process is not None
        assert beats is not None
        process.join()
        beats.close()
        slot.process = slot.beats = None
        if not slot.served:
            self._boot_failures += 1
        lived = now - slot.started
        slot.quick_deaths = 0 if lived >= STABLE_AFTER else slot.quick_deaths + 1
        delay = 0.0 if slot.quick_deaths == 0 else FIRST_BACKOFF * 2 ** (slot.quick_deaths - 1)
        delay = min(delay, MAX_BACKOFF)
        slot.restart_at = now + delay
        _log.error(
            "worker %d (pid %s) %s after %.1f s; starting another in %.1f s",
            slot.index,
            process.pid,
            _how_it_ended(process.exitcode),
            lived,
            delay,
        )

    def stop(self, timeout: float) -> None:
        """SIGTERM every worker, then kill those still running ``timeout`` seconds later."""
        running = [s.process for s in self._slots if s.process is not None]
        for process in running:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in running:
            if process.is_alive():
                _log.error("worker pid %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
        for slot in self._slots:
            if slot.beats is not None:
                slot.beats.close()
            slot.process = slot.beats = None


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"was killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"


class Heartbeat:
    """A worker's side: a byte down the supervisor's pipe from the event loop, every ``interval``.

    Runs on the loop that ``start`` is called from, so the beats stop when that loop stops
    answering. ``on_orphaned`` is called (on that loop) when the supervisor is gone.
    """

    def __init__(self, beats: Connection, interval: float, on_orphaned: Callable[[], None]) -> None:
        self._beats = beats  # kept: the pipe closes when the Connection is collected
        self._fd = beats.fileno()
        os.set_blocking(self._fd, False)
        self._interval = interval
        self._on_orphaned = on_orphaned
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_soon(self._beat)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _beat(self) -> None:
        try:
            os.write(self._fd, b".")
        except BlockingIOError:  # the pipe is full: the supervisor has beats to read
            pass
        except BrokenPipeError:
            _log.error("the supervisor is gone; stopping")
            self._handle = None
            self._on_orphaned()
            return
        self._handle = asyncio.get_running_loop().call_later(self._interval, self._beat)
