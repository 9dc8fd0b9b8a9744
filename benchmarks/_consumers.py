"""The consumers under test, each reading one whole run and counting what it decoded.

Every consumer decodes every event fully (typed msgspec Structs, or ``json.loads`` dicts) and
returns how many it saw; the runner compares that with the stream's length, so a consumer that
skips work fails instead of looking fast. The transport ceiling reads the raw body only, and is
checked on its byte count instead.

A consumer is a function of a ``Job``; ``CONSUMERS`` maps the names the table and ``--only`` /
``--profile`` use to them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["CONSUMERS", "CheckFailed", "Job"]

API_KEY: Final = "bench"
_WAIT: Final = 600.0


class CheckFailed(AssertionError):
    """A consumer saw something other than the stream the server sent."""


@dataclass
class Job:
    """What one consumer run needs: where the stream is and what it holds."""

    url: str
    events: int
    bytes: int
    text_node: str | None = None
    text_output: dict[str, Any] = field(default_factory=dict)
    runs: int = 1  # concurrent runs (the concurrency rows)
    #: The request's JSON body; the benchmark server ignores it, a real server runs its dag.
    body: dict[str, Any] = field(default_factory=lambda: {"dag": {}})


# A consumer returns its count, or a dict with "count" and, when it times itself (to leave
# set-up out), "seconds", plus any figures of its own.
Consumer = Callable[[Job], int | dict[str, Any]]
CONSUMERS: dict[str, Consumer] = {}


def _consumer(name: str) -> Callable[[Consumer], Consumer]:
    def register(fn: Consumer) -> Consumer:
        CONSUMERS[name] = fn
        return fn

    return register


def _expect(seen: int, job: Job, what: str = "events") -> int:
    want = job.events * job.runs if what == "events" else job.bytes * job.runs
    if seen != want:
        raise CheckFailed(f"expected {want} {what}, got {seen}")
    return seen


# -- rxsubstrate ----------------------------------------------------------------------------------


def _rx_node() -> Any:
    """Any node will do (the server ignores the dag); a real one keeps serialization honest."""
    from rxsubstrate import Box

    return Box(value=1)


def _rx_client(job: Job) -> Any:
    from rxsubstrate import Substrate

    return Substrate(api_key=API_KEY, base_url=job.url)


def _rx_is_last(event: Any) -> None:
    from rxsubstrate import GraphResult

    if type(event) is not GraphResult:
        raise CheckFailed(f"the last event is {type(event).__name__}, not GraphResult")


def _rx_read(job: Job, read: Callable[[Any], Iterator[Any]]) -> int:
    """Count the run's events as ``read(stream)`` yields them on this thread."""
    with _rx_client(job) as client:
        count, event = 0, None
        for event in read(client.stream(_rx_node())):  # noqa: B007 - the last is checked
            count += 1
        _rx_is_last(event)
    return _expect(count, job)


def _rx_aread(job: Job, read: Callable[[Any], AsyncIterator[Any]]) -> int:
    """Count the run's events as ``read(stream)`` yields them on a running loop."""

    async def main() -> int:
        async with _rx_client(job) as client:
            count, event = 0, None
            async for event in read(await client.async_stream(_rx_node())):  # noqa: B007
                count += 1
            _rx_is_last(event)
            return count

    return _expect(asyncio.run(main()), job)


@_consumer("rx.iter")
def rx_iter(job: Job) -> int:
    return _rx_read(job, lambda stream: stream.iter())


@_consumer("rx.async_iter")
def rx_async_iter(job: Job) -> int:
    return _rx_aread(job, lambda stream: stream.async_iter())


@_consumer("rx.iterate")
def rx_iterate(job: Job) -> int:
    """``rxsubstrate.iterate`` of the run: the Observable path (per event ``on_next`` into the
    bounded channel, the run paced by it), read on this thread."""
    from rxsubstrate import iterate

    return _rx_read(job, iterate)


@_consumer("rx.aiterate")
def rx_aiterate(job: Job) -> int:
    """``rxsubstrate.aiterate`` of the run, on the running loop."""
    from rxsubstrate import aiterate

    return _rx_aread(job, aiterate)


