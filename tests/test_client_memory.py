"""What a run holds while it waits for its server: none of the events it has delivered.

Many runs at once spend most of their time waiting, so what each holds then is what hundreds of
runs cost. Measured with tracemalloc: the memory allocated by decoding (``_events``, ``_sse``)
that is still alive while the run waits for its next read.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from rxsubstrate import Substrate
from rxsubstrate._events import decode_batch
from rxsubstrate._sse import SSEDecoder
from tests.replay_server import ReplayServer, Reply, seed_events, sse

TIMEOUT = 10.0
DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
DELTAS = 120  # about 12 KB: one read, within the transport's 16 KiB
BATCH = sse(
    *(
        msgspec.json.encode({"object": "node.delta", "node_id": "a", "data": {"text": f"{i:>60}"}})
        for i in range(DELTAS)
    )
)
# A batch's events take about 45 KB once decoded (60 KB counted when they were held). What is
# left when none is: the last event delivered, and the dicts CPython keeps for reuse (80 dicts
# and 80 key tables, about 15 KB, still counted by tracemalloc).
HELD_AT_MOST = 25_000


def decoded_alive(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes still alive that the client's decoding allocated."""
    decoding = [
        tracemalloc.Filter(True, "*/rxsubstrate/_events.py"),
        tracemalloc.Filter(True, "*/rxsubstrate/_sse.py"),
    ]
    return sum(stat.size for stat in snapshot.filter_traces(decoding).statistics("filename"))


@pytest.fixture
def tracing() -> Iterator[None]:
    # Decoded once first: the decoders' own lasting state (type information built on first use)
    # is not what a run holds.
    SSEDecoder().feed_data(BATCH)
    decode_batch([msgspec.json.encode(seed_events()[0])] * 2)
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.usefixtures("tracing")
async def test_async_iter_waiting_for_its_server_holds_no_events() -> None:
    with ReplayServer(Reply([BATCH], hang=True)) as server:
        async with Substrate(api_key="sk-memory", base_url=server.url) as client:
            events = (await client.async_stream(DAG)).async_iter()
            for _ in range(DELTAS):
                await asyncio.wait_for(anext(events), TIMEOUT)
            waiting = asyncio.ensure_future(anext(events))
            await asyncio.sleep(0)  # one step: the run reads on until it waits for the server
            assert not waiting.done()
            held = decoded_alive(tracemalloc.take_snapshot())
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
            await events.aclose()  # type: ignore[attr-defined]
    assert held < HELD_AT_MOST


@pytest.mark.usefixtures("tracing")
def test_a_subscription_waiting_for_its_server_holds_no_events() -> None:
    with (
        ReplayServer(Reply([BATCH], hang=True)) as server,
        Substrate(api_key="sk-memory", base_url=server.url) as client,
    ):
        count = 0
        all_seen = threading.Event()

        def on_next(_event: object) -> None:
            nonlocal count
            count += 1
            if count == DELTAS:
                all_seen.set()

        subscription = client.stream(DAG).subscribe(on_next)
        assert all_seen.wait(TIMEOUT)
        # The loop thread has left the callback; a call made on it after runs once the run
        # waits again.
        snapshot = client._life.loop_thread.run(_snapshot())
        subscription.dispose()
    assert decoded_alive(snapshot) < HELD_AT_MOST


async def _snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot()
