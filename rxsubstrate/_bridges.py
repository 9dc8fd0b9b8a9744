"""Bridges from a run to the iterators of the official SDK: ``iter``, ``async_iter``,
``iter_events``, ``async_iter_events``.

Every run has a task of its own, tracked by the client so that ``close()`` can end it, which
closes the response however the run ends: nothing is left for the event loop's generator
finalizers to close, so an iterator that is dropped, closed or cancelled ends its run quietly.

``async_iter`` reads on the caller's loop as its consumer asks (pull-based, one batch at a
time), the run's task standing by to close the response. ``iter`` where no event loop runs (the
common case) is ``async_iter`` on a loop the client lends the iterator, which the calling
thread runs while it waits for the next batch (``DrivenLoop``): reading, decoding and consuming
share one thread; the loop, with its session's pooled connections, goes back to the client for
the next ``iter()``. Inside a running loop, ``iter`` reads on the client's loop thread instead
and hands batches (one per network read) to the calling thread through a bounded channel: when
``Limits.max_buffered_batches`` are waiting, the reader stops reading the socket until the
consumer takes one, so TCP flow control pushes back on the server and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Sequence,
)
from contextlib import aclosing
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from ._channel import Channel
from ._errors import ClientClosed, StreamConsumed, WouldDeadlock
from ._events import Event
from ._lifetime import CLOSED_MID_RUN
from ._sse_writer import sdk_sse

if TYPE_CHECKING:
    from ._lifetime import ClientLifetime, Outcome

__all__ = [
    "SSEText",
    "async_iterate",
    "iterate",
    "same_batch",
    "sse_batch",
]

T = TypeVar("T")
_log = logging.getLogger("rxsubstrate.client")
OpenBatches = Callable[[], Awaitable[AsyncGenerator[list[Event], None]]]


def sse_batch(batch: list[Event]) -> list[str]:
    """A batch of events as the official SDK's ``iter_events()`` writes them, one per event."""
    return [sdk_sse(event) for event in batch]


def same_batch(batch: list[Event]) -> list[Event]:
    return batch


async def _fill(channel: Channel[list[Event]], open_batches: OpenBatches) -> None:
    """The run's batches into ``channel``, on the loop thread; reading pauses while it is full."""
    async with aclosing(await open_batches()) as batches:
        async for batch in batches:
            channel.put(batch)
            del batch  # the channel holds it; not this frame while the next read waits
            if channel.full():
                await channel.space()


def iterate(
    open_batches: OpenBatches, lifetime: ClientLifetime, capacity: int, owner: object
) -> Generator[Event, None, None]:
    """The run's events on the calling thread; closing (or dropping) the iterator cancels it.

    Where no event loop runs, the run is read on a loop the client lends this iterator, which
    it runs while it waits for events (``DrivenLoop``); where one runs, on the client's loop thread.
    """
    if asyncio._get_running_loop() is None:
        return (yield from _read_here(open_batches, lifetime, owner))
    if lifetime.loop_thread.in_loop_thread():
        raise WouldDeadlock(
            "iter() would block the client's loop thread, which delivers subscribe() callbacks;"
            " use async_iter() or subscribe() there instead"
        )
    channel: Channel[list[Event]] = Channel(capacity)
    # The run's outcome (a CancelledError when this consumer left) follows what waits.
    run = lifetime.launch(lambda: _fill(channel, open_batches), channel.finish, owner)
    try:
        while (batches := channel.take()) is not None:
            for batch in batches:
                yield from batch
    finally:
        run.cancel("its iterator was closed (break, close() or dropped)")


def _read_here(
    open_batches: OpenBatches, lifetime: ClientLifetime, owner: object
) -> Generator[Event, None, None]:
    """``iter()`` on a thread where no loop runs: ``async_iterate`` on a loop the client lends
    it (``ClientLifetime.driven_loop``), run one batch at a time, as the consumer asks (reading
    ahead would only fill the CPU's caches with events that wait)."""
    driven = lifetime.driven_loop()
    batches = async_iterate(open_batches, lifetime, owner, _whole, settle=driven.close)
    # Once the client's close() has closed the loop, the run is over.
    take = partial(driven.run, partial(anext, batches, None), _closed_mid_run)
    try:
        while (batch := take()) is not None:
            yield from batch
    except GeneratorExit:
        _log.debug("cancelling a run: its iterator was closed (break, close() or dropped)")
        raise
    finally:
        # Closes the generator, and the run's response; the loop, with its session's pooled
        # connections, waits for the client's next iter().
        lifetime.give_back(driven, batches.aclose)


def _whole(batch: list[Event]) -> tuple[list[Event]]:
    return (batch,)


def _closed_mid_run() -> list[Event] | None:
    raise ClientClosed(CLOSED_MID_RUN)