@_consumer("rx.subscribe")
def rx_subscribe(job: Job) -> int:
    """Subscribed with no running loop: callbacks run on the client's loop thread."""
    with _rx_client(job) as client:
        return _expect(_count_until_done(client.stream(_rx_node()), "the subscription"), job)


def _count_until_done(source: Any, what: str) -> int:
    """Subscribe with counting callbacks; wait (bounded) for the end; raise what failed it."""
    done = threading.Event()
    count = 0
    failure: list[BaseException] = []

    def on_next(_event: Any) -> None:
        nonlocal count
        count += 1

    def on_error(exc: BaseException) -> None:
        failure.append(exc)
        done.set()

    subscription = source.subscribe(on_next, on_error, done.set)
    if not done.wait(_WAIT):
        subscription.dispose()
        raise CheckFailed(f"{what} never completed")
    if failure:
        raise failure[0]
    return count


@_consumer("rx.pipeline")
def rx_pipeline(job: Job) -> int:
    """``for_node`` + ``assemble`` over the whole stream; checks the node's output and that its
    deltas added up to it.

    The pipeline runs on the client's loop thread (subscribed with no running loop); ``run()``
    blocks until it completes and returns its last item.
    """
    from rxsubstrate import ops

    with _rx_client(job) as client:
        node = job.text_node or ""
        pipeline = client.stream(_rx_node()).pipe(ops.for_node(node), ops.assemble())
        output = pipeline.run()
    if output.node_id != job.text_node or output.data != job.text_output:
        raise CheckFailed(f"{job.text_node}: assemble() gave {output!r:.120}")
    if output.mismatch:
        raise CheckFailed(f"{job.text_node}: its deltas do not add up to its result")
    return job.events


@_consumer("rx.concurrent")
def rx_concurrent(job: Job) -> int:
    """``job.runs`` runs at once on one client and one loop (``async_iter`` each)."""

    async def one(client: Any) -> int:
        count = 0
        async for _event in (await client.async_stream(_rx_node())).async_iter():
            count += 1
        return count

    async def main() -> int:
        async with _rx_client(job) as client:
            counts = await asyncio.gather(*(one(client) for _ in range(job.runs)))
            return sum(counts)

    return _expect(asyncio.run(main()), job)


# -- the official SDK ----------------------------------------------------------------------------


def _sdk_client(job: Job) -> Any:
    from substrate import Substrate

    return Substrate(api_key=API_KEY, base_url=job.url)


def _sdk_node() -> Any:
    from substrate import Box

    return Box(value=1)


def _sdk_is_last(data: Any) -> None:
    if not isinstance(data, dict) or data.get("object") != "graph.result":
        raise CheckFailed("the last event is not graph.result")


@_consumer("sdk.iter")
def sdk_iter(job: Job) -> int:
    client = _sdk_client(job)
    count, data = 0, None
    for event in client.stream(_sdk_node()).iter():
        data = event.data
        count += 1
    _sdk_is_last(data)
    return _expect(count, job)


@_consumer("sdk.async_iter")
def sdk_async_iter(job: Job) -> int:
    async def main() -> int:
        client = _sdk_client(job)
        count, data = 0, None
        async for event in (await client.async_stream(_sdk_node())).async_iter():
            data = event.data
            count += 1
        _sdk_is_last(data)
        return count

    return _expect(asyncio.run(main()), job)


@_consumer("sdk.concurrent")
def sdk_concurrent(job: Job) -> int:
    """``job.runs`` ``async_stream`` iterations under one ``asyncio.gather``."""

    async def one(client: Any) -> int:
        count = 0
        async for event in (await client.async_stream(_sdk_node())).async_iter():
            event.data  # noqa: B018 - the decode is the work being measured
            count += 1
        return count

    async def main() -> int:
        client = _sdk_client(job)
        return sum(await asyncio.gather(*(one(client) for _ in range(job.runs))))

    return _expect(asyncio.run(main()), job)


# -- plain libraries -----------------------------------------------------------------------------


@_consumer("httpx-sse")
def httpx_sse_json(job: Job) -> int:
    """What the SDK does underneath, without its wrappers: httpx + httpx-sse + json.loads."""
    import httpx
    import httpx_sse

    count, data = 0, None
    with (
        httpx.Client(timeout=_WAIT) as client,
        httpx_sse.connect_sse(
            client, "POST", f"{job.url}/compose", json={"dag": {}}, headers=_auth()
        ) as source,
    ):
        for sse in source.iter_sse():
            data = json.loads(sse.data)
            count += 1
    _sdk_is_last(data)
    return _expect(count, job)


