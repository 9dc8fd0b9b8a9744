"""Connections are bounded: in number, and in the time each has to deliver a whole request."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rxsubstrate.engine import Engine, NodeContext
from rxsubstrate.server import ServerLimits
from tests.wire import graph, node

from .conftest import Hang, Serve
from .raw_http import PARTIAL_HEAD, request_head

TIMEOUT = 10.0
QUICK = ServerLimits(receive_timeout=0.3)
GRAPH = json.dumps({"dag": graph(node("a"))}).encode()


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    where = urlsplit(url)
    return await asyncio.open_connection(where.hostname, where.port)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (fails after TIMEOUT)."""
    return await asyncio.wait_for(reader.read(), TIMEOUT)


async def test_a_connection_that_sends_nothing_is_closed(serve: Serve) -> None:
    url = await serve(Engine(), limits=QUICK)
    reader, writer = await connect(url)
    try:
        assert await closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_a_connection_stalled_in_its_headers_is_closed(serve: Serve) -> None:
    url = await serve(Engine(), limits=QUICK)
    reader, writer = await connect(url)
    try:
        writer.write(PARTIAL_HEAD)
        assert await closed_by_server(reader) == b""
    finally:
        writer.close()


async def test_headers_trickled_in_are_closed_at_the_deadline_all_the_same(serve: Serve) -> None:
    url = await serve(Engine(), limits=QUICK)
    reader, writer = await connect(url)
    closed = asyncio.ensure_future(closed_by_server(reader))
    try:
        writer.write(PARTIAL_HEAD)
        async with asyncio.timeout(TIMEOUT):
            while not closed.done():  # slowloris: a byte every 20 ms, never a whole request
                writer.write(b"s")
                await asyncio.sleep(0.02)
        assert await closed == b""
    finally:
        writer.close()


async def test_a_body_stalled_past_the_deadline_gets_408_and_is_closed(serve: Serve) -> None:
    url = await serve(Engine(), limits=QUICK)
    reader, writer = await connect(url)
    try:
        writer.write(request_head(1000) + b'{"dag": ')
        answer = await closed_by_server(reader)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["type"] == "invalid_request_error"


async def test_a_keep_alive_connection_gets_a_new_deadline_per_request(serve: Serve) -> None:
    url = await serve(Engine(), limits=ServerLimits(receive_timeout=5))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(f"{url}/compose", json={"dag": graph(node("a"))}) as response:
                assert response.status == 200
                await response.read()


async def test_a_client_slow_to_read_a_large_answer_gets_all_of_it(serve: Serve) -> None:
    async def big(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        return {"text": "x" * 20_000_000}

    engine = Engine()
    engine.register("Big", big)
    url = await serve(engine, limits=QUICK)
    wire_graph = json.dumps({"dag": graph(node("b", "Big", x=1))}).encode()
    reader, writer = await connect(url)
    try:
        writer.write(request_head(len(wire_graph)) + wire_graph)
        await asyncio.sleep(1.0)  # a slow reader: longer than the receive timeout, reading nothing
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    finally:
        writer.close()
    assert len(json.loads(body)["data"]["b"]["text"]) == 20_000_000


async def test_a_new_connection_over_the_limit_closes_the_longest_idle_one(serve: Serve) -> None:
    url = await serve(Engine(), limits=ServerLimits(max_connections=4))
    idle = [await connect(url) for _ in range(4)]
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{url}/compose", json={"dag": graph(node("a"))}) as response,
        ):
            assert response.status == 200
        oldest_reader, _ = idle[0]
        assert await closed_by_server(oldest_reader) == b""
        for reader, _ in idle[1:]:
            assert not reader.at_eof()
    finally:
        for _, writer in idle:
            writer.close()


async def answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> bytes:
    """Send ``request`` on a kept-alive connection and read its whole answer's status line."""
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return head.split(b"\r\n")[0]


async def test_a_keep_alive_connection_outlives_connections_that_never_sent_a_request(
    serve: Serve,
) -> None:
    url = await serve(Engine(), limits=ServerLimits(max_connections=3))
    request = request_head(len(GRAPH)) + GRAPH
    reader, writer = await connect(url)
    try:
        assert await answer(reader, writer, request) == b"HTTP/1.1 200 OK"
        idle = [await connect(url) for _ in range(3)]  # the third evicts the first idle one
        try:
            assert await closed_by_server(idle[0][0]) == b""
            assert await answer(reader, writer, request) == b"HTTP/1.1 200 OK"  # ours is open
        finally:
            for _, idle_writer in idle:
                idle_writer.close()
    finally:
        writer.close()


async def test_when_every_connection_is_busy_a_new_one_is_closed(serve: Serve) -> None:
    hang = Hang()
    engine = Engine()
    engine.register("Hang", hang)
    url = await serve(engine, limits=ServerLimits(max_connections=2))
    busy = []
    try:
        hung = json.dumps({"dag": graph(node("h", "Hang", x=1))}).encode()
        for _ in range(2):
            reader, writer = await connect(url)
            writer.write(request_head(len(hung), stream=True) + hung)
            busy.append((reader, writer))
            assert b"200 OK" in await asyncio.wait_for(reader.readline(), TIMEOUT)

        reader, writer = await connect(url)
        try:
            writer.write(request_head(len(GRAPH), stream=True) + GRAPH)
            assert await closed_by_server(reader) == b""
        finally:
            writer.close()
    finally:
        for _, writer in busy:
            writer.close()
