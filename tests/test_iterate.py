"""``iterate`` and ``aiterate``: any Observable of a run read with ``for`` and ``async for``,
against real loopback servers: items in order, errors raised at the consumer, bounded, and
``break`` cancelling the runs underneath."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import msgspec
import pytest
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

import rxsubstrate
from rxsubstrate import (
    BufferOverflow,
    ClientClosed,
    NodeDelta,
    NodeResult,
    RunEvent,
    StreamInterrupted,
    Substrate,
    WouldDeadlock,
    aiterate,
    iterate,
    merge_runs,
    ops,
)
from rxsubstrate._merge import stream_many
from tests.replay_server import ReplayServer, Reply, seed_events, sse

T = TypeVar("T")
DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
SYNC = [pytest.param(True, id="for"), pytest.param(False, id="async-for")]


def seed_bytes(events: list[dict[str, Any]] | None = None) -> bytes:
    return sse(*(msgspec.json.encode(e) for e in (events or seed_events())))


def delta(text: str) -> bytes:
    return seed_bytes([{"object": "node.delta", "node_id": "a", "data": {"text": text}}])


@pytest.fixture
def client_for() -> Iterator[Any]:
    clients: list[Substrate] = []

    def make(url: str, **kwargs: Any) -> Substrate:
        client = Substrate(api_key="sk-secret", base_url=url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def read_all(
    source: Observable[T], sync: bool, out: list[T] | None = None, buffer: int = 1024
) -> list[T]:
    """Every item of ``source`` with ``for`` or ``async for``; what came before an error is in
    ``out``."""
    items: list[T] = [] if out is None else out
    if sync:
        items.extend(iterate(source, buffer=buffer))
        return items

    async def main() -> list[T]:
        async for item in aiterate(source, buffer=buffer):
            items.append(item)
        return items

    return asyncio.run(main())


@pytest.mark.parametrize("sync", SYNC)
def test_a_pipeline_reads_in_order_and_its_completion_ends_the_loop(
    client_for: Any, sync: bool
) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        stream = client_for(server.url).stream(DAG)
        assert read_all(stream.pipe(ops.for_node("a"), ops.text()), sync) == [
            "Windmills ",
            "turn.",
        ]
        assert len(server.requests) == 1


def test_iterate_is_also_the_last_step_of_a_pipe(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        chunks = client_for(server.url).stream(DAG).pipe(ops.text("b"), iterate)
        assert list(chunks) == ["Yes"]


def test_the_consumer_gets_the_items_on_its_own_thread(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        emitted_on: set[threading.Thread] = set()
        stream = client_for(server.url).stream(DAG)
        pipeline = stream.pipe(
            ops.results(),
            reactivex.operators.do_action(lambda _: emitted_on.add(threading.current_thread())),
        )
        for _ in iterate(pipeline):
            assert threading.current_thread() is threading.main_thread()
        assert emitted_on
        assert threading.main_thread() not in emitted_on


@pytest.mark.parametrize("sync", SYNC)
def test_merged_runs_read_as_one_loop(client_for: Any, sync: bool) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        client = client_for(server.url)
        merged = merge_runs(
            {
                "x": client.stream(DAG).pipe(ops.text("a")),
                "y": client.stream(DAG).pipe(ops.results()),
            }
        )
        items = read_all(merged, sync)
        assert [item.event for item in items if item.run == "x"] == ["Windmills ", "turn."]
        assert [item.event.node_id for item in items if item.run == "y"] == ["a", "b"]
        assert all(isinstance(item, RunEvent) for item in items)


@pytest.mark.parametrize("sync", SYNC)
def test_an_error_is_raised_at_the_consumer_after_the_items_before_it(
    client_for: Any, sync: bool
) -> None:
    # Two deltas, then the connection is cut before graph.result.
    with ReplayServer(Reply([delta("Wind"), delta("mills")], cut=True)) as server:
        seen: list[str] = []
        with pytest.raises(StreamInterrupted):
            read_all(client_for(server.url).stream(DAG).pipe(ops.text()), sync, seen)
        assert seen == ["Wind", "mills"]


@pytest.mark.parametrize("sync", SYNC)
def test_a_node_failure_raised_by_an_operator_reaches_the_consumer(
    client_for: Any, sync: bool
) -> None:
    failing = [
        {"object": "node.delta", "node_id": "a", "data": {"text": "Wind"}},
        {"object": "node.error", "node_id": "a", "data": {"type": "api_error", "message": "boom"}},
        {"object": "graph.result", "data": {"data": {}}},
    ]
    with ReplayServer(Reply([seed_bytes(failing)])) as server:
        seen: list[str] = []
        with pytest.raises(rxsubstrate.NodeFailed, match="boom"):
            read_all(client_for(server.url).stream(DAG).pipe(ops.text("a")), sync, seen)
        assert seen == ["Wind"]


def test_break_cancels_the_run_and_the_server_sees_it(client_for: Any) -> None:
    with ReplayServer(Reply([delta("Wind")], trickle=True)) as server:
        for chunk in iterate(client_for(server.url).stream(DAG).pipe(ops.text())):
            assert chunk == "Wind"
            break
        assert server.client_gone.wait(10), "the server never saw the disconnect"


async def test_break_out_of_async_for_cancels_the_run_and_the_server_sees_it(
    client_for: Any,
) -> None:
    with ReplayServer(Reply([delta("Wind")], trickle=True)) as server:
        client = client_for(server.url)
        async for chunk in aiterate(client.stream(DAG).pipe(ops.text())):
            assert chunk == "Wind"
            break
        assert await asyncio.to_thread(server.client_gone.wait, 10)
        await client.aclose()


@pytest.mark.parametrize("sync", SYNC)
def test_break_out_of_merged_runs_cancels_every_run(client_for: Any, sync: bool) -> None:
    with (
        ReplayServer(Reply([delta("x")], trickle=True)) as one,
        ReplayServer(Reply([delta("y")], trickle=True)) as two,
    ):
        merged = merge_runs(
            client_for(one.url).stream(DAG).pipe(ops.text()),
            client_for(two.url).stream(DAG).pipe(ops.text()),
        )

        def both_started(labels: set[int], item: RunEvent[int, str]) -> bool:
            labels.add(item.run)
            return labels == {0, 1}

        def both_gone() -> bool:
            return one.client_gone.wait(10) and two.client_gone.wait(10)

        if sync:
            labels: set[int] = set()
            for item in iterate(merged):
                if both_started(labels, item):
                    break
            assert both_gone(), "a server never saw its run cancelled"
        else:

            async def main() -> None:
                labels: set[int] = set()
                async for item in aiterate(merged):
                    if both_started(labels, item):
                        break
                # Still inside the loop: the break, not the loop's end, cancels them.
                assert await asyncio.to_thread(both_gone), "a server never saw its run cancelled"

            asyncio.run(main())


async def test_cancelling_the_task_that_reads_cancels_the_run(client_for: Any) -> None:
    with ReplayServer(Reply([delta("Wind")], trickle=True)) as server:
        client = client_for(server.url)
        first = asyncio.Event()

        async def read() -> None:
            async for _ in aiterate(client.stream(DAG).pipe(ops.text())):
                first.set()

        task = asyncio.create_task(read())
        await asyncio.wait_for(first.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(server.client_gone.wait, 10)
        await client.aclose()


def huge_run() -> list[bytes]:
    """About 24 MB of deltas, far more than socket buffers hold, then the graph's result."""
    one = delta("y" * 1000)
    end = seed_bytes([{"object": "graph.result", "data": {"data": {}}}])
    return [one * 60] * 400 + [end]


