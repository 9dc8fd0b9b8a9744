"""What ``bench_server`` sends a server: honest streaming runs, checked, and attacks.

Honest runs are timed from the request to their first event and to their end, and checked whole
against a reference run of the same graph. Each attack is an async function that starts its
harm, then keeps it up until ``stop`` is set, and reports what its own requests got back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Final

import aiohttp

from rxsubstrate._events import Event, decode_event
from rxsubstrate._sse import SSEDecoder
from tests.server.raw_http import PARTIAL_HEAD, request_head
from tests.server.whole_run import check_whole

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackReport",
    "HonestReport",
    "Target",
    "honest_runs",
    "reference_run",
]

RUN_TIMEOUT: Final = 20.0
GRAPH: Final = {
    "nodes": [
        {
            "id": "a",
            "node": "ComputeText",
            "args": {"prompt": "windmills", "max_tokens": 30},
            "_should_output_globally": True,
        },
        {
            "id": "b",
            "node": "MultiComputeText",
            "args": {"prompt": "mills", "num_choices": 3, "max_tokens": 10},
            "_should_output_globally": True,
        },
    ],
    "edges": [],
    "futures": [],
}
STREAM: Final = {"Accept": "text/event-stream"}
JSON: Final = {"Content-Type": "application/json"}


@dataclasses.dataclass(frozen=True)
class Target:
    """The server under test: where it listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclasses.dataclass
class HonestReport:
    """What the honest runs saw: each run's first-event time and total time, and the failures."""

    first_event: list[float] = dataclasses.field(default_factory=list)
    total: list[float] = dataclasses.field(default_factory=list)
    failures: Counter[str] = dataclasses.field(default_factory=Counter)

    @property
    def runs(self) -> int:
        return len(self.total) + sum(self.failures.values())

    def intact(self) -> str:
        return f"{len(self.total)}/{self.runs}"

    def ttfe(self) -> str:
        """Time to first event, p50 / p99, in milliseconds."""
        return _p50_p99(self.first_event)

    def duration(self) -> str:
        return _p50_p99(self.total)


def _p50_p99(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return f"{cuts[49] * 1000:.0f} / {cuts[98] * 1000:.0f}"


async def _one_run(
    session: aiohttp.ClientSession, target: Target, reference: list[Event] | None
) -> tuple[float, float, list[Event]]:
    started = time.perf_counter()
    first = 0.0
    decoder = SSEDecoder()
    events: list[Event] = []
    async with session.post(
        f"{target.url}/compose", json={"dag": GRAPH}, headers=STREAM
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        async for chunk in response.content.iter_any():
            batch = [decode_event(payload) for payload in decoder.feed_data(chunk)]
            if batch and not first:
                first = time.perf_counter() - started
            events.extend(batch)
    if reference is not None:
        check_whole(events, reference)
    return first, time.perf_counter() - started, events


def _session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=RUN_TIMEOUT)
    )


async def reference_run(target: Target) -> list[Event]:
    """One run's events, to check the others against (take it before any attack)."""
    async with _session() as session:
        return (await _one_run(session, target, None))[2]


