"""A client's lifetime: scripts that never close it, ``close()`` at any moment and from anywhere,
errors raised by subscribers, iterators that are dropped instead of closed."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
import reactivex
from reactivex.scheduler.eventloop import AsyncIOScheduler

from rxsubstrate import ClientClosed, Event, Limits, NodeDelta, Substrate, SubstrateError
from rxsubstrate._loop_thread import LoopThread
from rxsubstrate.engine import Engine, NodeContext
from tests.replay_server import ReplayServer, Reply, seed_events, sse
from tests.server.conftest import Hang
from tests.wire import graph, node

T = TypeVar("T")
TIMEOUT = 10.0
KEY = "sk-lifecycle"
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(autouse=True)
def no_substrate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)


def rx_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rxsubstrate")]


class Flood:
    """A node kind that streams numbered deltas as fast as they are read, until it is stopped."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    async def __call__(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[dict[str, Any]]:
        try:
            for i in range(1_000_000):  # bounded: far more than any test reads
                yield {"text": f"{i} "}
                await asyncio.sleep(0)
        finally:
            self.stopped.set()


def embedded(**nodes: Any) -> Substrate:
    engine = Engine()
    for kind, impl in nodes.items():
        engine.register(kind, impl)
    return Substrate(engine=engine)


def elsewhere(call: Callable[[], T]) -> Future[T]:
    """``call()`` on a thread of its own, which a failing test does not wait for."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the test, which raises it
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def numbers(events: list[Event]) -> list[int]:
    return [int(e.data["text"]) for e in events if isinstance(e, NodeDelta)]


# -- Scripts that never close their client exit quietly ----------------------------------------

ANNOUNCEMENT = """
import asyncio
from rxsubstrate import GenerateText, Substrate, sb

substrate = Substrate()

a = GenerateText(prompt="tell me about windmills", max_tokens=10)
b = GenerateText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)

# async interface
async def amain():
    response = await substrate.async_stream(a, b)
    async for event in response.async_iter():
        print(event)
asyncio.run(amain())

# sync interface
def main():
    response = substrate.stream(a, b)
    for event in response.iter():
        print(event)

main()
"""

BREAK_AT_THE_END_OF_ASYNCIO_RUN = """
import asyncio
from rxsubstrate import ComputeText, Substrate

substrate = Substrate()

async def main():
    stream = await substrate.async_stream(ComputeText(prompt="windmills", max_tokens=50))
    async for event in stream.async_iter():
        print(event)
        break

asyncio.run(main())
"""

# A jq directive starts the engine's sandbox processes, which the release at exit must stop too.
SANDBOX_AT_EXIT = """
from rxsubstrate import ComputeText, Substrate, sb

a = ComputeText(prompt="tell me about windmills", max_tokens=10)
b = ComputeText(prompt=sb.jq(a.future.text, "ascii_upcase"), max_tokens=10)
substrate = Substrate()
for event in substrate.stream(a, b).iter():
    print(event)
"""

# iter() reads on a loop of its own, which the client's release at exit must close too.
ITERATOR_LEFT_OPEN = """
from rxsubstrate import ComputeText, Substrate

