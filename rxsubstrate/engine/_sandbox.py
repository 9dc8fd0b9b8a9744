"""The sandbox: a small pool of processes that evaluate jq and jinja where they can be stopped.

Each worker (``_sandbox_worker``) is a fresh interpreter with no environment, an empty working
directory and resource limits. One daemon thread per worker slot takes tasks from a queue, writes
each to its worker and waits for the reply against the wall-clock ``timeout``: a worker that
overruns is killed, one that dies (over its memory or CPU time) is reaped, and the task gets an
``over`` reply saying which budget; the next task starts a new worker. Nothing starts until the
first task, so a graph without jq or jinja never pays for a process.

Why not pebble or ``multiprocessing``: their workers start from the ``multiprocessing`` spawn or
forkserver machinery, which runs the parent's ``__main__`` again in each worker (an embedded
``Substrate()`` lives in the user's own script, guarded or not) and hands it the parent's
environment, keys included, before any initializer could clear it; ``fork`` would copy the whole
server, keys and threads included. A plain ``subprocess`` with ``env=`` has none of these problems,
and the pool around it is a queue and a few threads.

Thread-safety: ``Sandbox.submit`` and ``close`` may be called from any thread; a ``Task`` may be
waited for synchronously (``result``) or on any event loop (``wait``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from typing import IO, Any, Final

import msgspec

from .._errors import SandboxFailed
from . import _sandbox_worker as worker
from ._limits import DirectiveLimits

__all__ = ["Sandbox", "Task"]

_START_TIMEOUT: Final = 20.0  # seconds for a new worker to import jq and jinja2 and say ready
_REPLY_OVERHEAD: Final = 64 * 1024
_JSON_EXPANSION: Final = 6  # a character is at most 6 bytes of JSON (\u001f)
_reply_decoder: Final = msgspec.json.Decoder(worker.Reply)


class Sandbox:
    """The engine's sandbox processes: started on first use, stopped by ``close``.

    A closed sandbox starts again on its next task, so an engine stays usable after
    ``Engine.close()``.

    Args:
        limits: the timeout, memory, CPU time and number of workers.
    """

    def __init__(self, limits: DirectiveLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._pool: _Pool | None = None
        self._stop: weakref.finalize[Any, Any] | None = None

    def submit(self, op: worker.Op, text: str, value: Any = None, max_size: int = 0) -> Task:
        """Queue one task; ``value`` must be JSON-encodable (it is sent as JSON)."""
        request = worker.Request(op, text, msgspec.Raw(msgspec.json.encode(value)), max_size)
        task = Task(msgspec.json.encode(request))
        with self._lock:
            if self._pool is None:
                self._pool = _Pool(self.limits)
                # An engine that is never closed still leaves no process behind.
                self._stop = weakref.finalize(self, self._pool.close)
            self._pool.put(task)
        return task

    @property
    def started(self) -> bool:
        """True while worker processes may be running (between first use and ``close``)."""
        return self._pool is not None

    def close(self) -> None:
        """Kill every worker and fail the tasks still queued (idempotent, blocking)."""
        with self._lock:
            stop, self._stop, self._pool = self._stop, None, None
        if stop is not None:
            stop()


class Task:
    """One queued task; its outcome is a ``Reply`` (``over`` when a budget ran out).

    ``result`` and ``wait`` raise ``SandboxFailed`` when the sandbox could not run it.
    """

    def __init__(self, request: bytes) -> None:
        self.request = request
        self._future: concurrent.futures.Future[worker.Reply] = concurrent.futures.Future()
        self._lock = threading.Lock()
        self._slot: _Slot | None = None
        self.abandoned = False

    def result(self) -> worker.Reply:
        """Block until the reply (every task ends within its timeout once a worker takes it)."""
        return self._future.result()

    async def wait(self) -> worker.Reply:
        """The reply, awaited on the running loop; cancelling kills the worker running it."""
        try:
            return await asyncio.wrap_future(self._future)
        except asyncio.CancelledError:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Drop the task if it is still queued; kill its worker if it is running."""
        if self._future.cancel():
            return
        with self._lock:
            self.abandoned = True
            slot = self._slot
        if slot is not None:
            slot.kill(self)

    def start(self, slot: _Slot) -> bool:
        with self._lock:
            if not self._future.set_running_or_notify_cancel():
                return False
            self._slot = slot
            return True

    def finish(self, outcome: worker.Reply | SandboxFailed) -> None:
        with self._lock:
            self._slot = None
        if isinstance(outcome, SandboxFailed):
            self._future.set_exception(outcome)
        else:
            self._future.set_result(outcome)


class _Pool:
    """One generation of workers: a task queue and ``limits.workers`` slots."""

    def __init__(self, limits: DirectiveLimits) -> None:
        self.limits = limits
        self.home = tempfile.mkdtemp(prefix="rxsubstrate-sandbox-")
        self.closed = False
        self.tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._slots = [_Slot(self, index) for index in range(limits.workers)]

    def put(self, task: Task) -> None:
        self.tasks.put(task)

    def close(self) -> None:
        self.closed = True
        for slot in self._slots:
            self.tasks.put(None)
            slot.kill(None)
        for slot in self._slots:
            slot.join()
        while True:  # tasks queued behind the stop marks
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None and task.start(self._slots[0]):
                task.finish(SandboxFailed("the engine was closed"))
        shutil.rmtree(self.home, ignore_errors=True)


