"""Load and faults, small: concurrent streams whole, abandoned runs gone, attacks beside runs.

The full-size versions, with timings, are in ``benchmarks/bench_server.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rxsubstrate import Event
from rxsubstrate.engine import Engine
from rxsubstrate.server import ServerLimits
from tests.wire import graph, node

from .conftest import Serve
from .raw_http import PARTIAL_HEAD, request_head
from .test_app import read_events
from .whole_run import check_whole

TIMEOUT = 30.0
STREAM = {"Accept": "text/event-stream"}
GRAPH = graph(
    node("a", prompt="windmills", max_tokens=30),
    node("b", prompt="mills", max_tokens=20),
    node("c", "MultiComputeText", prompt="three", num_choices=3, max_tokens=5),
)


async def run(session: aiohttp.ClientSession, url: str, wire_graph: Any = GRAPH) -> list[Event]:
    async with session.post(f"{url}/compose", json={"dag": wire_graph}, headers=STREAM) as response:
        assert response.status == 200, await response.text()
        return await read_events(response)


async def test_two_hundred_concurrent_streams_arrive_whole(serve: Serve) -> None:
    url = await serve(Engine(chunk_delay=0.001))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        reference = await run(session, url)
        async with asyncio.timeout(TIMEOUT):
            runs = await asyncio.gather(*(run(session, url) for _ in range(200)))
    for events in runs:
        check_whole(events, reference)


def node_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("rxsubstrate node")]


async def test_clients_that_go_away_mid_run_leave_no_task_behind(serve: Serve) -> None:
    url = await serve(Engine(chunk_delay=0.01))
    wire_graph = graph(*(node(f"n{i}", prompt=f"p{i}", max_tokens=1000) for i in range(10)))

    async def abandon(session: aiohttp.ClientSession) -> None:
        response = await session.post(f"{url}/compose", json={"dag": wire_graph}, headers=STREAM)
        await response.content.readuntil(b"\n\n")  # the run is going
        response.close()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(abandon(session) for _ in range(30)))
    async with asyncio.timeout(TIMEOUT):
        while tasks := node_tasks():
            await asyncio.wait(tasks)


# -- attacks beside honest runs ---------------------------------------------------------------


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    where = urlsplit(url)
    return await asyncio.open_connection(where.hostname, where.port)


async def idle_connections(url: str, writers: list[asyncio.StreamWriter]) -> None:
    for _ in range(300):
        writers.append((await connect(url))[1])


async def slowloris(url: str, writers: list[asyncio.StreamWriter]) -> None:
    for _ in range(50):
        _, writer = await connect(url)
        writer.write(PARTIAL_HEAD)
        writers.append(writer)


async def stalled_bodies(url: str, writers: list[asyncio.StreamWriter]) -> None:
    for _ in range(20):
        _, writer = await connect(url)
        writer.write(request_head(8 * 1024 * 1024) + b"[" * 1000)
        writers.append(writer)


async def post_raw(url: str, body: bytes) -> int:
    headers = {"Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/compose", data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


async def tiny_containers(url: str, _writers: list[asyncio.StreamWriter]) -> None:
    body = b'{"dag": {"nodes": [], "x": [' + b",".join([b"[]"] * 2_700_000) + b"]}}"
    assert await post_raw(url, body) == 400


async def deep_nesting(url: str, _writers: list[asyncio.StreamWriter]) -> None:
    depth = 500_000
    assert await post_raw(url, b'{"dag": ' + b"[" * depth + b"]" * depth + b"}") == 400


Attack = Callable[[str, list[asyncio.StreamWriter]], Awaitable[None]]
ATTACKS: list[Attack] = [idle_connections, slowloris, stalled_bodies, tiny_containers, deep_nesting]


async def test_honest_runs_beside_every_attack_arrive_whole(serve: Serve) -> None:
    url = await serve(
        Engine(chunk_delay=0.001),
        limits=ServerLimits(max_connections=250, receive_timeout=5),
    )
    writers: list[asyncio.StreamWriter] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            reference = await run(session, url)
            async with asyncio.timeout(TIMEOUT):
                *honest, _ = await asyncio.gather(
                    *(run(session, url) for _ in range(50)),
                    asyncio.gather(*(attack(url, writers) for attack in ATTACKS)),
                )
        for events in honest:
            check_whole(events, reference)
    finally:
        for writer in writers:
            writer.close()
