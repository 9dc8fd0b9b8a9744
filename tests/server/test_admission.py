"""Concurrent work is capped: requests and body bytes (429 beyond), one run per connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rxsubstrate.engine import Engine, NodeContext
from rxsubstrate.server import ServerLimits
from tests.wire import graph, node

from .conftest import Hang, Serve
from .raw_http import request_head

TIMEOUT = 10.0
STREAM = {"Accept": "text/event-stream"}
JSON = {"Content-Type": "application/json"}
HANG = {"dag": graph(node("h", "Hang", x=1))}


def hanging_engine() -> tuple[Engine, Hang]:
    hang = Hang()
    engine = Engine()
    engine.register("Hang", hang)
    return engine, hang


async def test_requests_beyond_max_runs_get_429_with_retry_after(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    engine, _ = hanging_engine()
    url = await serve(engine, limits=ServerLimits(max_runs=2, retry_after=3))
    running = [await session.post(f"{url}/compose", json=HANG, headers=STREAM) for _ in range(2)]
    try:
        async with session.post(f"{url}/compose", json={"dag": graph(node("a"))}) as refused:
            assert refused.status == 429
            assert refused.headers["Retry-After"] == "3"
            error = await refused.json()
        assert error["type"] == "rate_limit_error"

        running.pop().close()  # one run ends: its place is free again
        async with asyncio.timeout(TIMEOUT):
            while True:
                async with session.post(f"{url}/compose", json={"dag": graph(node("a"))}) as again:
                    if again.status == 200:
                        break
                    assert again.status == 429
                    await asyncio.sleep(0.01)
    finally:
        for response in running:
            response.close()


async def test_bodies_beyond_max_body_bytes_get_429(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    size = 100_000  # over 64 KiB: only bodies this large count
    url = await serve(Engine(), limits=ServerLimits(max_body_size=size, max_body_bytes=2 * size))
    where = urlsplit(url)
    large = json.dumps({"dag": graph(node("a", prompt="x" * size, max_tokens=1))})[:size]
    stalled = []
    try:
        for _ in range(2):  # two large bodies announced, and never sent
            _, writer = await asyncio.open_connection(where.hostname, where.port)
            writer.write(request_head(size) + b"{")
            stalled.append(writer)
        async with asyncio.timeout(TIMEOUT):
            while True:  # the stalled requests reach the handler in their own time
                async with session.post(f"{url}/compose", data=large, headers=JSON) as r:
                    if r.status == 429:
                        assert r.headers["Retry-After"] == "1"
                        assert "large bodies" in (await r.json())["message"]
                        break
                    await asyncio.sleep(0.01)
        async with session.post(f"{url}/compose", json={"dag": graph(node("a"))}) as small:
            assert small.status == 200  # the usual small request is never held up by them
    finally:
        for writer in stalled:
            writer.close()
    async with asyncio.timeout(TIMEOUT):
        while True:  # their budget comes back as their connections close
            async with session.post(f"{url}/compose", data=large, headers=JSON) as r:
                if r.status != 429:
                    break
                await asyncio.sleep(0.01)


class CountingHang(Hang):
    """Hang, counting the runs that reached it."""

    calls = 0

    def __call__(self, args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        self.calls += 1
        return super().__call__(args, context)


async def test_requests_pipelined_on_one_connection_run_one_at_a_time(serve: Serve) -> None:
    hang = CountingHang()
    engine = Engine()
    engine.register("Hang", hang)
    url = await serve(engine)
    where = urlsplit(url)
    body = json.dumps(HANG).encode()
    request = request_head(len(body), stream=True) + body
    _, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(request * 3)
        await asyncio.wait_for(hang.started.wait(), TIMEOUT)
        for _ in range(100):  # the others would start within a few loop turns if they could
            await asyncio.sleep(0)
        assert hang.calls == 1
    finally:
        writer.close()
    await asyncio.wait_for(hang.cancelled.wait(), TIMEOUT)