async def honest_runs(
    target: Target, reference: list[Event], concurrent: int, rounds: int
) -> HonestReport:
    """``rounds`` times, ``concurrent`` streaming runs at once, each checked against a reference."""
    report = HonestReport()
    async with _session() as session:
        for _ in range(rounds):
            outcomes = await asyncio.gather(
                *(_one_run(session, target, reference) for _ in range(concurrent)),
                return_exceptions=True,
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    report.failures[type(outcome).__name__ + ": " + str(outcome)[:60]] += 1
                else:
                    report.first_event.append(outcome[0])
                    report.total.append(outcome[1])
    return report


@dataclasses.dataclass
class AttackReport:
    """What an attack's own requests got: status counts and answer times (for request attacks)."""

    statuses: Counter[str] = dataclasses.field(default_factory=Counter)
    seconds: list[float] = dataclasses.field(default_factory=list)
    answer_bytes: int = 0

    def summary(self) -> str:
        if not self.statuses:
            return "-"
        parts = [f"{n}x {s}" for s, n in self.statuses.most_common(3)]
        if self.seconds:
            parts.append(f"{statistics.mean(self.seconds) * 1000:.0f} ms each")
        return ", ".join(parts)


Attack = Callable[[Target, asyncio.Event, AttackReport], Coroutine[Any, Any, None]]


async def _open(target: Target) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection(target.host, target.port)
    return writer


async def _hold(stop: asyncio.Event, writers: list[asyncio.StreamWriter]) -> None:
    try:
        await stop.wait()
    finally:
        for writer in writers:
            writer.close()


async def _connections(
    target: Target, count: int, first_bytes: bytes
) -> list[asyncio.StreamWriter]:
    writers = []
    for _ in range(count):
        try:
            writer = await asyncio.wait_for(_open(target), 5)
        except (OSError, TimeoutError):
            continue  # the server refused or the backlog is full: the attack has what it has
        writer.write(first_bytes)
        writers.append(writer)
    return writers


async def idle_connections(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """1,100 connections that never send a byte (the server has 1,024 file descriptors)."""
    await _hold(stop, await _connections(target, 1100, b""))


async def slowloris(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """500 connections that send a request line and part of a header, then nothing."""
    await _hold(stop, await _connections(target, 500, PARTIAL_HEAD))


async def stalled_bodies(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """50 requests announcing an 8 MiB body and sending all of it but the last KiB."""
    size = 8 * 1024 * 1024
    writers = await _connections(target, 50, request_head(size))
    for writer in writers:
        writer.write(b" " * (size - 1024))
    await _hold(stop, writers)


async def _post_until(
    target: Target, stop: asyncio.Event, report: AttackReport, body: bytes, senders: int = 2
) -> None:
    timeout = aiohttp.ClientTimeout(total=RUN_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def send() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    async with session.post(
                        f"{target.url}/compose", data=body, headers=JSON
                    ) as response:
                        answer = await response.read()
                        report.statuses[str(response.status)] += 1
                        report.answer_bytes = max(report.answer_bytes, len(answer))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    report.statuses[type(exc).__name__] += 1
                report.seconds.append(time.perf_counter() - started)

        await asyncio.gather(*(send() for _ in range(senders)))


async def tiny_containers(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """8 MB of ``[[],[],...]``, two senders in a loop."""
    body = b'{"dag": {"nodes": [{"id": "a", "node": "Box", "args": {"value": ['
    body += b",".join([b"[]"] * 2_700_000) + b"]}}]}}"
    await _post_until(target, stop, report, body)


async def deep_nesting(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """An argument nested 1,000 levels deep, two senders in a loop."""
    depth = 1000
    body = b'{"dag": {"nodes": [{"id": "a", "node": "Box", "args": {"value": '
    body += b"[" * depth + b"]" * depth + b"}}]}}"
    await _post_until(target, stop, report, body)


async def huge_node_id(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """A 5 MB node id of an unknown node kind, which the error message quotes."""
    body = b'{"dag": {"nodes": [{"id": "%s", "node": "NoSuch", "args": {}}]}}' % (b"x" * 5_000_000)
    await _post_until(target, stop, report, body, senders=1)


async def non_reading_clients(target: Target, stop: asyncio.Event, report: AttackReport) -> None:
    """30 streaming runs of a 100-node graph whose clients never read a byte of the answer."""
    nodes = [
        {"id": f"n{i}", "node": "ComputeText", "args": {"prompt": f"p{i}", "max_tokens": 4000}}
        for i in range(100)
    ]
    body = _json_bytes({"dag": {"nodes": nodes, "edges": [], "futures": []}})
    writers = await _connections(target, 30, request_head(len(body), stream=True) + body)
    for writer in writers:
        transport: Any = writer.transport
        transport.pause_reading()
    await _hold(stop, writers)


def _json_bytes(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


ATTACKS: Final[dict[str, Attack]] = {
    "8 MB of tiny containers": tiny_containers,
    "nesting 1,000 deep": deep_nesting,
    "5 MB node id": huge_node_id,
    "1,100 idle connections": idle_connections,
    "500 slowloris headers": slowloris,
    "50 stalled 8 MiB bodies": stalled_bodies,
    "30 clients that never read": non_reading_clients,
}
