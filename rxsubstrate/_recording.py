"""Recording a run: its stream as it came, with the time of each read, in a file any SSE tool
reads; ``rxsubstrate.replay`` plays it back.

The format (version 1) is a valid ``text/event-stream``, written with LF line ends::

    : rxsubstrate recording 1 (": t=S" marks what follows as read S seconds into the run)

    : t=0.184

    data: {"object":"node.delta","node_id":"ComputeText_1","data":{"text":"Wind"}}

    : t=0.191

    data: {"object":"node.delta","node_id":"ComputeText_1","data":{"text":"mills"}}

    data: {"object":"node.result","node_id":"ComputeText_1","data":{"text":"Windmills"}}

    data: {"object":"graph.result","data":{"data":{"ComputeText_1":{"text":"Windmills"}}}}

- A *mark*, the comment line ``: t=S`` alone in its block, comes before the events of each
  read of the server's answer: ``S`` is the seconds (three decimals) from the start of the run,
  before its request was sent, to that read. Marks never decrease. A mark is a block of its own
  so that every event's block is as large as it was on the wire (``Limits.max_event_size``
  applies alike); a reader takes ``: t=`` then 1 to 10 digits, optionally ``.`` and 1 to 9
  digits, then LF, at the start of a line, as a mark.
- Each event is ``data:`` lines holding its data exactly as the server sent it (one line for
  Substrate's JSON), then a blank line. The data is not re-encoded: fields and events this
  version does not know, and even a malformed event, replay as they came. Comments and the
  ``event:``, ``id:`` and ``retry:`` fields, which the client does not read, are not kept.
- The recording ends with the run's ``graph.result``. A run that failed leaves the events
  before the failure (and a malformed event itself): its replay ends with
  ``StreamInterrupted`` (or that ``MalformedEvent``), where the live run may have ended with
  a timeout or an ``EventTooLarge``.
- The first block, a comment, names the format. A reader needs neither it nor the marks: any
  SSE capture of a run replays, all at once.

Each read's events are written and flushed (to the OS, from a thread of the file's own) before
the consumer gets them: if the process dies, the file is a valid recording of everything read so
far, and a recording holds one read at a time in memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final

from ._client import RunStream
from ._events import Event, GraphResult
from ._file_thread import FileThread
from ._sse import encode_sse

if TYPE_CHECKING:
    from ._client import RunSource
    from ._event_stream import Tap
    from ._lifetime import ClientLifetime

__all__ = ["HEADER", "async_record", "record", "recorded"]

HEADER: Final = (
    b': rxsubstrate recording 1 (": t=S" marks what follows as read S seconds into the run)\n\n'
)


def recorded(stream: RunStream, path: str | os.PathLike[str]) -> RunStream:
    """``stream``, also written to ``path`` as a recording while it is read.

    Each subscription (or iterator) runs once and writes the file anew; each read's events
    reach the consumer once they are in the file. The writing is done on a thread of the file's
    own. A file that cannot be written ends the run with the ``OSError``.
    """
    return RunStream(_Recorded(_source_of(stream), os.fspath(path)))


def record(stream: RunStream, path: str | os.PathLike[str]) -> GraphResult:
    """Run ``stream`` once, writing it to ``path`` as a recording (the format is described in
    ``rxsubstrate._recording``); return its ``graph.result``.

    Blocks the calling thread; the run goes on its client's loop thread, as ``iter()``'s does.
    ``replay(path)`` plays the file back.

    Raises:
        SubstrateError: the run failed; the file holds what arrived before the failure.
        OSError: the file cannot be written.
    """
    last: Event | None = None
    for last in recorded(stream, path).iter():  # noqa: B007  (the last one is the result)
        pass
    assert isinstance(last, GraphResult)  # a run that did not fail ended with its result
    return last


async def async_record(stream: RunStream, path: str | os.PathLike[str]) -> GraphResult:
    """``record`` on the running loop."""
    last: Event | None = None
    async for last in recorded(stream, path).async_iter():  # noqa: B007
        pass
    assert isinstance(last, GraphResult)
    return last


def _source_of(stream: RunStream) -> RunSource:
    if not isinstance(stream, RunStream):
        raise TypeError(
            "a recording is made of a RunStream (substrate.stream(...) or replay(...)),"
            f" not {type(stream).__name__}; record the run before piping it"
        )
    return stream._source


class _Recorded:
    """A source's runs, each one also written to ``path``."""

    def __init__(self, source: RunSource, path: str) -> None:
        self.source = source
        self.path = path

    @property
    def dag(self) -> dict[str, Any] | None:
        return self.source.dag

    @property
    def lifetime(self) -> ClientLifetime:
        return self.source.lifetime

    @property
    def max_buffered_batches(self) -> int:
        return self.source.max_buffered_batches

    def prepare(self) -> None:
        self.source.prepare()

    async def open(self, tap: Tap | None = None) -> AsyncGenerator[list[Event], None]:
        recording = _Recording(self.path)
        try:
            await recording.start()
            write = recording.write if tap is None else _both(recording.write, tap)
            batches = await self.source.open(write)
        except BaseException:
            recording.close()
            raise
        return _then_close(batches, recording)


class _Recording:
    """One recording being written: a mark, then the events of each read."""

    def __init__(self, path: str) -> None:
        self._file = FileThread(path, "wb")
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()

    async def start(self) -> None:
        await self._file.open()
        await self._file.write(HEADER)

    async def write(self, payloads: list[bytes]) -> None:
        seconds = self._loop.time() - self._started
        await self._file.write(b": t=%.3f\n\n" % seconds + b"".join(map(encode_sse, payloads)))

    def close(self) -> None:
        self._file.close()


def _both(first: Tap, second: Tap) -> Tap:
    async def both(payloads: list[bytes]) -> None:
        await first(payloads)
        await second(payloads)

    return both


async def _then_close(
    batches: AsyncGenerator[list[Event], None], recording: _Recording
) -> AsyncGenerator[list[Event], None]:
    try:
        async with aclosing(batches):
            async for batch in batches:
                yield batch
                del batch  # not held while the next one waits
    finally:
        recording.close()