substrate = Substrate()
events = substrate.stream(ComputeText(prompt="windmills", max_tokens=50)).iter()
print(next(events))
"""


def readme_quick_start() -> str:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)[0]


SCRIPTS = {
    "readme quick start": readme_quick_start(),
    "announcement examples": ANNOUNCEMENT,
    "break at the end of asyncio.run": BREAK_AT_THE_END_OF_ASYNCIO_RUN,
    "a jq directive's sandbox": SANDBOX_AT_EXIT,
    "an iterator left open": ITERATOR_LEFT_OPEN,
}
FLAGS = {"plain": [], "-X dev -W error": ["-X", "dev", "-W", "error"]}


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Every script under every set of flags, each in a fresh interpreter, one per core at once
    (asyncio's debug mode reports any step that a busy machine stretches past 100 ms)."""
    cwd = tmp_path_factory.mktemp("scripts")
    quiet = ("SUBSTRATE_", "PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG")
    env = {k: v for k, v in os.environ.items() if not k.startswith(quiet)}

    def run(script: str, flags: str) -> tuple[int, str, str]:
        argv = [sys.executable, *FLAGS[flags], "-c", SCRIPTS[script]]
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout, done.stderr

    keys = [(script, flags) for script in SCRIPTS for flags in FLAGS]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(keys, pool.map(lambda key: run(*key), keys), strict=True))


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("script", SCRIPTS)
def test_a_script_that_never_closes_its_client_exits_quietly(
    script_runs: dict[tuple[str, str], Any], script: str, flags: str
) -> None:
    returncode, out, err = script_runs[script, flags]
    assert err == ""
    assert returncode == 0
    assert out.startswith("NodeDelta(")
    if script not in ("break at the end of asyncio.run", "an iterator left open"):
        assert "GraphResult(" in out


# -- close() ---------------------------------------------------------------------------------


def test_client_closed_is_a_substrate_error_and_misuse() -> None:
    assert issubclass(ClientClosed, SubstrateError)
    assert issubclass(ClientClosed, RuntimeError)


@pytest.mark.parametrize("pause", [0.0, 0.005, 0.05])
def test_close_under_iter_delivers_what_arrived_then_client_closed(pause: float) -> None:
    flood = Flood()
    client = embedded(Flood=flood)
    iterator = client.stream(graph(node("f", "Flood", x=1))).iter()
    got = [next(iterator)]
    threading.Event().wait(pause)  # the consumer pauses (the scenario; nothing is awaited)
    client.close()
    with pytest.raises(ClientClosed):
        got.extend(iterator)  # bounded: the run was cut short
    assert numbers(got) == list(range(len(got)))  # in order, none lost before the error
    assert flood.stopped.wait(TIMEOUT)


def test_close_from_a_subscribe_callback_ends_the_run_without_a_deadlock() -> None:
    hang = Hang(threading.Event)
    client = embedded(Hang=hang)
    errors: list[Exception] = []
    ended = threading.Event()

    client.stream(graph(node("h", "Hang", x=1))).subscribe(
        lambda _: client.close(),  # on the client's own loop thread
        lambda e: (errors.append(e), ended.set()),
        ended.set,
    )
    assert ended.wait(TIMEOUT), "close() in a callback deadlocked"
    assert [type(e) for e in errors] == [ClientClosed]
    client.close()  # waits for the release the callback began
    assert hang.cancelled.wait(TIMEOUT)
    assert rx_threads() == []


def test_a_closed_client_refuses_every_run_and_starts_no_thread() -> None:
    client = embedded()
    wire_graph = graph(node("a"))
    assert list(client.stream(wire_graph).iter())
    client.close()
    errors: list[Exception] = []
    client.stream(wire_graph).subscribe(on_error=errors.append)
    assert [type(e) for e in errors] == [ClientClosed]  # at once, as reactivex reports it
    with pytest.raises(ClientClosed):  # no on_error: raised to the caller, as reactivex does
        client.stream(wire_graph).subscribe(lambda _: None)
    with pytest.raises(ClientClosed):
        client.stream(wire_graph).iter()
    with pytest.raises(ClientClosed):
        list(client.stream(wire_graph).iter_events())
    with pytest.raises(ClientClosed):
        client.run(wire_graph)

    async def in_a_loop() -> None:
        with pytest.raises(ClientClosed):
            [e async for e in client.stream(wire_graph).async_iter()]
        with pytest.raises(ClientClosed):
            await client.async_run(wire_graph)
        client.stream(wire_graph).subscribe(on_error=errors.append)
        assert [type(e) for e in errors] == [ClientClosed, ClientClosed]  # at once here too

    asyncio.run(in_a_loop())
    assert rx_threads() == []


