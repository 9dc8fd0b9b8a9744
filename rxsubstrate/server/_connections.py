"""The listening socket's guard: a bound on open connections and on the time to receive a request.

aiohttp bounds the size of a request line and its headers, and closes a keep-alive connection
that stays idle, but it keeps a connection that sends a partial request line, partial headers or
a partial body (slowloris) for as long as the client likes, and it accepts every connection the
kernel hands it until the process runs out of file descriptors. ``ConnectionGuard`` wraps
aiohttp's protocol factory:

- every connection has ``receive_timeout`` seconds, from its start or from its previous answer,
  to deliver a whole request; one still waiting for its request's head then is closed, and the
  handler reads the body against the same deadline (``receive_deadline``);
- at most ``max_connections`` are open: a new one closes the connection that has waited longest
  for its first request (idle or trickling one in), else the one idle longest between requests,
  or, when every connection is busy running a request, is closed itself.

The guard knows a request has arrived through ``track_requests``, a middleware that brackets
each handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
from collections.abc import Callable
from typing import Final, cast

from aiohttp import web
from aiohttp.typedefs import Handler

__all__ = [
    "ConnectionGuard",
    "GuardedSite",
    "raise_fd_limit",
    "receive_deadline",
    "track_requests",
]

# File descriptors kept for everything else a server process opens (logs, pipes, workers).
FD_RESERVE: Final = 64
_log = logging.getLogger("rxsubstrate.server")


class ConnectionGuard:
    """A protocol factory around aiohttp's that bounds connections; one loop.

    Args:
        factory: aiohttp's protocol factory (``AppRunner.server``).
        max_connections: most connections open at once (clamped to what the process's file
            descriptor limit allows, with a warning).
        receive_timeout: seconds a connection has to deliver each request.
    """

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        *,
        max_connections: int,
        receive_timeout: float,
    ) -> None:
        self._factory = factory
        self.max_connections = _within_fd_limit(max_connections)
        self.receive_timeout = receive_timeout
        self._open: set[_Connection] = set()
        # Connections waiting for a request, longest waiting first (dicts keep insertion order):
        # those yet to send a whole request, and idle ones that have been answered before.
        self._fresh: dict[_Connection, None] = {}
        self._reused: dict[_Connection, None] = {}

    @property
    def open(self) -> int:
        """Connections open now."""
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        return _Connection(self, self._factory())

    def _admit(self, connection: _Connection) -> bool:
        """Count ``connection`` in, closing a waiting one to make room; False if all are busy."""
        if len(self._open) >= self.max_connections:
            waiting = self._fresh or self._reused
            if not waiting:
                _log.debug("%d connections busy; refusing a new one", len(self._open))
                return False
            oldest = next(iter(waiting))
            _log.debug("%d connections open; closing one waiting for a request", len(self._open))
            self._gone(oldest)
            oldest.abort()
        self._open.add(connection)
        return True

    def _waits(self, connection: _Connection) -> None:
        self._works(connection)
        (self._reused if connection.answered else self._fresh)[connection] = None

    def _works(self, connection: _Connection) -> None:
        self._fresh.pop(connection, None)
        self._reused.pop(connection, None)

    def _gone(self, connection: _Connection) -> None:
        self._open.discard(connection)
        self._works(connection)


class _Connection(asyncio.Protocol):
    """One connection: aiohttp's protocol inside, and the deadline for its next request."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._transport: asyncio.BaseTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False
        self.answered = False
        self.deadline = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        if not self._guard._admit(self):
            cast(asyncio.Transport, transport).abort()
            return
        self._admitted = True
        self._inner.connection_made(transport)
        self.wait_for_request()

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._guard._gone(self)
        if self._admitted:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def wait_for_request(self) -> None:
        """The connection is between requests: its next one is due ``receive_timeout`` from now."""
        if self._transport is None or self._transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self._guard.receive_timeout
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(self.deadline, self._expire)
        self._guard._waits(self)

    def request_arrived(self) -> None:
        """A request's head arrived; its handler reads the body against ``deadline``."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.answered = True  # by the time it waits again
        self._guard._works(self)

    def abort(self) -> None:
        """Close at once: nothing is owed to a connection waiting for its next request."""
        if self._transport is not None:
            cast(asyncio.Transport, self._transport).abort()

    def _expire(self) -> None:
        self._timer = None
        _log.debug("a connection sent no whole request within its receive timeout; closing it")
        self.abort()


@web.middleware
async def track_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tell the request's connection (when a guard serves it) when its requests start and end.

    A request ends once its whole answer is sent: the answer is written here (aiohttp would
    write it after the middlewares return; writing it twice is a no-op), so a client slow to
    read a large JSON answer is not timed, or closed to make room, as an idle connection.
    """
    connection = _connection(request)
    if connection is None:
        return await handler(request)
    connection.request_arrived()
    try:
        response = await handler(request)
        with contextlib.suppress(ConnectionError):  # the client left: aiohttp sees to it next
            await response.prepare(request)
            await response.write_eof()
        return response
    finally:
        connection.wait_for_request()


def receive_deadline(request: web.Request, receive_timeout: float) -> float:
    """The loop time by which the request's body must have arrived.

    Under a ``ConnectionGuard``, the deadline its connection had for the whole request; else
    ``receive_timeout`` from now (the body's start).
    """
    connection = _connection(request)
    if connection is not None:
        return connection.deadline
    return asyncio.get_running_loop().time() + receive_timeout


def _connection(request: web.Request) -> _Connection | None:
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, _Connection) else None


class GuardedSite(web.BaseSite):
    """An aiohttp site on a bound, listening socket, its connections under a ``ConnectionGuard``.

    Args:
        runner: the set-up ``web.AppRunner``.
        sock: the listening socket; the site takes it over (stopping the site closes it).
        max_connections, receive_timeout: as for ``ConnectionGuard``.
    """

    __slots__ = ("_guard", "_sock")

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        max_connections: int,
        receive_timeout: float,
    ) -> None:
        super().__init__(runner)
        assert runner.server is not None  # checked by BaseSite too
        self._sock = sock
        self._guard = ConnectionGuard(
            runner.server, max_connections=max_connections, receive_timeout=receive_timeout
        )

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def guard(self) -> ConnectionGuard:
        return self._guard

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._guard, sock=self._sock)


def raise_fd_limit(max_connections: int) -> None:
    """Raise this process's soft file descriptor limit, up to its hard one, to fit
    ``max_connections`` (for a process that is a server only: a program that still uses
    ``select()`` breaks on descriptors past 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _within_fd_limit(max_connections: int) -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or max_connections + FD_RESERVE <= soft:
        return max_connections
    allowed = max(1, soft - FD_RESERVE)
    _log.warning(
        "max_connections=%d does not fit the file descriptor limit (%d); serving at most %d",
        max_connections,
        soft,
        allowed,
    )
    return allowed
