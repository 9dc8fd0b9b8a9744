"""The loopback server: precomputed Substrate streams over aiohttp, in a process of its own.

Run as ``python -m benchmarks._server``; it prints ``PORT <port>`` once it listens on 127.0.0.1
and serves until its stdin closes (so it never outlives the benchmark that started it).

Routes, where ``{n}`` is the stream length and ``{mode}`` how it is written:

- ``POST /s/{n}/{mode}/compose``: the stream; ``mode`` is ``chunked`` (64 KiB writes that cut
  events anywhere) or ``events`` (one write per event). The dag is read and ignored. A client's
  ``base_url`` is ``http://127.0.0.1:PORT/s/{n}/{mode}``, so every client posts to its usual
  ``{base_url}/compose``.
- ``GET /s/{n}/stats``: builds the stream if needed (so a timed run never pays for that) and
  returns its event and byte counts and one node's final output, for the consumers' checks.
- ``PUT /recorded/{name}``: keeps the body, a run's SSE bytes as another server sent them (the
  server benchmark records ``rxsubstrate serve``); ``POST /recorded/{name}/{mode}/compose``
  then serves them like a stream above: the minimal aiohttp SSE server, ``serve``'s ceiling.

The server runs apart from the consumer so its CPU time is not spent under the consumer's GIL.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from collections import OrderedDict
from types import TracebackType
from typing import Final

from aiohttp import web

from ._stream import Stream, build_stream

__all__ = ["ServerProcess"]

CHUNK: Final = 64 * 1024
_CACHED: Final = 2


class _Streams:
    """The last few streams built, by length (a full run needs one length at a time)."""

    def __init__(self) -> None:
        self._cache: OrderedDict[int, Stream] = OrderedDict()

    def get(self, n: int) -> Stream:
        stream = self._cache.get(n)
        if stream is None:
            stream = build_stream(n)
            self._cache[n] = stream
            while len(self._cache) > _CACHED:
                self._cache.popitem(last=False)
        self._cache.move_to_end(n)
        return stream


def _app() -> web.Application:
    streams = _Streams()

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(streams.get(int(request.match_info["n"])).stats)

    recorded: dict[str, Stream] = {}

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        events = [event + b"\n\n" for event in body.split(b"\n\n") if event]
        recorded[request.match_info["name"]] = Stream(events, body)
        return web.json_response({"events": len(events), "bytes": len(body)})

    async def replay(request: web.Request) -> web.StreamResponse:
        await request.read()
        stream = recorded[request.match_info["name"]]
        return await _write(request, stream, request.match_info["mode"])

    async def compose(request: web.Request) -> web.StreamResponse:
        await request.read()
        stream = streams.get(int(request.match_info["n"]))
        return await _write(request, stream, request.match_info["mode"])

    app = web.Application(client_max_size=1 << 30)
    app.router.add_post(r"/s/{n:\d+}/{mode:chunked|events}/compose", compose)
    app.router.add_get(r"/s/{n:\d+}/stats", stats)
    app.router.add_put(r"/recorded/{name}", record)
    app.router.add_post(r"/recorded/{name}/{mode:chunked|events}/compose", replay)
    return app


async def _write(request: web.Request, stream: Stream, mode: str) -> web.StreamResponse:
    """``stream`` as an SSE answer: one write per event, or 64 KiB writes."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    if mode == "events":
        for event in stream.events:
            await response.write(event)
    else:
        body = memoryview(stream.body)
        for start in range(0, len(body), CHUNK):
            await response.write(body[start : start + CHUNK])
    await response.write_eof()
    return response


async def _serve() -> None:
    runner = web.AppRunner(_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    server = site._server
    assert isinstance(server, asyncio.base_events.Server)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    loop = asyncio.get_running_loop()
    # stdin closing (the parent exited or stopped us) is the signal to stop.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    await runner.cleanup()


class ServerProcess:
    """Starts the server in a child process; stops it on exit. ``url(n, mode)`` is a base_url."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the benchmark server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def url(self, n: int, mode: str = "chunked") -> str:
        return f"http://127.0.0.1:{self.port}/s/{n}/{mode}"

    def record(self, name: str, body: bytes) -> int:
        """Keep ``body`` (a run's SSE bytes), served at ``recorded_url(name, mode)``; its events."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/recorded/{name}", data=body, method="PUT"
        )
        with urllib.request.urlopen(request) as response:
            return int(json.loads(response.read())["events"])

    def recorded_url(self, name: str, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/recorded/{name}/{mode}"

    def stats(self, n: int) -> dict[str, object]:
        """Build stream ``n`` on the server (untimed) and return what consumers should see."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/s/{n}/stats") as response:
            return json.loads(response.read())  # type: ignore[no-any-return]


if __name__ == "__main__":
    asyncio.run(_serve())