def _reference_loop() -> Callable[[Any, Job], Coroutine[Any, Any, int]]:
    """The tight reference loop for one run: aiohttp, split on blank lines, one msgspec decode
    per read (the read's whole events as one JSON array of the same typed events rxsubstrate
    gives), nothing else: no bounds, no checks, no thread. The figure rxsubstrate is held to."""
    import msgspec

    from rxsubstrate._events import GraphResult, NodeDelta, NodeError, NodeResult

    decode = msgspec.json.Decoder(list[NodeDelta | NodeResult | NodeError | GraphResult]).decode

    async def one(session: Any, job: Job) -> int:
        count, tail, last = 0, b"", None
        async with session.post(f"{job.url}/compose", json={"dag": {}}, headers=_auth()) as answer:
            async for chunk in answer.content.iter_any():
                buf = tail + chunk
                end = buf.rfind(b"\n\n")
                if end < 0:
                    tail = buf
                    continue
                tail = buf[end + 2 :]
                events = decode(b"[" + buf[6:end].replace(b"\n\ndata: ", b",") + b"]")
                count += len(events)
                last = events[-1]
        _rx_is_last(last)
        return count

    return one


@_consumer("reference")
def reference(job: Job) -> int:
    """``job.runs`` tight reference loops at once on one loop and one session (no connection
    limit): one run is the single-stream reference, many the concurrency one."""
    import aiohttp

    one = _reference_loop()

    async def main() -> int:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            return sum(await asyncio.gather(*(one(session, job) for _ in range(job.runs))))

    return _expect(asyncio.run(main()), job)


@_consumer("aiohttp.raw")
def aiohttp_raw(job: Job) -> int:
    """The transport ceiling: aiohttp reading the body, no parsing. Checked on bytes."""
    import aiohttp

    async def main() -> int:
        total = 0
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{job.url}/compose", json={"dag": {}}, headers=_auth()) as response,
        ):
            content = response.content
            while chunk := await content.readany():
                total += len(chunk)
        return total

    _expect(asyncio.run(main()), job, "bytes")
    return job.events


async def _read_raw(session: Any, job: Job) -> tuple[int, float]:
    """One run's events counted as they arrive, unparsed; and the seconds to its first byte."""
    started = time.perf_counter()
    first, count, last = 0.0, 0, b""
    async with session.post(f"{job.url}/compose", json=job.body, headers=_auth()) as response:
        if response.status != 200:
            raise CheckFailed(f"HTTP {response.status}: {(await response.read())[:200]!r}")
        async for chunk in response.content.iter_any():
            first = first or time.perf_counter() - started
            count += (last + chunk).count(b"\n\n")  # an event's end may straddle two reads
            last = chunk[-1:]
    return count, first


@_consumer("sse.read")
def sse_read(job: Job) -> int:
    """``job.runs`` runs at once from an SSE server, read unparsed: what the server can send."""
    import aiohttp

    async def main() -> int:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            runs = await asyncio.gather(*(_read_raw(session, job) for _ in range(job.runs)))
            return sum(count for count, _ in runs)

    return _expect(asyncio.run(main()), job)


@_consumer("sse.first")
def sse_first(job: Job) -> dict[str, Any]:
    """Time to the first event: the server's first run (cold, when it has just started), then
    the median of five more (warm); each read to its end."""
    import aiohttp

    async def main() -> list[float]:
        async with aiohttp.ClientSession() as session:
            return [(await _read_raw(session, job))[1] for _ in range(_WARM_RUNS + 1)]

    times = asyncio.run(main())
    warm = statistics.median(times[1:])
    return {"count": len(times), "seconds": times[0], "cold": times[0], "warm": warm}


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "Accept": "text/event-stream"}


# -- the embedded engine -------------------------------------------------------------------------

_ENGINE_CHOICES: Final = 8
_WARM_RUNS: Final = 5
_TOKENS_PER_CHOICE: Final = 56  # the engine's text generator writes 16 to 96 tokens a text