def test_close_ends_a_blocking_run_with_client_closed() -> None:
    hang = Hang(threading.Event)
    client = embedded(Hang=hang)
    run = elsewhere(lambda: client.run(graph(node("h", "Hang", x=1))))
    assert hang.started.wait(TIMEOUT)
    client.close()
    with pytest.raises(ClientClosed):
        run.result(TIMEOUT)


def test_the_loop_thread_never_starts_again_once_closed() -> None:
    loop_thread = LoopThread("rxsubstrate-test-loop")

    async def answer() -> int:
        return 42

    assert loop_thread.run(answer()) == 42
    loop_thread.close()
    loop_thread.close()
    refused = answer()
    with pytest.raises(ClientClosed, match="closed"):
        loop_thread.submit(refused)
    assert refused.cr_frame is None  # closed, not left to warn that it was never awaited
    assert "rxsubstrate-test-loop" not in rx_threads()


DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
FIRST = sse(msgspec.json.encode(seed_events()[0]))
SEED = sse(*(msgspec.json.encode(e) for e in seed_events()))


@pytest.mark.parametrize("when", ["reading", "between events"])
@pytest.mark.parametrize("mode", ["async_iter", "async_iter_events", "subscribe"])
async def test_close_ends_a_run_on_the_callers_loop_with_client_closed(
    mode: str, when: str
) -> None:
    with ReplayServer(Reply([FIRST], trickle=True)) as server:  # a remote server, still sending
        client = Substrate(api_key=KEY, base_url=server.url)
        closer = threading.Thread(target=client.close)

        async def close() -> None:
            if when == "reading":
                closer.start()  # returns at once: the consumer goes on to its next read
            else:
                await asyncio.to_thread(client.close)

        async def consume() -> None:
            stream = client.stream(DAG)
            if mode == "subscribe":
                loop = asyncio.get_running_loop()
                ended: asyncio.Future[None] = loop.create_future()
                got_one = asyncio.Event()
                stream.subscribe(lambda _: got_one.set(), ended.set_exception, ended.cancel)
                await got_one.wait()
                await close()
                await ended
                return
            items = stream.async_iter() if mode == "async_iter" else stream.async_iter_events()
            async for _ in items:
                await close()

        consuming = asyncio.ensure_future(consume())
        await asyncio.wait([consuming], timeout=TIMEOUT)  # no cancellation that could be confused
        assert consuming.done(), "close() did not end the run"
        with pytest.raises(ClientClosed):
            consuming.result()
        if closer.is_alive():
            await asyncio.to_thread(closer.join, TIMEOUT)
        assert await asyncio.to_thread(server.client_gone.wait, TIMEOUT)


async def test_close_ends_an_async_run_on_the_callers_loop_with_client_closed() -> None:
    hang = Hang(threading.Event)
    client = embedded(Hang=hang)
    run = asyncio.ensure_future(client.async_run(graph(node("h", "Hang", x=1))))
    assert await asyncio.to_thread(hang.started.wait, TIMEOUT)
    await asyncio.to_thread(client.close)
    with pytest.raises(ClientClosed):
        await asyncio.wait_for(run, TIMEOUT)


# -- Errors raised by a subscriber's callbacks -------------------------------------------------


class Bug(Exception):
    pass


def raise_bug(_: object) -> None:
    raise Bug("my bug")


async def test_on_next_error_with_no_on_error_goes_to_the_loops_handler_as_in_reactivex() -> None:
    loop = asyncio.get_running_loop()
    reported: asyncio.Queue[BaseException | None] = asyncio.Queue()
    loop.set_exception_handler(lambda _, context: reported.put_nowait(context.get("exception")))
    try:
        reference = reactivex.from_iterable([1], scheduler=AsyncIOScheduler(loop))
        reference_subscription = reference.subscribe(raise_bug)
        assert isinstance(await asyncio.wait_for(reported.get(), TIMEOUT), Bug)

        with ReplayServer(Reply([SEED])) as s:
            client = Substrate(api_key=KEY, base_url=s.url)
            subscription = client.stream(DAG).subscribe(raise_bug)  # kept, as users keep them
            assert isinstance(await asyncio.wait_for(reported.get(), TIMEOUT), Bug)
            await client.aclose()
        subscription.dispose()
        reference_subscription.dispose()
    finally:
        loop.set_exception_handler(None)