@pytest.mark.parametrize("sync", SYNC)
def test_a_slow_consumer_pauses_the_run_and_then_gets_all_of_it(
    client_for: Any, sync: bool
) -> None:
    with ReplayServer(Reply(huge_run())) as server:
        pipeline = client_for(server.url).stream(DAG).pipe(ops.text())
        if sync:
            chunks = iterate(pipeline, buffer=8)
            first = next(chunks)
            # The consumer stalls. Read without a bound, all 24 MB would be taken off the
            # socket at once; paced, the server's writes block on a full socket.
            assert not server.chunks_sent.wait(1.0), "the run was read ahead without a bound"
            rest = list(chunks)
        else:

            async def main() -> list[str]:
                chunks = aiterate(pipeline, buffer=8)
                first = await anext(chunks)
                # The loop is free meanwhile: only the pacing keeps the run from reading on.
                stalled = await asyncio.to_thread(server.chunks_sent.wait, 1.0)
                assert not stalled, "the run was read ahead without a bound"
                return [first] + [chunk async for chunk in chunks]

            first, *rest = asyncio.run(main())
        assert first == "y" * 1000
        assert len(rest) == 60 * 400 - 1
        assert server.chunks_sent.is_set()


def test_runs_that_stream_many_starts_later_are_paced_too(client_for: Any) -> None:
    with (
        ReplayServer(Reply([seed_bytes()])) as small,
        ReplayServer(Reply(huge_run())) as big,
    ):
        # One run at a time: the second is subscribed when the first ends, on the loop thread.
        runs = [client_for(small.url).stream(DAG), client_for(big.url).stream(DAG)]
        items = iterate(stream_many(runs, max_concurrency=1), buffer=8)
        second = next(item for item in items if item.run == 1)
        assert isinstance(second.event, NodeDelta)
        assert not big.chunks_sent.wait(1.0), "the later run was read ahead without a bound"
        rest = list(items)
        assert len(rest) == 60 * 400  # the other deltas and the graph's result: nothing lost
        assert big.chunks_sent.is_set()