class _Slot:
    """A daemon thread and the worker process it talks to (started when a task needs it)."""

    def __init__(self, pool: _Pool, index: int) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._current: Task | None = None
        self._thread = threading.Thread(
            target=self._serve, name=f"rxsubstrate-sandbox-{index}", daemon=True
        )
        self._thread.start()

    def kill(self, task: Task | None) -> None:
        """Kill the worker if it runs ``task`` (any worker, idle or not, when ``task`` is None)."""
        with self._lock:
            if self._process is not None and (task is None or self._current is task):
                self._process.kill()

    def join(self) -> None:
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        try:
            while (task := self._pool.tasks.get()) is not None:
                if not task.start(self):
                    continue
                with self._lock:
                    self._current = task
                try:
                    outcome = self._run(task)
                except SandboxFailed as failure:
                    outcome = failure
                except Exception as exc:  # this thread must outlive any surprise; the task fails
                    self._stop_worker()
                    outcome = SandboxFailed(f"the directive sandbox failed: {exc!r}")
                finally:
                    with self._lock:
                        self._current = None
                task.finish(outcome)
        finally:
            self._stop_worker()

    def _run(self, task: Task) -> worker.Reply | SandboxFailed:
        if self._pool.closed:
            return SandboxFailed("the engine was closed")
        try:
            process = self._send(task.request)
        except BrokenPipeError:
            # The worker died while idle (killed from outside): not this task's doing.
            self._stop_worker()
            if task.abandoned:
                return SandboxFailed("the task was cancelled")
            process = self._send(task.request)
        limits = self._pool.limits
        max_size = limits.value_size * _JSON_EXPANSION + _REPLY_OVERHEAD
        try:
            frame = _read_frame(process.stdout, time.monotonic() + limits.timeout, max_size)
        except TimeoutError:
            self._stop_worker()
            return worker.Reply("over", f"over budget (time): more than {limits.timeout:g} s")
        except _FrameTooLarge:
            self._stop_worker()
            return worker.Reply("over", "the result is over budget: its output is too large")
        if frame is None:
            return worker.Reply("over", self._died())
        reply = _reply_decoder.decode(frame)
        if reply.status == "over":
            self._stop_worker()  # it exits after an over-budget reply
        return reply

    def _send(self, request: bytes) -> subprocess.Popen[bytes]:
        """Write ``request`` to the worker (started if need be); the worker.

        Raises:
            SandboxFailed: no worker could be started.
            BrokenPipeError: the worker is gone.
        """
        process = self._worker()
        _write_frame(process.stdin, request)
        return process

    def _worker(self) -> subprocess.Popen[bytes]:
        with self._lock:
            process = self._process
        if process is not None:
            if process.poll() is None:
                return process
            self._stop_worker()  # it died while idle (killed from outside)
        pool = self._pool
        config = {"memory": pool.limits.memory, "cpu": pool.limits.cpu_seconds}
        paths = [p for p in sys.path if p and os.path.isabs(p)]
        try:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-B",
                    "-c",
                    worker.BOOTSTRAP,
                    msgspec.json.encode(paths).decode(),
                    os.path.abspath(worker.__file__),
                    msgspec.json.encode(config).decode(),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env={"HOME": pool.home},
                cwd=pool.home,
                start_new_session=True,  # a Ctrl-C in the terminal is the server's, not theirs
            )
        except OSError as exc:
            raise SandboxFailed(f"the directive sandbox could not start: {exc}") from None
        with self._lock:
            self._process = process
        try:
            ready = _read_frame(process.stdout, time.monotonic() + _START_TIMEOUT, 64)
        except (TimeoutError, _FrameTooLarge):
            ready = None
        if ready != worker.READY:
            self._stop_worker()
            raise SandboxFailed("the directive sandbox could not start: its process did not answer")
        return process

    def _died(self) -> str:
        """Reap the worker that closed its pipe, and say which budget killed it."""
        status = self._stop_worker()
        limits = self._pool.limits
        if status == -signal.SIGXCPU:
            return f"over budget (CPU time): more than {limits.cpu_seconds} s"
        if status in (-signal.SIGABRT, worker.EXIT_MEMORY):
            return f"over budget (memory): more than {limits.memory // (1024 * 1024)} MiB"
        how = f"signal {-status}" if status < 0 else f"exit status {status}"
        return f"over budget: the evaluation ended its sandbox process ({how})"

    def _stop_worker(self) -> int:
        """Kill and reap the worker (if any); its exit status."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return 0
        if process.poll() is None:
            try:
                process.wait(timeout=0.05)  # it may be on its way out on its own
            except subprocess.TimeoutExpired:
                process.kill()
        status = process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        return status


class _FrameTooLarge(Exception):
    pass


def _write_frame(pipe: IO[bytes] | None, data: bytes) -> None:
    assert pipe is not None
    pipe.write(worker.HEADER.pack(len(data)) + data)
    pipe.flush()


def _read_frame(pipe: IO[bytes] | None, deadline: float, max_size: int) -> bytes | None:
    """One frame, or None at EOF.

    Raises:
        TimeoutError: not whole by ``deadline`` (``time.monotonic``).
        _FrameTooLarge: it announces more than ``max_size`` bytes.
    """
    assert pipe is not None
    fd = pipe.fileno()
    header = worker.read_exactly(fd, worker.HEADER.size, deadline)
    if header is None:
        return None
    size = worker.HEADER.unpack(header)[0]
    if size > max_size:
        raise _FrameTooLarge
    return worker.read_exactly(fd, size, deadline)
