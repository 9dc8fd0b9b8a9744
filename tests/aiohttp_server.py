"""An aiohttp app served on a loopback port from a thread of its own, as ``uvicorn_server``
serves an ASGI app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from tests.server_thread import ServerThread


class _AppServer(ServerThread):
    def __init__(self, app: web.Application, handler_cancellation: bool) -> None:
        super().__init__()
        self._runner = web.AppRunner(
            app, handler_cancellation=handler_cancellation, shutdown_timeout=1
        )

    async def _start(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def _stop(self) -> None:
        await self._runner.cleanup()
        await self._finish_handlers()


@contextmanager
def serve_aiohttp_on_loopback(
    app: web.Application, *, handler_cancellation: bool = False
) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1; yields its base URL, stops the server on leaving."""
    with _AppServer(app, handler_cancellation) as server:
        yield server.url
