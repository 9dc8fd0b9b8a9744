"""Mailbox: the bounded hand-off between a run's node tasks and its one reader."""

from __future__ import annotations

import asyncio

import pytest

from rxsubstrate.engine._mailbox import Mailbox

TIMEOUT = 5.0


async def turns(n: int = 5) -> None:
    """Let whatever can proceed without I/O run."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_reader_takes_everything_waiting_oldest_first() -> None:
    box: Mailbox[int] = Mailbox(8)
    for item in range(5):
        box.put_nowait(item)
    assert await box.take() == [0, 1, 2, 3, 4]
    box.put_nowait(5)
    assert await box.take() == [5]


async def test_a_waiting_reader_wakes_on_the_first_message() -> None:
    box: Mailbox[str] = Mailbox(8)
    reader = asyncio.create_task(box.take())
    await turns()
    assert not reader.done()
    box.put_nowait("a")
    async with asyncio.timeout(TIMEOUT):
        assert await reader == ["a"]


async def test_writers_wait_while_the_box_is_full_and_go_in_the_order_they_came() -> None:
    box: Mailbox[int] = Mailbox(2)
    await box.put(0)
    await box.put(1)
    writers = [asyncio.create_task(box.put(item)) for item in (2, 3, 4)]
    await turns()
    assert not any(writer.done() for writer in writers)  # full: nobody gets in

    taken = await box.take()
    await turns()
    # One writer woken per box: it goes on writing while there is room (these write once).
    assert [writer.done() for writer in writers] == [True, False, False]
    for _ in writers:
        taken += await box.take()
        await turns()
    assert taken == [0, 1, 2, 3, 4]
    assert all(writer.done() for writer in writers)


async def test_a_woken_writer_fills_the_box_before_the_next_one_gets_in() -> None:
    box: Mailbox[str] = Mailbox(4)

    async def write(name: str, count: int) -> None:
        for i in range(count):
            if box.has_room():
                box.put_nowait(f"{name}{i}")
            else:
                await box.put(f"{name}{i}")

    for _ in range(4):
        box.put_nowait("-")
    a = asyncio.create_task(write("a", 6))
    b = asyncio.create_task(write("b", 6))
    await turns()
    boxes: list[list[str]] = []
    async with asyncio.timeout(TIMEOUT):
        while sum(map(len, boxes)) < 16:
            boxes.append(await box.take())
            await turns()
    assert boxes == [
        ["-"] * 4,
        ["a0", "a1", "a2", "a3"],
        ["b0", "b1", "b2", "b3"],
        ["a4", "a5"],  # a ends with room to spare; b, asleep, gets the next box
        ["b4", "b5"],
    ]
    assert a.done()
    assert b.done()


async def test_a_writer_cancelled_while_waiting_passes_its_turn_on() -> None:
    box: Mailbox[str] = Mailbox(1)
    box.put_nowait("first")
    cancelled = asyncio.create_task(box.put("never"))
    waiting = asyncio.create_task(box.put("second"))
    await turns()
    assert await box.take() == ["first"]  # wakes ``cancelled``, whose turn it is
    cancelled.cancel()
    await turns()
    assert waiting.done()
    assert await box.take() == ["second"]
    with pytest.raises(asyncio.CancelledError):
        await cancelled


async def test_a_writer_that_waited_does_not_lose_its_turn_to_a_newcomer() -> None:
    box: Mailbox[int] = Mailbox(1)
    box.put_nowait(0)
    first = asyncio.create_task(box.put(1))
    await turns()
    assert await box.take() == [0]
    # There is room, but the writer woken for it has not run yet: it holds its place.
    assert not box.has_room()
    await turns()
    assert first.done()
    assert await box.take() == [1]
    assert box.has_room()


async def test_one_writer_at_a_time_holds_a_place_whatever_the_reader_does_meanwhile() -> None:
    box: Mailbox[object] = Mailbox(1)
    box.put_nowait(0)
    first = asyncio.create_task(box.put(1))
    second = asyncio.create_task(box.put(2))
    await turns()
    assert await box.take() == [0]  # wakes ``first``, which has not run yet
    box.put_nowait("outcome")  # the run's own bookkeeping, which never waits
    assert await box.take() == ["outcome"]
    await turns()
    assert first.done()
    assert not second.done()  # the one place went to ``first`` alone
    assert await box.take() == [1]
    await turns()
    assert await box.take() == [2]
