"""``rxsubstrate serve``: the local engine over HTTP.

It binds its socket before anything else, so with ``--port 0`` the port it
prints is the one it serves; with ``--workers N`` the N worker processes share that socket, the
kernel spreads connections over them, and a supervisor replaces a worker that dies or stops
answering (``server._workers``). SIGINT or SIGTERM stops it gracefully: runs in flight are
cancelled and their clients see the stream end early.

The API key is best given in a file (``--api-key-file PATH``), on stdin (``--api-key-file -``)
or in ``$RXSUBSTRATE_API_KEY``: every local user can read a process's arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Final

import msgspec

from ._key_file import read_key
from ._usage import BadArguments, HelpFormatter, non_negative_seconds, positive_number

if TYPE_CHECKING:
    from ..engine import Engine
    from ..server import ServerLimits
    from . import Commands

__all__ = ["add_parser", "run"]

_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_log = logging.getLogger("rxsubstrate.serve")


def add_parser(commands: Commands) -> None:
    """``rxsubstrate serve`` and its options."""
    from ..server._limits import ServerLimits, describe

    serve = commands.add_parser(
        "serve",
        help="serve POST /compose on HTTP",
        description="Serve the local engine as a Substrate-compatible API (POST /compose).",
        formatter_class=HelpFormatter,
    )
    serve.set_defaults(handler=run, command_parser=serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument("--port", type=int, default=8787, help="port to bind; 0 picks a free one")
    key = serve.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-file",
        metavar="PATH",
        help="require 'Authorization: Bearer KEY', KEY being the first line of PATH ('-': of"
        " stdin) (default: $RXSUBSTRATE_API_KEY, and with neither the server is open to anyone"
        " who can reach it)",
    )
    key.add_argument(
        "--api-key",
        help="the key itself; discouraged, as every local user can read a process's arguments"
        " (default: none)",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to accept on a loopback connection besides 127.0.0.1, localhost and"
        " [::1] (a reverse proxy's public name); repeatable (default: none)",
    )
    serve.add_argument(
        "--chunk-delay",
        type=non_negative_seconds,
        default=0.0,
        help="seconds between a node's deltas",
    )
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument(
        "--worker-timeout",
        type=positive_number,
        default=30.0,
        help="seconds a worker's loop may go without a heartbeat before it is killed and"
        " replaced (with --workers above 1)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=positive_number,
        default=10.0,
        help="seconds to finish runs in flight on SIGINT/SIGTERM before cancelling them",
    )
    limits = serve.add_argument_group(
        "limits", "bounds on each client (rxsubstrate.server.ServerLimits)"
    )
    for field in msgspec.structs.fields(ServerLimits):
        limits.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=type(field.default),
            default=field.default,
            metavar="N",
            help=describe(field),
        )
    serve.add_argument(
        "--text-backend",
        metavar="URL",
        help="answer text nodes with an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1"
        " (default: the built-in stand-in text)",
    )
    serve.add_argument("--model", help="the model name to ask the text backend for (default: none)")
    serve.add_argument(
        "--text-backend-key",
        help="the text backend's API key (default: $RXSUBSTRATE_TEXT_BACKEND_KEY)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; the exit status.

    Raises:
        BadArguments: options that do not go together, or an unreadable key file.
    """
    if args.text_backend and not args.model:
        raise BadArguments("--text-backend needs --model")
    if args.workers <= 0:
        raise BadArguments("--workers must be > 0")
    try:
        options = _ServeOptions.from_args(args)
    except (OSError, ValueError) as exc:
        raise BadArguments(str(exc)) from None
    return _serve(options, args.host, args.port, args.workers, args.worker_timeout)


@dataclasses.dataclass(frozen=True)
class _ServeOptions:
    """What each worker process needs to build its app (picklable, for spawned workers)."""

    api_key: str | None
    limits: ServerLimits
    allowed_hosts: tuple[str, ...]
    shutdown_timeout: float
    chunk_delay: float
    text_backend: str | None
    model: str | None
    text_backend_key: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _ServeOptions:
        """The options; reads the key file (or stdin).

        Raises:
            OSError: the key file cannot be read.
            ValueError: the key file is empty, or a limit is out of range.
        """
        from ..server import ServerLimits

        api_key = args.api_key or os.environ.get("RXSUBSTRATE_API_KEY") or None
        if args.api_key_file:
            api_key = read_key(args.api_key_file)
        limits = {f.name: getattr(args, f.name) for f in msgspec.structs.fields(ServerLimits)}
        return cls(
            api_key,
            ServerLimits(**limits),
            tuple(args.allow_host),
            args.shutdown_timeout,
            args.chunk_delay,
            args.text_backend,
            args.model,
            args.text_backend_key or os.environ.get("RXSUBSTRATE_TEXT_BACKEND_KEY") or None,
        )

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return f"_ServeOptions(chunk_delay={self.chunk_delay}, text_backend={self.text_backend!r})"

    def engine(self) -> Engine:
        from ..engine import Engine

        engine = Engine(chunk_delay=self.chunk_delay)
        if self.text_backend and self.model:
            from ..engine._openai import OpenAITextBackend

            OpenAITextBackend(self.text_backend, self.model, self.text_backend_key).install(engine)
        return engine


def _serve(options: _ServeOptions, host: str, port: int, workers: int, timeout: float) -> int:
    from ..server._connections import raise_fd_limit

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise_fd_limit(options.limits.max_connections)  # inherited by the workers
    try:
        sock = socket.create_server((host, port), backlog=1024)
    except OSError as exc:
        print(f"rxsubstrate: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    with sock:
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        auth = "API key required" if options.api_key else "no API key"
        print(
            f"rxsubstrate serving on http://{shown}:{bound_port} ({workers} worker(s), {auth})",
            flush=True,
        )
        if workers == 1:
            asyncio.run(_serve_socket(sock, options))
            return 0
        from ..server._workers import supervise

        return supervise(
            sock,
            _worker,
            (options,),
            workers=workers,
            worker_timeout=timeout,
            shutdown_timeout=options.shutdown_timeout,
        )


def _worker(
    sock: socket.socket, beats: Connection, interval: float, options: _ServeOptions
) -> None:
    """A worker process: serve on the socket the supervisor bound, with a heartbeat."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s")
    with sock:
        asyncio.run(_serve_socket(sock, options, (beats, interval)))


async def _serve_socket(
    sock: socket.socket,
    options: _ServeOptions,
    heartbeat: tuple[Connection, float] | None = None,
) -> None:
    """Serve the app on a bound socket until SIGINT or SIGTERM, then shut down gracefully.

    Args:
        sock: the listening socket.
        options: what to serve.
        heartbeat: the supervisor's pipe and the interval to beat on it, in a worker.
    """
    from ..server import create_app, serve_on
    from ..server._workers import Heartbeat
    from ._collector import tune_for_serving

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    app = create_app(
        options.engine(),
        api_key=options.api_key,
        limits=options.limits,
        allowed_hosts=options.allowed_hosts,
    )
    runner = await serve_on(
        app,
        sock,
        shutdown_timeout=options.shutdown_timeout,
        access_log=logging.getLogger("aiohttp.access"),
    )
    tune_for_serving()
    beat = Heartbeat(*heartbeat, on_orphaned=stop.set) if heartbeat is not None else None
    try:
        if beat is not None:
            beat.start()
        await stop.wait()
    finally:
        if beat is not None:
            beat.stop()
        await runner.cleanup()
