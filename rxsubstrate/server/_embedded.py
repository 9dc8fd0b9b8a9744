"""The local server a ``Substrate()`` with no key or URL talks to: the app on a loopback port.

It runs on a daemon thread with its own event loop, so it serves sync and async clients alike
and never blocks the caller's loop. A loopback port is open to every process and user of the
machine, so the server requires a key, by default a random one made for it alone, which its
own client sends.
"""

from __future__ import annotations

import secrets
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Final

from aiohttp import web

from .._errors import ServerClosed, WouldDeadlock
from .._loop_thread import LoopThread
from ._app import create_app
from ._limits import ServerLimits
from ._serving import serve_on

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["EMBEDDED_LIMITS", "EmbeddedServer"]

EMBEDDED_LIMITS: Final = ServerLimits(max_connections=512)

_CLOSED: Final = "this EmbeddedServer is closed; create a new one"


class EmbeddedServer:
    """The Substrate app served on ``127.0.0.1`` at an ephemeral port, from a daemon thread.

    Nothing starts until ``start()``; ``close()`` cancels the runs in flight (their clients see
    the stream end early), stops the server and joins its thread. Both are thread-safe and
    idempotent; a closed server does not start again.

    Args:
        engine: the engine to serve; default a new ``rxsubstrate.engine.Engine()``, made on
            ``start()``.
        api_key: the key requests must send as ``Authorization: Bearer``; default a random one
            (``secrets.token_urlsafe``), read from ``api_key``.
        limits: the bounds on each request and connection; default ``EMBEDDED_LIMITS``, at
            most 512 connections, which fits the common 1,024 file descriptors of a process.
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        api_key: str | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self._engine = engine
        self._api_key = api_key or secrets.token_urlsafe(32)
        self._limits = limits or EMBEDDED_LIMITS
        self._lock = threading.Lock()
        self._loop_thread = LoopThread(
            name="rxsubstrate-embedded-server", closed_error=lambda: ServerClosed(_CLOSED)
        )
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else (self._url or "not started")
        return f"EmbeddedServer({state})"

    @property
    def api_key(self) -> str:
        """The key a client must send as ``Authorization: Bearer``; keep it out of logs."""
        return self._api_key

    @property
    def url(self) -> str | None:
        """The base URL while the server runs, else None."""
        return self._url

    def start(self) -> str:
        """Start serving (once) and return the base URL, e.g. ``http://127.0.0.1:40123``.

        Returns once the port accepts connections.

        Raises:
            ServerClosed: the server was closed.
        """
        with self._lock:
            if self._closed:
                raise ServerClosed(_CLOSED)
            if self._url is None:
                # Made here, not on the loop: loading the engine would stall it (and asyncio's
                # debug mode, ``python -X dev``, reports any callback that slow).
                app = create_app(self._engine, api_key=self._api_key, limits=self._limits)
                self._runner, self._url = self._loop_thread.run(self._serve(app))
            return self._url

    def in_server_thread(self) -> bool:
        """True on the thread that serves, where ``close()`` cannot wait for itself."""
        return self._loop_thread.in_loop_thread()

    async def _serve(self, app: web.Application) -> tuple[web.AppRunner, str]:
        # Bound and listening before the site starts: a client connecting early waits in the
        # backlog instead of being refused.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
            runner = await serve_on(app, sock)
        except BaseException:
            sock.close()
            raise
        host, port = sock.getsockname()[:2]
        return runner, f"http://{host}:{port}"

    def close(self) -> None:
        """Cancel the runs in flight, stop serving and join the thread (idempotent).

        Raises:
            WouldDeadlock: called from a request handler running on this server's own thread.
        """
        if self._loop_thread.in_loop_thread():
            raise WouldDeadlock("close() the EmbeddedServer from another thread than its own")
        with self._lock:
            self._closed = True
            runner, self._runner, self._url = self._runner, None, None
        self._loop_thread.close(runner.cleanup() if runner is not None else None)

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
