"""A real loopback HTTP server that answers POST /compose with bytes a test chooses.

It runs on its own thread and loop, so sync clients (``iter()``, ``run()``) and async clients
alike talk to it over a real socket. Use it as a context manager: leaving stops it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.server_thread import ServerThread


@dataclass
class Reply:
    """What the server sends: a status, headers, body chunks, then how it ends."""

    chunks: Sequence[bytes] = ()
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    cut: bool = False  # close the socket after the chunks, mid-stream
    hang: bool = False  # after the chunks, keep the connection open and send nothing
    trickle: bool = False  # after the chunks, send SSE comments until the client goes away


@dataclass
class Seen:
    """What the server received."""

    headers: dict[str, str]
    body: bytes


class ReplayServer(ServerThread):
    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply
        self.requests: list[Seen] = []
        self.client_gone = threading.Event()
        self.chunks_sent = threading.Event()  # every chunk was written (a reader took them)
        self._runner: web.AppRunner | None = None

    async def _start(self) -> str:
        app = web.Application()
        app.router.add_post("/compose", self._compose)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        await self._finish_handlers()  # one still hanging or trickling

    async def _compose(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Seen(dict(request.headers), await request.read()))
        reply = self.reply
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        await response.prepare(request)
        try:
            for chunk in reply.chunks:
                await response.write(chunk)
            self.chunks_sent.set()
            if reply.cut:
                assert request.transport is not None
                request.transport.close()
                return response
            if reply.trickle:
                for _ in range(20_000):  # bounded: about 200 s at most
                    await response.write(b": keep-alive\n\n")
                    await asyncio.sleep(0.01)
            if reply.hang:
                await asyncio.sleep(30)
        except (ConnectionError, asyncio.CancelledError):
            self.client_gone.set()
            raise
        await response.write_eof()
        return response


def sse(*payloads: bytes) -> bytes:
    return b"".join(b"data: " + p + b"\n\n" for p in payloads)


def seed_events() -> list[dict[str, Any]]:
    """The seed example's stream: two ComputeText nodes, the second built on the first."""
    return [
        {"object": "node.delta", "node_id": "a", "data": {"text": "Windmills "}},
        {"object": "node.delta", "node_id": "a", "data": {"text": "turn."}},
        {"object": "node.result", "node_id": "a", "data": {"text": "Windmills turn."}},
        {"object": "node.delta", "node_id": "b", "data": {"text": "Yes"}},
        {"object": "node.result", "node_id": "b", "data": {"text": "Yes"}},
        {
            "object": "graph.result",
            "data": {"data": {"a": {"text": "Windmills turn."}, "b": {"text": "Yes"}}},
        },
    ]
