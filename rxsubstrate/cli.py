"""The ``rxsubstrate`` command: ``serve`` the local engine over HTTP, or run the ``demo``.

``rxsubstrate serve`` binds its socket before anything else, so with ``--port 0`` the port it
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
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:
    from .engine import Engine
    from .server import ServerLimits

__all__ = ["main"]

_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
_log = logging.getLogger("rxsubstrate.serve")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.text_backend and not args.model:
            parser.error("--text-backend needs --model")
        for name in ("workers", "worker_timeout", "shutdown_timeout"):
            if getattr(args, name) <= 0:
                parser.error(f"--{name.replace('_', '-')} must be > 0")
        if args.chunk_delay < 0:
            parser.error("--chunk-delay must be >= 0")
        try:
            options = _ServeOptions.from_args(args)
        except (OSError, ValueError) as exc:
            parser.error(str(exc))
        return _serve(options, args.host, args.port, args.workers, args.worker_timeout)
    return _demo(args.chunk_delay)


def _parser() -> argparse.ArgumentParser:
    from .server._limits import ServerLimits, describe

    parser = argparse.ArgumentParser(
        prog="rxsubstrate", description="A local, Substrate-compatible graph engine."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve POST /compose on HTTP",
        description="Serve the local engine as a Substrate-compatible API (POST /compose).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port to bind; 0 picks a free one")
    key = serve.add_mutually_exclusive_group()
    key.add_argument(
        "--api-key-file",
        metavar="PATH",
        help="require 'Authorization: Bearer KEY', KEY being the first line of PATH ('-': of"
        " stdin); default $RXSUBSTRATE_API_KEY, and with neither the server is open to anyone"
        " who can reach it",
    )
    key.add_argument(
        "--api-key",
        help="the key itself; discouraged, as every local user can read a process's arguments",
    )
    serve.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to accept on a loopback connection besides 127.0.0.1, localhost and"
        " [::1] (a reverse proxy's public name); repeatable",
    )
    serve.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between a node's deltas"
    )
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument(
        "--worker-timeout",
        type=float,
        default=30.0,
        help="seconds a worker's loop may go without a heartbeat before it is killed and"
        " replaced (with --workers above 1; default 30)",
    )
    serve.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds to finish runs in flight on SIGINT/SIGTERM before cancelling them"
        " (default 10)",
    )
    limits = serve.add_argument_group(
        "limits", "bounds on each client (rxsubstrate.server.ServerLimits)"
    )
    for field in msgspec.structs.fields(ServerLimits):
        limits.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=type(field.default),
            metavar="N",
            help=f"{describe(field)}; default {field.default}",
        )
    serve.add_argument(
        "--text-backend",
        metavar="URL",
        help="answer text nodes with an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1",
    )
    serve.add_argument("--model", help="the model name to ask the text backend for")
    serve.add_argument(
        "--text-backend-key",
        help="the text backend's API key (default $RXSUBSTRATE_TEXT_BACKEND_KEY)",
    )
    demo = commands.add_parser(
        "demo",
        help="stream a two-node graph on the embedded engine",
        description="Run two text nodes, the second fed by the first, and print their streams.",
    )
    demo.add_argument(
        "--chunk-delay", type=float, default=0.05, help="seconds between a node's deltas"
    )
    return parser


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
        from .server import ServerLimits

        api_key = args.api_key or os.environ.get("RXSUBSTRATE_API_KEY") or None
        if args.api_key_file:
            api_key = _read_key(args.api_key_file)
        given = {
            field.name: getattr(args, field.name)
            for field in msgspec.structs.fields(ServerLimits)
            if getattr(args, field.name) is not None
        }
        return cls(
            api_key,
            ServerLimits(**given),
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
        from .engine import Engine

        engine = Engine(chunk_delay=self.chunk_delay)
        if self.text_backend and self.model:
            from .engine._openai import OpenAITextBackend

            OpenAITextBackend(self.text_backend, self.model, self.text_backend_key).install(engine)
        return engine


def _read_key(path: str) -> str:
    """The first line of ``path`` ('-': stdin), stripped.

    Raises:
        OSError: it cannot be read.
        ValueError: it holds no key.
    """
    if path == "-":
        line = sys.stdin.readline()
    else:
        with open(path, encoding="utf-8") as file:
            line = file.readline()
    key = line.strip()
    if not key:
        raise ValueError(f"--api-key-file {path}: no key on its first line")
    return key


def _serve(options: _ServeOptions, host: str, port: int, workers: int, timeout: float) -> int:
    from .server._connections import raise_fd_limit

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
        from .server._workers import supervise

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
    from .server import create_app, serve_on
    from .server._workers import Heartbeat

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
    beat = Heartbeat(*heartbeat, on_orphaned=stop.set) if heartbeat is not None else None
    try:
        if beat is not None:
            beat.start()
        await stop.wait()
    finally:
        if beat is not None:
            beat.stop()
        await runner.cleanup()


def _demo(chunk_delay: float) -> int:
    """The announcement's example on the embedded engine: both nodes' text as it streams."""
    from . import GraphResult, NodeDelta, NodeError, NodeResult, Substrate
    from ._graph import ComputeText, sb
    from .engine import Engine

    a = ComputeText(prompt="tell me about windmills", max_tokens=10)
    b = ComputeText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)
    with Substrate(engine=Engine(chunk_delay=chunk_delay)) as client:
        current = None
        for event in client.stream(a, b).iter():
            if isinstance(event, NodeDelta):
                if event.node_id != current:
                    current = event.node_id
                    print(f"\n{current}: ", end="")
                print(event.data.get("text", ""), end="", flush=True)
            elif isinstance(event, NodeResult):
                print(f"\n{event.node_id} done", flush=True)
                current = None
            elif isinstance(event, NodeError):
                print(f"\n{event.node_id} failed: {event.data.message}", flush=True)
            elif isinstance(event, GraphResult):
                print("\ngraph.result:")
                for node_id, output in event.outputs.items():
                    print(f"  {node_id}: {output}")
    return 0
