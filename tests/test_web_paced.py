"""``paced``: the items of an async generator, a ``None`` for each silence, and nothing left
running once it is closed or its reader cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from rxsubstrate.web._paced import paced

TIMEOUT = 10.0


class Source:
    """Yields 1, waits until ``go`` is set, yields 2 (or raises ``fail``); says when closed."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.go = asyncio.Event()
        self.closed = asyncio.Event()
        self.fail = fail

    async def items(self) -> AsyncGenerator[int, None]:
        try:
            yield 1
            await self.go.wait()
            if self.fail is not None:
                raise self.fail
            yield 2
        finally:
            self.closed.set()


async def test_items_pass_in_order_and_silences_become_none() -> None:
    source = Source()
    seen: list[int | None] = []
    async with asyncio.timeout(TIMEOUT):
        async for item in paced(source.items(), 0.001):
            seen.append(item)
            if seen.count(None) == 2:
                source.go.set()  # the source speaks again after two silences
    assert seen[:3] == [1, None, None]
    assert set(seen[3:-1]) <= {None}  # a ping may be on its way when the source speaks
    assert seen[-1] == 2
    assert source.closed.is_set()


async def test_no_interval_passes_the_items_alone() -> None:
    source = Source()
    source.go.set()
    async with asyncio.timeout(TIMEOUT):
        assert [item async for item in paced(source.items(), None)] == [1, 2]


async def test_an_error_comes_after_the_items_before_it() -> None:
    source = Source(fail=LookupError("upstream"))
    source.go.set()
    items = paced(source.items(), None)
    assert await asyncio.wait_for(anext(items), TIMEOUT) == 1
    with pytest.raises(LookupError, match="upstream"):
        await asyncio.wait_for(anext(items), TIMEOUT)


async def test_closing_it_closes_the_source_and_leaves_no_task() -> None:
    source = Source()
    items = paced(source.items(), 60)
    assert await asyncio.wait_for(anext(items), TIMEOUT) == 1
    tasks = asyncio.all_tasks()
    await asyncio.wait_for(items.aclose(), TIMEOUT)
    assert source.closed.is_set()
    assert asyncio.all_tasks() < tasks  # the reader is gone


async def test_cancelling_its_reader_closes_the_source() -> None:
    source = Source()
    got_one = asyncio.Event()

    async def read() -> None:
        async for _ in paced(source.items(), 60):
            got_one.set()

    reader = asyncio.ensure_future(read())
    await asyncio.wait_for(got_one.wait(), TIMEOUT)
    reader.cancel()
    await asyncio.wait([reader], timeout=TIMEOUT)
    assert reader.cancelled()
    assert source.closed.is_set()
