"""``paced``: an async generator's items, and a ``None`` whenever a while passes without one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TypeVar

__all__ = ["paced"]

T = TypeVar("T")


class _End:
    """The reader's last word: the items ran out (``error`` None), or reading them failed."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


async def paced(
    items: AsyncGenerator[T, None], interval: float | None
) -> AsyncGenerator[T | None, None]:
    """``items``, with a ``None`` after every ``interval`` seconds without an item (never, for
    ``interval`` None).

    A task of its own reads ``items`` one ahead (a queue of one: it waits for the consumer), so
    that a wait for the next item can time out without cancelling the read. Closing this
    generator cancels that task, which closes ``items``.

    Raises:
        What reading ``items`` raised, after the items before it.
    """
    queue: asyncio.Queue[T | _End] = asyncio.Queue(1)
    reader = asyncio.ensure_future(_read(items, queue))
    try:
        while True:
            try:
                async with asyncio.timeout(interval):
                    item = await queue.get()
            except TimeoutError:
                yield None
                continue
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        reader.cancel()
        await asyncio.wait([reader])  # the reader's own cancellation is not ours to raise


async def _read(items: AsyncGenerator[T, None], queue: asyncio.Queue[T | _End]) -> None:
    end = _End(None)
    try:
        async with aclosing(items):
            async for item in items:
                await queue.put(item)
    except Exception as exc:  # not handled here: the consumer raises it, in its own task
        end = _End(exc)
    await queue.put(end)
