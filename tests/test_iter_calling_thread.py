"""``iter()`` where no event loop runs reads its run on the calling thread, on a loop of its own
that it runs while it waits: what that changes for a user, and what it must not."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import pytest

from rxsubstrate import ClientClosed, Event, GraphResult, NodeDelta, Substrate, WouldDeadlock
from tests.replay_server import ReplayServer, Reply, seed_events, sse

TIMEOUT = 10.0
DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
SEED = sse(*(msgspec.json.encode(e) for e in seed_events()))
FIRST = sse(msgspec.json.encode(seed_events()[0]))


def rx_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rxsubstrate")]


@pytest.fixture
def client_for() -> Iterator[Any]:
    clients: list[Substrate] = []

    def make(url: str) -> Substrate:
        clients.append(Substrate(api_key="sk-driven", base_url=url))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def test_iter_where_no_loop_runs_reads_on_the_calling_thread(client_for: Any) -> None:
    with ReplayServer(Reply([SEED])) as server:
        client = client_for(server.url)
        events = list(client.stream(DAG).iter())
        # Read here: the client's loop thread never started.
        assert rx_threads() == []
    assert [msgspec.to_builtins(e) for e in events] == seed_events()


def test_iter_inside_a_running_loop_reads_on_the_clients_loop_thread(client_for: Any) -> None:
    """The calling thread's loop cannot be run a second time: the loop thread reads instead."""
    with ReplayServer(Reply([SEED])) as server:
        client = client_for(server.url)

        async def inside() -> list[Event]:
            return list(client.stream(DAG).iter())

        events = asyncio.run(inside())
        assert "rxsubstrate-loop" in rx_threads()
    assert isinstance(events[-1], GraphResult)
    assert len(events) == len(seed_events())


def test_iter_read_by_one_thread_after_another(client_for: Any) -> None:
    """As Starlette reads a sync iterator: each next() on whichever worker thread is free."""
    deltas = [{"object": "node.delta", "node_id": "a", "data": {"text": f"{i}"}} for i in range(50)]
    chunks = [sse(msgspec.json.encode(d)) for d in deltas] + [SEED]
    with ReplayServer(Reply(chunks)) as server:
        iterator = client_for(server.url).stream(DAG).iter()
        got: list[Event] = []
        with ThreadPoolExecutor(max_workers=3) as pool:
            for _ in range(200):  # bounded: far more than the run's events
                event = pool.submit(next, iterator, None).result(TIMEOUT)
                if event is None:
                    break
                got.append(event)
    texts = [e.data["text"] for e in got if isinstance(e, NodeDelta)]
    assert texts[:50] == [str(i) for i in range(50)]
    assert isinstance(got[-1], GraphResult)


def test_close_from_another_thread_releases_a_paused_iterators_connection(
    client_for: Any,
) -> None:
    """The consumer never comes back to its iterator: close() itself ends the run."""
    with ReplayServer(Reply([FIRST], trickle=True)) as server:
        client = client_for(server.url)
        iterator = client.stream(DAG).iter()
        assert isinstance(next(iterator), NodeDelta)
        closer = threading.Thread(target=client.close)
        closer.start()
        closer.join(TIMEOUT)
        assert not closer.is_alive(), "close() did not return"
        # The iterator is kept, and not read: only close() can have ended its connection.
        assert server.client_gone.wait(TIMEOUT), "close() left the run's connection open"
        with pytest.raises(ClientClosed):
            next(iterator)


def test_an_iterator_collected_where_another_loop_runs_ends_its_run(client_for: Any) -> None:
    """Its loop cannot run on that thread: a thread of its own closes it."""
    with ReplayServer(Reply([FIRST], trickle=True)) as server:
        iterator = client_for(server.url).stream(DAG).iter()
        next(iterator)
        holder = [iterator]
        del iterator

        async def drop() -> None:
            holder.clear()  # the last reference: the generator is closed here, in this loop
            gc.collect()

        asyncio.run(drop())
        assert server.client_gone.wait(TIMEOUT), "the run went on after its iterator was dropped"


def test_iter_started_outside_a_loop_refuses_to_go_on_inside_one(client_for: Any) -> None:
    with ReplayServer(Reply([FIRST], trickle=True)) as server:
        iterator = client_for(server.url).stream(DAG).iter()
        next(iterator)

        async def inside() -> None:
            with pytest.raises(WouldDeadlock):
                next(iterator)

        asyncio.run(inside())
        assert server.client_gone.wait(TIMEOUT)  # a generator that raised is over
