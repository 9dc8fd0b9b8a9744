"""``iterate`` and ``aiterate``: any Observable of a run (a pipeline, ``merge_runs``,
``stream_many`` ...) read with ``for`` or ``async for``.

Both subscribe when the iteration starts and put what the source emits, on whatever thread it
emits, in a bounded ``Channel`` that the consumer empties. A run underneath is paced by it: while
it is full, the run stops reading its response (``pacing()``). Breaking out of the loop (or
closing or dropping the iterator) disposes the subscription, which cancels the runs under it.

How a run finds the channel that paces it: ``iterate`` sets it in a context variable while it
subscribes, and a ``RunStream`` reads it in its own subscribe. The operators in between pass the
subscription on synchronously (or, like ``stream_many``, later, from a context copied from that
one), so every run subscribed for this iteration is paced by it, and no other.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from contextvars import ContextVar
from typing import Any, Final, TypeVar

from reactivex import Observable
from reactivex.disposable import SingleAssignmentDisposable

from ._channel import Channel
from ._errors import BufferOverflow, WouldDeadlock

__all__ = ["DEFAULT_BUFFER", "aiterate", "iterate", "pacing"]

T = TypeVar("T")
DEFAULT_BUFFER: Final = 1024
_log = logging.getLogger("rxsubstrate.client")
_pacing: ContextVar[Channel[Any] | None] = ContextVar("rxsubstrate_pacing", default=None)


def pacing() -> Channel[Any] | None:
    """The channel of the iteration being subscribed, if any: a run's reader awaits
    ``space()`` on it whenever it is ``full()``."""
    return _pacing.get()


def iterate(source: Observable[T], *, buffer: int = DEFAULT_BUFFER) -> Iterator[T]:
    """Read an Observable with ``for``: its items on the calling thread, its error raised there.

    ::

        for chunk in rxsubstrate.iterate(stream.pipe(ops.text(b))):
            print(chunk, end="")

    ``stream.pipe(ops.text(b), rxsubstrate.iterate)`` is the same, as the last step of a pipe.

    Threads: the source is subscribed on the calling thread at the first ``next()``; it emits
    on its own threads (a run: the client's loop thread) into a buffer that the calling thread
    reads. The loop ends when the source completes; its ``on_error`` is raised by ``next()``,
    after the items that came before it. ``break``, ``close()`` or dropping the iterator
    disposes the subscription, which cancels the runs under it.

    Bounded: at most ``buffer`` items wait. A run underneath stops reading its response while
    half of that waits, until the consumer catches up. A source that cannot be paused (a timer,
    a subject, a synchronous source) and gets ``buffer`` items ahead of the consumer ends the
    iteration with ``BufferOverflow``, after the items before it, and its subscription is
    disposed; one that emits on the consumer's own thread (a synchronous source) also gets
    the error raised into its ``on_next``, which reactivex's sources take as their end.

    Args:
        source: any Observable, e.g. a ``RunStream`` piped through operators, ``merge_runs``.
        buffer: the most items that wait for the consumer (at least 2).

    Raises:
        WouldDeadlock: called inside a running event loop, which it would block (use
            ``aiterate`` there).
        BufferOverflow: a source that cannot be paused ran ``buffer`` items ahead.
        ValueError: ``buffer`` is less than 2 (at call time).
    """
    _check(buffer)
    return _iterate(source, buffer)


def aiterate(source: Observable[T], *, buffer: int = DEFAULT_BUFFER) -> AsyncIterator[T]:
    """Read an Observable with ``async for`` on the running loop.

    ::

        async for chunk in rxsubstrate.aiterate(stream.pipe(ops.text(b))):
            print(chunk, end="")

    Threads: the source is subscribed on the running loop at the first ``__anext__``, so a run
    delivers there, with no thread between it and the consumer; a source emitting on other
    threads works too. Completion ends the loop, ``on_error`` is raised by ``__anext__`` after
    the items before it, and ``break`` (or ``aclose()``, or cancelling the task reading it)
    disposes the subscription. Bounded as ``iterate`` is.

    Raises:
        BufferOverflow: a source that cannot be paused ran ``buffer`` items ahead.
        ValueError: ``buffer`` is less than 2 (at call time).
    """
    _check(buffer)
    return _aiterate(source, buffer)


def _check(buffer: int) -> None:
    if buffer < 2:
        raise ValueError(f"buffer must be at least 2 items, not {buffer}")


def _subscribe(source: Observable[T], buffer: int) -> tuple[Channel[T], SingleAssignmentDisposable]:
    """Subscribe ``source`` into a new channel; runs subscribed now are paced by it."""
    subscription = SingleAssignmentDisposable()
    consumer = threading.current_thread()

    def overflowed() -> None:
        subscription.dispose()
        if threading.current_thread() is consumer:
            # A source emitting on the consumer's own thread is synchronous to it (it emits
            # inside subscribe, or on the consumer's loop): disposal cannot interrupt it, so
            # the error is raised into it, which reactivex's sources send to on_error and stop.
            raise BufferOverflow(buffer)

    channel: Channel[T] = Channel(
        max(1, buffer // 2), buffer, lambda: BufferOverflow(buffer), overflowed
    )
    token = _pacing.set(channel)
    try:
        subscription.disposable = source.subscribe(channel.put, channel.finish, channel.finish)
    finally:
        _pacing.reset(token)
    return channel, subscription


def _left(how: str) -> None:
    _log.debug("%s left its iteration before the end: its subscription is disposed", how)


def _iterate(source: Observable[T], buffer: int) -> Generator[T, None, None]:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise WouldDeadlock(
            "iterate() would block the running event loop (which may be the one delivering"
            " the items); use `async for ... in aiterate(...)` there"
        )
    channel, subscription = _subscribe(source, buffer)
    try:
        while (items := channel.take()) is not None:
            yield from items
    except GeneratorExit:
        _left("iterate()'s consumer (break, close() or dropped)")
        raise
    finally:
        subscription.dispose()
        channel.close()


async def _aiterate(source: Observable[T], buffer: int) -> AsyncGenerator[T, None]:
    channel, subscription = _subscribe(source, buffer)
    try:
        while (items := await channel.atake()) is not None:
            for item in items:
                yield item
    except (GeneratorExit, asyncio.CancelledError):
        _left("aiterate()'s consumer (break, aclose() or a cancelled task)")
        raise
    finally:
        subscription.dispose()
        channel.close()