def _engine_nodes(events: int) -> int:
    return max(events // (_ENGINE_CHOICES * _TOKENS_PER_CHOICE), 1)


def engine_dag(events: int) -> dict[str, Any]:
    """Enough MultiComputeText nodes of eight choices for about ``events`` deltas; the engine
    runs them all at once, as a wide graph would."""
    nodes = _engine_nodes(events)
    return {
        "nodes": [
            {
                "id": f"MultiComputeText_{i}",
                "node": "MultiComputeText",
                "args": {"prompt": f"story {i}", "num_choices": _ENGINE_CHOICES, "max_tokens": 96},
                "_should_output_globally": i == nodes - 1,
            }
            for i in range(nodes)
        ],
        "edges": [],
    }


@_consumer("engine.e2e")
def engine_e2e(job: Job) -> dict[str, Any]:
    """``Substrate()`` with no arguments: the embedded engine, served on loopback, read by iter().

    ``job.events`` is the delta budget given to the engine; the count is what it sent. Timed
    from the request on: the embedded server is started first.
    """
    from rxsubstrate import Substrate

    dag = engine_dag(job.events)
    with Substrate() as client:
        client.base_url  # noqa: B018 - starts the embedded server
        start = time.perf_counter()
        tally = _EngineTally(job)
        for event in client.stream(dag).iter():
            tally.add(event)
        return {"count": tally.check(), "seconds": time.perf_counter() - start}


@_consumer("engine.first_event")
def engine_first_event(job: Job) -> dict[str, Any]:
    """Time to first event of a one-node run: cold (from ``Substrate()`` in a process that only
    imported rxsubstrate, so it includes loading the engine and starting its server) and warm
    (the median of five more runs on the same client). Each run is read to its end, untimed, so
    no cancelled run is still busy when the next starts."""
    from rxsubstrate import Substrate

    dag = engine_dag(1)
    dag["nodes"] = dag["nodes"][:1]
    times: list[float] = []
    start = time.perf_counter()
    with Substrate() as client:
        for _ in range(_WARM_RUNS + 1):
            events = client.stream(dag).iter()
            next(events)
            times.append(time.perf_counter() - start)
            for _event in events:
                pass
            start = time.perf_counter()
    warm = statistics.median(times[1:])
    return {"count": len(times), "seconds": times[0], "cold": times[0], "warm": warm}


class _EngineTally:
    """Counts a run of ``engine_dag``; ``check`` wants every node's result and graph.result last."""

    def __init__(self, job: Job) -> None:
        from rxsubstrate import NodeResult

        self._result_type = NodeResult
        self._nodes = _engine_nodes(job.events)
        self.count = self.results = 0
        self.last: Any = None

    def add(self, event: Any) -> None:
        self.count += 1
        self.results += type(event) is self._result_type
        self.last = event

    def check(self) -> int:
        _rx_is_last(self.last)
        if self.results != self._nodes:
            raise CheckFailed(f"expected {self._nodes} node results, got {self.results}")
        return self.count


@_consumer("engine.produce")
def engine_produce(job: Job) -> dict[str, Any]:
    """The engine alone, no HTTP: how fast it makes the events ``engine.e2e`` then delivers;
    ``job.runs`` runs of it at once on one loop (what a server's engine does)."""
    from rxsubstrate.engine import Engine

    engine = Engine()
    plans = [engine.prepare(engine_dag(job.events)) for _ in range(job.runs)]

    async def one(plan: Any) -> int:
        tally = _EngineTally(job)
        async for event in engine.execute(plan):
            tally.add(event)
        return tally.check()

    async def main() -> int:
        return sum(await asyncio.gather(*(one(plan) for plan in plans)))

    start = time.perf_counter()
    count = asyncio.run(main())
    return {"count": count, "seconds": time.perf_counter() - start}


# -- operators -----------------------------------------------------------------------------------


@_consumer("ops.merge_runs")
def ops_merge_runs(job: Job) -> int:
    """``job.runs`` runs of the server's stream merged into one Observable by ``merge_runs``."""
    from rxsubstrate import ops

    with _rx_client(job) as client:
        runs = {f"run {i}": client.stream(_rx_node()) for i in range(job.runs)}
        return _expect(_count_until_done(ops.merge_runs(runs), "merge_runs"), job)