def emitting(items: Iterator[int], disposed: threading.Event, on_thread: bool) -> Observable[int]:
    """A source that cannot be paused: it emits every item of ``items`` as fast as it can, in
    its subscribe (synchronously) or on a thread of its own, and records its disposal."""

    def subscribe(
        observer: abc.ObserverBase[int], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        def push() -> None:
            try:
                for item in items:
                    observer.on_next(item)
            except BufferOverflow as exc:
                observer.on_error(exc)  # as reactivex's own sources do with what on_next raises

        if on_thread:
            pusher = threading.Thread(target=push)
            pusher.start()
            pusher.join(10)  # the consumer is held here, so the buffer surely fills
        else:
            push()
        return Disposable(disposed.set)

    return Observable(subscribe)


@pytest.mark.parametrize("sync", SYNC)
def test_a_synchronous_endless_source_overflows_instead_of_hanging(sync: bool) -> None:
    disposed = threading.Event()
    seen: list[int] = []
    endless = emitting(itertools.count(), disposed, on_thread=False)
    with pytest.raises(BufferOverflow, match="10 items waited"):
        read_all(endless, sync, seen, buffer=10)
    assert seen == list(range(10))
    assert disposed.is_set()


def test_a_source_on_another_thread_that_cannot_pause_overflows_and_is_disposed() -> None:
    disposed = threading.Event()
    seen: list[int] = []
    with pytest.raises(BufferOverflow) as caught:
        seen.extend(iterate(emitting(iter(range(100)), disposed, True), buffer=10))
    assert caught.value.limit == 10
    assert seen == list(range(10))  # what came before the overflow, nothing after
    assert disposed.is_set()


async def test_aiterate_wakes_for_items_from_other_threads() -> None:
    source = reactivex.from_iterable(range(50), scheduler=reactivex.scheduler.NewThreadScheduler())
    assert [item async for item in aiterate(source)] == list(range(50))


async def test_iterate_inside_a_running_loop_is_refused_not_a_deadlock() -> None:
    with pytest.raises(WouldDeadlock, match="aiterate"):
        next(iterate(reactivex.of(1)))


def test_a_buffer_smaller_than_two_is_refused_at_call_time() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        iterate(reactivex.of(1), buffer=1)
    with pytest.raises(ValueError, match="at least 2"):
        aiterate(reactivex.of(1), buffer=0)


def test_closing_the_client_ends_an_iteration_with_client_closed(client_for: Any) -> None:
    with ReplayServer(Reply([delta("Wind")], trickle=True)) as server:
        client = client_for(server.url)
        chunks = iterate(client.stream(DAG).pipe(ops.text()))
        assert next(chunks) == "Wind"
        client.close()
        with pytest.raises(ClientClosed):
            next(chunks)


def test_items_of_a_run_are_those_subscribe_delivers(client_for: Any) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        stream = client_for(server.url).stream(DAG)
        results = list(iterate(stream.pipe(ops.results())))
        assert [r.node_id for r in results] == ["a", "b"]
        assert all(isinstance(r, NodeResult) for r in results)


async def test_async_iterators_are_async_iterators() -> None:
    items = aiterate(reactivex.of(1, 2))
    assert isinstance(items, AsyncIterator)
    assert [i async for i in items] == [1, 2]


def test_the_loop_body_can_use_the_client_while_its_run_is_paused(client_for: Any) -> None:
    # A paused run waits on the client's loop thread without blocking it: the consumer can run
    # more graphs on the same client from inside its loop.
    with ReplayServer(Reply([*huge_run()[:20], seed_bytes()])) as server:
        client = client_for(server.url)
        inner = 0
        for count, _ in enumerate(iterate(client.stream(DAG).pipe(ops.text()), buffer=2)):
            if count < 3:
                inner += len(list(client.stream(DAG).iter()))
        assert count == 60 * 20 + 2  # "Windmills ", "turn." and "Yes" end the first run
        assert inner > 0


@pytest.mark.parametrize("sync", SYNC)
def test_a_replay_reads_like_the_run_it_recorded(
    client_for: Any, sync: bool, tmp_path: Any
) -> None:
    with ReplayServer(Reply([seed_bytes()])) as server:
        path = tmp_path / "run.sse"
        rxsubstrate.record(client_for(server.url).stream(DAG), path)
    replayed = rxsubstrate.replay(path, speed=None).pipe(ops.text())
    assert read_all(replayed, sync) == ["Windmills ", "turn.", "Yes"]