class _Owned:
    """A run read by its consumer on the running loop, and what the run's task needs to close
    its response without touching it while the consumer reads.

    An async generator (the response) must be closed by one task, never by two at once: not by
    the consumer's generator and the loop's ``shutdown_asyncgens`` together, which is how
    ``break`` at the end of ``asyncio.run`` used to fail. Here the run's task closes it, and
    ``asyncio.run`` waits for that task before it closes generators.
    """

    __slots__ = ("_left", "_released", "batches", "closing", "interrupted", "reader")

    def __init__(
        self, batches: AsyncGenerator[list[Event], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.batches = batches
        self.reader: asyncio.Task[Any] | None = None  # the task inside a read, if any
        self.closing = False  # the run's task closes the response: no more reads
        self.interrupted = False  # the run's task cancelled the reader to end its read
        self._released = loop.create_future()
        self._left: asyncio.Future[None] | None = None

    def release(self) -> None:
        """The consumer is done with the run (its generator ended, was closed or dropped)."""
        if not self._released.done():
            self._released.set_result(None)

    def leave(self) -> None:
        """The consumer's read is over."""
        self.reader = None
        if self._left is not None and not self._left.done():
            self._left.set_result(None)

    async def own(self) -> None:
        """The run's task: waits until the consumer lets go of the run or ``close()`` cancels
        it, then closes the response; a read in progress is ended first, as
        ``asyncio.timeout`` ends a wait (cancel the reader, which takes the cancellation back).
        """
        try:
            await self._released
        finally:
            self.closing = True
            if self.reader is not None:
                self.interrupted = True
                self._left = asyncio.get_running_loop().create_future()
                self.reader.cancel()
                await self._left
            await self.batches.aclose()


async def async_iterate(
    open_batches: OpenBatches,
    lifetime: ClientLifetime,
    owner: object,
    transform: Callable[[list[Event]], Sequence[T]],
    settle: Callable[[], None] | None = None,
) -> AsyncGenerator[T, None]:
    """A run's items on the running loop, read as the consumer asks for them.

    The run starts on the first ``__anext__``. Closing the generator (or dropping it after a
    ``break``), or cancelling the task that reads it (a web framework whose client went away),
    ends the run. ``close()`` on the client ends it with ``ClientClosed``, after the items of
    the batch in hand.

    Args:
        open_batches: opens the run's response (``Transport.stream_batches``).
        lifetime: the client's; it tracks the run so that ``close()`` can end it.
        owner: kept alive while the run is in flight.
        transform: applied to each batch on its way out.
        settle: how ``close()`` runs the loop until the run is over when only its consumer
            runs it (``DrivenLoop.close``).
    """
    loop = asyncio.get_running_loop()
    run = _Owned(await open_batches(), loop)
    lifetime.launch(run.own, _ignore, owner, loop, settle)
    batches = run.batches
    try:
        while not run.closing:
            reader = run.reader = asyncio.current_task()
            try:
                batch = await anext(batches)
            except StopAsyncIteration:
                return
            except asyncio.CancelledError:
                if run.interrupted and reader is not None and reader.uncancel() == 0:
                    raise ClientClosed(CLOSED_MID_RUN) from None
                raise
            finally:
                run.leave()
            for item in transform(batch):
                yield item
            del batch  # a run waiting for its server holds no events
        raise ClientClosed(CLOSED_MID_RUN)
    except (GeneratorExit, asyncio.CancelledError):
        if not run.closing:
            _log.debug("cancelling a run: its async iterator was closed or its task cancelled")
        raise
    finally:
        run.release()


def _ignore(outcome: Outcome) -> None:
    """The run's task ends with its response closed; the consumer reports how the run ended."""


class SSEText(Iterator[str]):
    """The run as SSE text: a sync iterator that an async framework may also read with
    ``async for``.

    Starlette's ``StreamingResponse`` (FastAPI) prefers ``async for`` when it can: the run is
    then read on the server's own loop, with no worker thread blocked on it, and ends as soon as
    the response is cancelled because its client went away.
    """

    def __init__(
        self,
        events: Callable[[], Generator[Event, None, None]],
        text: Callable[[], AsyncIterator[str]],
    ) -> None:
        self._open_events = events
        self._open_text = text
        self._events: Generator[Event, None, None] | None = None
        self._async_started = False

    def __next__(self) -> str:
        events = self._events
        if events is None:
            self._check_unused()
            events = self._events = self._open_events()
        return sdk_sse(next(events))

    def __aiter__(self) -> AsyncIterator[str]:
        self._check_unused()
        self._async_started = True
        return self._open_text()

    def _check_unused(self) -> None:
        if self._async_started or self._events is not None:
            raise StreamConsumed("iter_events() is read either with for or with async for, once")

    def close(self) -> None:
        """Cancel the run (what a generator's ``close`` does)."""
        events = self._events
        if events is not None:
            events.close()
