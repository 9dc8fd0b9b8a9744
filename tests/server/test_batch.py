"""Batch: a run's SSE bytes coalesced into few writes, and the run paused while they wait."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import pytest

from rxsubstrate import Event, GraphResult, NodeDelta
from rxsubstrate._events import encode_event
from rxsubstrate._sse import encode_sse
from rxsubstrate.engine import Engine, NodeContext
from rxsubstrate.server._batch import Batch
from tests.wire import graph, node

from .conftest import Serve

TIMEOUT = 10.0
DELTA = NodeDelta(node_id="n", data={"text": "x" * 100})
SIZE = len(encode_sse(encode_event(DELTA)))


class Producer:
    """An endless run: one delta per loop turn (a list of one), counted; notes when it is
    closed."""

    def __init__(self) -> None:
        self.made = 0
        self.closed = False
        self._watch: tuple[int, asyncio.Event] | None = None

    async def events(self) -> AsyncGenerator[list[Event], None]:
        try:
            while True:
                self.made += 1
                if self._watch is not None and self.made >= self._watch[0]:
                    self._watch[1].set()
                yield [DELTA]
                await asyncio.sleep(0)
        finally:
            self.closed = True

    async def reach(self, count: int) -> None:
        """Wait until ``count`` events were made (fails after TIMEOUT)."""
        reached = asyncio.Event()
        self._watch = (count, reached)
        if self.made < count:
            await asyncio.wait_for(reached.wait(), TIMEOUT)


async def turns(n: int) -> None:
    """Let the loop run ``n`` turns, so whatever can proceed without I/O does."""
    for _ in range(n):
        await asyncio.sleep(0)


async def test_the_run_pauses_while_max_pending_bytes_wait_and_resumes_on_take() -> None:
    batch = Batch(max_pending=50 * SIZE)
    producer = Producer()
    run = asyncio.create_task(batch.fill(producer.events()))
    try:
        await producer.reach(50)
        await turns(200)  # an unbounded producer would make 200 more events meanwhile

        assert producer.made == 50
        assert batch.pending == 50 * SIZE

        chunk = await batch.take()
        assert len(chunk) == 50 * SIZE
        await producer.reach(100)  # room again: the run goes on, to the bound again
        await turns(200)
        assert producer.made == 100
        assert batch.pending == 50 * SIZE
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert producer.closed  # cancelling the run closes its events, which cancels its nodes


async def test_a_burst_goes_out_in_one_write_and_every_byte_in_order() -> None:
    events: list[Event] = [NodeDelta(node_id="n", data={"text": f"{i},"}) for i in range(1000)]
    events.append(GraphResult(data={"data": {}}))

    async def burst() -> AsyncGenerator[list[Event], None]:
        for start in range(0, len(events), 10):  # in lists, as the engine hands them over
            yield events[start : start + 10]

    batch = Batch(window=3600.0)  # after the first write, only flush_size or the end sends
    run = asyncio.create_task(batch.fill(burst()))
    run.add_done_callback(batch.finish)
    writes = []
    async with asyncio.timeout(TIMEOUT):
        while chunk := await batch.take():
            writes.append(chunk)

    assert b"".join(writes) == b"".join(encode_sse(encode_event(e)) for e in events)
    assert len(writes) <= 3  # the first event at once, then the rest as flush_size allows


async def test_a_run_that_ends_before_it_starts_ends_the_writer() -> None:
    batch = Batch()
    batch.finish()
    assert await asyncio.wait_for(batch.take(), TIMEOUT) == b""


async def test_a_client_that_never_reads_stalls_its_run(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """The run stops producing once the socket, the batch and the engine's queue are full.

    Stalling is the absence of progress, which no event signals: the test watches the count for
    a quiet spell (bounded by TIMEOUT); without backpressure the count never stops growing.
    """
    made = 0

    async def endless(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        nonlocal made
        while True:
            yield {"text": "x" * 1000}
            made += 1

    engine = Engine()
    engine.register("Endless", endless)
    url = await serve(engine)
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as reader:
        response = await reader.post(
            f"{url}/compose",
            json={"dag": graph(node("e", "Endless", x=1))},
            headers={"Accept": "text/event-stream"},
        )
        sock = response.connection.transport.get_extra_info("socket")  # type: ignore[union-attr]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        response.connection.transport.pause_reading()  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(TIMEOUT):
                quiet, last = 0, -1
                while quiet < 20:
                    await asyncio.sleep(0.02)
                    quiet = quiet + 1 if made == last else 0
                    last = made
        finally:
            response.close()
    # the socket's buffers (a few MB on loopback at most), 256 KiB in the batch, 64 queued
    assert made * 1000 < 16 * 1024 * 1024, made


@pytest.mark.parametrize("max_pending", [1, SIZE, 10 * SIZE])
async def test_every_event_arrives_whatever_the_bound(max_pending: int) -> None:
    producer = Producer()

    async def some() -> AsyncGenerator[list[Event], None]:
        events = producer.events()
        for _ in range(100):
            yield await anext(events)
        await events.aclose()

    batch = Batch(max_pending=max_pending)
    run = asyncio.create_task(batch.fill(some()))
    run.add_done_callback(batch.finish)
    got = b""
    async with asyncio.timeout(TIMEOUT):
        while chunk := await batch.take():
            got += chunk
    assert got == encode_sse(encode_event(DELTA)) * 100
