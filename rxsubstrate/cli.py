"""The ``rxsubstrate`` command: ``serve`` the local engine over HTTP, or run the ``demo``.

``rxsubstrate serve`` binds its socket before anything else, so with ``--port 0`` the port it
prints is the one it serves; with ``--workers N`` the N worker processes share that socket and
the kernel spreads connections over them. SIGINT or SIGTERM stops it gracefully: runs in flight
are cancelled and their clients see the stream end early.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["main"]

_SHUTDOWN_TIMEOUT: Final = 10.0
_log = logging.getLogger("rxsubstrate.serve")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.text_backend and not args.model:
            parser.error("--text-backend needs --model")
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        if args.chunk_delay < 0:
            parser.error("--chunk-delay must be >= 0")
        return _serve(_ServeOptions.from_args(args), args.host, args.port, args.workers)
    return _demo(args.chunk_delay)


def _parser() -> argparse.ArgumentParser:
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
    serve.add_argument(
        "--api-key",
        default=os.environ.get("RXSUBSTRATE_API_KEY"),
        help="require 'Authorization: Bearer KEY' (default $RXSUBSTRATE_API_KEY; none: open)",
    )
    serve.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between a node's deltas"
    )
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port")
    serve.add_argument(
        "--text-backend",
        metavar="URL",
        help="answer text nodes with an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1",
    )
    serve.add_argument("--model", help="the model name to ask the text backend for")
    serve.add_argument(
        "--text-backend-key",
        default=os.environ.get("RXSUBSTRATE_TEXT_BACKEND_KEY"),
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
    chunk_delay: float
    text_backend: str | None
    model: str | None
    text_backend_key: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _ServeOptions:
        return cls(
            args.api_key or None,
            args.chunk_delay,
            args.text_backend,
            args.model,
            args.text_backend_key or None,
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


def _serve(options: _ServeOptions, host: str, port: int, workers: int) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
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
        return _supervise(sock, options, workers)


def _supervise(sock: socket.socket, options: _ServeOptions, workers: int) -> int:
    """Start the workers on the shared socket; on SIGINT/SIGTERM stop them and wait."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        context = multiprocessing.get_context("spawn")
        children = [
            context.Process(
                target=_worker, args=(sock, options), name=f"rxsubstrate-worker-{i}", daemon=True
            )
            for i in range(workers)
        ]
        for child in children:
            child.start()
        while not stop.wait(0.5):
            if not any(child.is_alive() for child in children):
                _log.error("every worker exited; stopping")
                return 1
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the worker shuts down gracefully
        for child in children:
            child.join(_SHUTDOWN_TIMEOUT)
            if child.is_alive():
                child.kill()
                child.join()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker(sock: socket.socket, options: _ServeOptions) -> None:
    """A worker process: serve on the socket the supervisor bound."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s")
    with sock:
        asyncio.run(_serve_socket(sock, options))


_STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)


async def _serve_socket(sock: socket.socket, options: _ServeOptions) -> None:
    """Serve the app on a bound socket until SIGINT or SIGTERM, then shut down gracefully."""
    from aiohttp import web

    from .server import create_app

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    runner = web.AppRunner(
        create_app(options.engine(), api_key=options.api_key),
        handler_cancellation=True,
        shutdown_timeout=_SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        await stop.wait()
    finally:
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