class _Reported(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])
            self.arrived.set()


@pytest.fixture
def asyncio_log() -> Iterator[_Reported]:
    handler = _Reported()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_on_next_error_with_no_on_error_on_the_clients_loop_thread_is_logged(
    asyncio_log: _Reported,
) -> None:
    with (
        ReplayServer(Reply([SEED])) as server,
        Substrate(api_key=KEY, base_url=server.url) as client,
    ):
        subscription = client.stream(DAG).subscribe(raise_bug)
        assert asyncio_log.arrived.wait(TIMEOUT), "the error was swallowed"
        subscription.dispose()
    assert [type(e) for e in asyncio_log.errors] == [Bug]


def test_on_next_error_with_on_error_ends_the_run_there_as_in_reactivex() -> None:
    events = seed_events()
    with ReplayServer(Reply([sse(msgspec.json.encode(events[0]))], trickle=True)) as server:
        client = Substrate(api_key=KEY, base_url=server.url)
        for source in (reactivex.from_iterable(events), client.stream(DAG)):
            seen: list[object] = []
            errors: list[Exception] = []
            ended = threading.Event()

            def on_next(item: object, seen: list[object] = seen) -> None:
                seen.append(item)
                raise Bug("my bug")

            def on_error(error: Exception, errors: list[Exception] = errors) -> None:
                errors.append(error)
                ended.set()  # noqa: B023 - used before the loop moves on

            source.subscribe(on_next, on_error)
            assert ended.wait(TIMEOUT)
            assert len(seen) == 1
            assert [type(e) for e in errors] == [Bug]
        assert server.client_gone.wait(TIMEOUT)  # and the run was cancelled
        client.close()


def test_iter_with_a_one_batch_buffer_reads_a_long_run_to_its_end() -> None:
    deltas = [
        f'{{"object":"node.delta","node_id":"a","data":{{"text":"{i}"}}}}' for i in range(2000)
    ]
    chunks = [sse(d.encode()) for d in deltas] + [sse(msgspec.json.encode(seed_events()[-1]))]
    with ReplayServer(Reply(chunks)) as server:
        client = Substrate(api_key=KEY, base_url=server.url, limits=Limits(max_buffered_batches=1))
        # The reader waits for the consumer at every batch.
        got = elsewhere(lambda: list(client.stream(DAG).iter())).result(TIMEOUT)
        client.close()
    assert numbers(got) == list(range(2000))


# -- Iterators dropped instead of closed -----------------------------------------------------


@pytest.mark.parametrize("helper", ["iter", "iter_events"])
def test_an_iterator_dropped_in_a_reference_cycle_ends_its_run_when_collected(
    helper: str, asyncio_log: _Reported
) -> None:
    flood = Flood()
    with embedded(Flood=flood) as client:
        client.limits = Limits(max_buffered_batches=2)  # the reader soon waits for the consumer
        stream = client.stream(graph(node("f", "Flood", x=1)))
        iterator = stream.iter() if helper == "iter" else stream.iter_events()
        next(iterator)
        cycle: list[Any] = [iterator]
        cycle.append(cycle)
        del iterator, cycle
        gc.collect()
        assert flood.stopped.wait(TIMEOUT), "the run went on after its iterator was collected"
    assert asyncio_log.errors == []  # no "Task was destroyed but it is pending!"


async def test_iter_events_reads_the_same_with_for_and_async_for() -> None:
    async with embedded() as client:
        stream = client.stream(graph(node("a")))
        by_async_for = [text async for text in stream.iter_events()]  # type: ignore[attr-defined]
        by_for = await asyncio.to_thread(lambda: list(stream.iter_events()))
    assert by_async_for == by_for
    assert by_for[-1].startswith('event: message\ndata: {"object":"graph.result"')
