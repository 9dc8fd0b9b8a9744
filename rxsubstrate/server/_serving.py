"""``serve_on``: the app served on a listening socket with every limit of its ``ServerLimits``."""

from __future__ import annotations

import logging
import socket

from aiohttp import web

from ._app import LIMITS
from ._connections import GuardedSite

__all__ = ["serve_on"]


async def serve_on(
    app: web.Application,
    sock: socket.socket,
    *,
    shutdown_timeout: float = 10.0,
    access_log: logging.Logger | None = None,
) -> web.AppRunner:
    """Serve ``app`` (made by ``create_app``) on ``sock``, a bound and listening socket.

    Runs are cancelled when their client goes away (``handler_cancellation``); aiohttp bounds
    the request line, headers and idle keep-alive connections, and a ``GuardedSite`` bounds open
    connections and the time to receive each request, all from ``app``'s ``ServerLimits``.

    Args:
        app: the application.
        sock: the listening socket; serving takes it over, and ``runner.cleanup()`` closes it.
        shutdown_timeout: seconds ``runner.cleanup()`` gives requests in flight to end.
        access_log: where to log each request; None logs nothing.

    Returns:
        The runner; ``await runner.cleanup()`` cancels the runs in flight and stops serving.
    """
    limits = app[LIMITS]
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=access_log,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=limits.keepalive_timeout,
        max_line_size=limits.max_line_size,
        max_field_size=limits.max_field_size,
        max_headers=limits.max_headers,
    )
    await runner.setup()
    try:
        await GuardedSite(
            runner,
            sock,
            max_connections=limits.max_connections,
            receive_timeout=limits.receive_timeout,
        ).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
