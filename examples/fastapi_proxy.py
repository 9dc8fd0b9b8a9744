"""A FastAPI proxy: a page streams a story from a graph run, one run per page load.

``sse_response`` sends the story node's text as plain chunks and ends with an ``end`` event,
on which the page (``story_page.html``) closes its ``EventSource``; a browser that reconnects
anyway gets 204 and no second run. The endpoint is ``async def``: the run is read on the
server's loop and cancelled as soon as the browser leaves.

Run it with ``python examples/fastapi_proxy.py`` (embedded local engine, paced like a remote
model; needs ``pip install fastapi uvicorn``), then open the address it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from rxsubstrate import ComputeText, Substrate
from rxsubstrate.engine import Engine
from rxsubstrate.web import sse_response

PAGE = Path(__file__).with_name("story_page.html").read_text(encoding="utf-8")


def story_node(prompt: str) -> ComputeText:
    return ComputeText(prompt=prompt, max_tokens=64)


def create_app(substrate: Substrate) -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.get("/story")
    async def story(request: Request, prompt: str = "tell me about windmills") -> Response:
        node = story_node(prompt)
        return sse_response(request, substrate.stream(node), text=node)

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description="A FastAPI proxy of a graph run to a page.")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--chunk-delay", type=float, default=0.05, help="seconds per chunk")
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", args.port))
    print(f"open http://127.0.0.1:{listener.getsockname()[1]}/  (Ctrl-C stops)", flush=True)
    with Substrate(engine=Engine(chunk_delay=args.chunk_delay)) as substrate:
        server = uvicorn.Server(uvicorn.Config(create_app(substrate), log_level="warning"))
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn stops, then passes Ctrl-C on
            server.run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
