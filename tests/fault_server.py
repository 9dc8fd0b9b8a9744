"""A raw TCP server on 127.0.0.1 that answers each HTTP request with a fault a test scripts.

Unlike ``ReplayServer`` (a well-behaved aiohttp app), it writes the bytes itself, so it can do
what a broken server or proxy does: accept and never answer, send headers and stall, reset the
connection, send a body in separate TCP segments, answer garbage. It runs on its own thread and
loop (``ServerThread``), so sync and async clients alike reach it over a real socket; leaving
the ``with`` block stops it.

The n-th request gets the n-th behaviour; the last one repeats.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from tests.server_thread import ServerThread

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_HOLD = 30.0  # a stalled answer ends by itself after this, should a test forget the client


@dataclass
class Request:
    """What the server received, and when."""

    head: bytes
    body: bytes
    at: float  # time.monotonic()


class FaultServer(ServerThread):
    def __init__(self, *behaviours: Behaviour, port: int = 0, start_after: float = 0.0) -> None:
        super().__init__()
        assert behaviours
        self.behaviours = behaviours
        self.requests: list[Request] = []
        self.client_gone = threading.Event()  # a stalled answer saw the client close
        self._port = port
        self._start_after = start_after
        self._server: asyncio.Server | None = None
        self._later: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def _start(self) -> str:
        if self._start_after:
            # Listening only later: until then, connections to the port are refused.
            self._later = asyncio.create_task(self._listen_later())
            return f"http://127.0.0.1:{self._port}"
        return await self._listen()

    async def _listen_later(self) -> None:
        await asyncio.sleep(self._start_after)
        await self._listen()

    async def _listen(self) -> str:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._port, reuse_address=True
        )
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._later is not None:
            self._later.cancel()
        if self._server is not None:
            self._server.close()
        # Closing each connection ends its handler (a read sees EOF, a write fails).
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            index = min(len(self.requests), len(self.behaviours) - 1)
            self.requests.append(Request(head, body, time.monotonic()))
            await self.behaviours[index](reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.client_gone.set()
        finally:
            self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()  # sends what is buffered, then closes (a no-op after a reset)


def http_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Keep the connection open, sending nothing, until the client closes it."""
    try:
        async with asyncio.timeout(_HOLD):
            while await reader.read(1024):
                pass
    except TimeoutError:
        return
    raise ConnectionResetError("the client went away")


def silent() -> Behaviour:
    """Accept the request and never answer."""
    return _hold


def reset() -> Behaviour:
    """Read the request, then reset the connection (RST) before any byte of an answer."""

    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    return behave


def raw(data: bytes) -> Behaviour:
    """Write ``data`` as it is (not HTTP, say), then close."""

    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return behave


def answer(
    status: int = 200,
    chunks: Sequence[bytes] = (),
    *,
    content_type: str | None = "text/event-stream",
    headers: dict[str, str] | None = None,
    delay: float = 0.0,
    gap: float = 0.0,
    end: Literal["close", "stall", "reset", "trickle", "flood"] = "close",
) -> Behaviour:
    """An HTTP answer (the body runs until the connection closes).

    Args:
        delay: seconds before the status line.
        gap: seconds between chunks, so that each one leaves in its own TCP segment.
        end: after the chunks, ``close``; ``stall`` (send nothing more, keep the connection
            open); ``reset`` the connection; ``trickle`` SSE comments every 50 ms; or
            ``flood``: send the chunks again and again, as fast as the client reads.
    """
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type

    async def behave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if delay:
            await asyncio.sleep(delay)
        writer.write(http_head(status, all_headers))
        await writer.drain()
        for i, chunk in enumerate(chunks):
            if i and gap:
                await asyncio.sleep(gap)
            writer.write(chunk)
            await writer.drain()
        if end == "stall":
            await _hold(reader, writer)
        elif end == "reset":
            await reset()(reader, writer)
        elif end == "trickle":
            for _ in range(int(_HOLD / 0.05)):
                writer.write(b": keep-alive\n\n")
                await writer.drain()
                await asyncio.sleep(0.05)
        elif end == "flood":
            async with asyncio.timeout(_HOLD):
                while True:
                    writer.writelines(chunks)
                    await writer.drain()

    return behave


def free_port() -> int:
    """A port nothing listens on (yet): connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
