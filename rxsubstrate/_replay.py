"""Replaying a recorded run (``rxsubstrate._recording`` describes the format): ``replay(path,
speed)`` is a ``RunStream`` read from the file, at the pace of its marks.

The file's bytes go, unchanged and in order, through the client's own reading of a stream
(``_event_stream.read_events``): a replay gives the events a live client reading the same bytes
from a server gives, and ends the same way, with the same error after the same events. The marks
only say when each part of the file is handed over: the bytes after a mark ``: t=S`` (the mark
line included, which SSE reads as a comment) wait until ``S / speed`` seconds into the replay.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import weakref
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from ._client import RunStream
from ._config import Limits
from ._event_stream import Progress, Tap, read_events
from ._events import Event
from ._file_thread import FileThread
from ._lifetime import ClientLifetime

__all__ = ["MarkSplitter", "replay"]

MARK: Final = re.compile(rb"^: t=(\d{1,10}(?:\.\d{1,9})?)\n", re.MULTILINE)
_MARK_START: Final = b": t="
_MARK_MAX: Final = len(b": t=") + 10 + 1 + 9 + 1  # the longest mark line


def replay(
    path: str | os.PathLike[str], speed: float | None = 1.0, *, limits: Limits | None = None
) -> RunStream:
    """A recorded run as a cold Observable, like ``Substrate.stream``'s, read from ``path``.

    Each subscription (or iterator) reads the file anew; ``iter()``, ``async_iter()``,
    ``iter_events()``, ``async_iter_events()``, ``pipe`` and disposal (or ``break``) behave as
    they do for a live run, and so does the end: ``graph.result``, or after the events before
    the fault, the error a live run on the same bytes ends with: ``StreamInterrupted`` (a
    truncated file), ``MalformedEvent`` or ``EventTooLarge`` (a corrupted one). Where no event
    loop runs (``iter()``, ``subscribe`` outside a loop), the replay runs on a loop thread of its
    own, released once the stream is dropped.

    Args:
        path: a file written by ``record`` (or any SSE capture of a run, replayed at once).
        speed: 1.0 waits between reads as recorded (on the event loop's timers), 2.0 twice as
            fast; None replays as fast as the file is read. The marks are waited for as they
            are written: replay a file you do not trust with None, or under a timeout.
        limits: ``max_event_size`` bounds one event, as for a live run.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: ``speed`` is not a positive number or None.
    """
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise ValueError("speed is a positive number (1.0: as recorded), or None: at once")
    path = os.fspath(path)
    os.stat(path)  # a missing file fails here rather than at the first subscription
    return RunStream(_Replay(path, speed, limits or Limits()))


class _Replay:
    """The runs of a replay: each one reads the file; the replay owns its loop thread."""

    dag = None

    def __init__(self, path: str, speed: float | None, limits: Limits) -> None:
        self.path = path
        self.speed = speed
        self.limits = limits
        self.lifetime = ClientLifetime()
        weakref.finalize(self, self.lifetime.close)

    @property
    def max_buffered_batches(self) -> int:
        return self.limits.max_buffered_batches

    def prepare(self) -> None:
        pass

    async def open(self, tap: Tap | None = None) -> AsyncGenerator[list[Event], None]:
        return read_events(self._play, self.limits.max_event_size, tap)

    @asynccontextmanager
    async def _play(self, progress: Progress) -> AsyncIterator[_Playback]:
        file = FileThread(self.path, "rb")
        try:
            await file.open()
            yield _Playback(file, self.speed)
        finally:
            file.close()


class _Playback:
    """A recording's bytes, each part handed over when its mark's time has come."""

    def __init__(self, file: FileThread, speed: float | None) -> None:
        self._file = file
        self._speed = speed
        self._marks = MarkSplitter()
        self._parts: deque[tuple[float, bytes]] = deque()  # (seconds, bytes), in file order
        self._seconds = 0.0  # of the last mark read
        self._ended = False
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()

    async def read(self, n: int) -> bytes:
        """The next part of the file, once it is due (at most ``n`` bytes for an ``n`` longer
        than a mark line); ``b""`` at the end."""
        parts = self._parts
        while not parts:
            if self._ended:
                return b""
            data = await self._file.read(max(n - self._marks.holding, 1))
            self._ended = not data
            for seconds, part in self._marks.feed(data, end=self._ended):
                if seconds is not None:
                    self._seconds = seconds
                parts.append((self._seconds, part))
        seconds, part = parts.popleft()
        if self._speed is not None:
            wait = self._started + seconds / self._speed - self._loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        return part


class MarkSplitter:
    """Cuts a recording's bytes before each mark, however they are read.

    ``feed`` returns ``(seconds, part)`` pairs: a part that begins with a mark line carries its
    seconds, a part that goes on from the bytes before it None. Joined, the parts are exactly the
    bytes fed. At most one line shorter than the longest mark is held back between calls.
    """

    def __init__(self) -> None:
        self._held = b""  # the start of a line that may still become a mark
        self._line_start = True  # the next byte fed begins a line

    @property
    def holding(self) -> int:
        """How many bytes are held back (fewer than the longest mark line)."""
        return len(self._held)

    def feed(self, data: bytes, end: bool = False) -> list[tuple[float | None, bytes]]:
        """Split ``data`` (``end``: the last of the bytes, nothing held back)."""
        buf = self._held + data
        at_line_start = self._line_start or bool(self._held)
        self._held = b""
        if not end:
            cut = buf.rfind(b"\n") + 1
            last = buf[cut:]
            if (
                (cut or at_line_start)
                and len(last) < _MARK_MAX
                and (last.startswith(_MARK_START) or _MARK_START.startswith(last))
            ):
                buf, self._held = buf[:cut], last
        if buf:
            self._line_start = buf.endswith(b"\n")
        starts = [0]
        marks: list[float | None] = [None]
        for match in MARK.finditer(buf):
            if match.start() or at_line_start:
                starts.append(match.start())
                marks.append(float(match.group(1)))
        starts.append(len(buf))
        return [
            (marks[i], buf[starts[i] : starts[i + 1]])
            for i in range(len(marks))
            if starts[i] < starts[i + 1]
        ]
