"""Fixtures: the real app on a loopback port, and engines with test node kinds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rxsubstrate.engine import Engine, NodeContext
from rxsubstrate.server import create_app, serve_on

Serve = Callable[..., Awaitable[str]]


class Hang:
    """A node kind that streams one delta, then waits until it is cancelled.

    Args:
        make_event: ``asyncio.Event`` for a test on the server's loop, ``threading.Event`` for
            one that waits from another thread (the embedded server runs on its own).
    """

    def __init__(self, make_event: Callable[[], Any] = asyncio.Event) -> None:
        self.started = make_event()
        self.cancelled = make_event()

    async def __call__(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[dict[str, Any]]:
        yield {"text": "first"}
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        yield {"text": "never"}  # pragma: no cover


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(engine, **create_app_kwargs)`` -> the base URL of the app on 127.0.0.1.

    The app is served as ``rxsubstrate serve`` serves it (``serve_on``), on a port of its own.
    """
    runners: list[web.AppRunner] = []

    async def start(engine: Engine | None = None, **kwargs: Any) -> str:
        sock = socket.create_server(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        runners.append(await serve_on(create_app(engine, **kwargs), sock))
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s
