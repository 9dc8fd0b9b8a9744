"""An aiohttp proxy: a page streams a story from a graph run, one run per page load.

``aiohttp_sse_response`` sends the story node's text as plain chunks and ends with an ``end``
event, on which the page (``story_page.html``) closes its ``EventSource``; a browser that
reconnects anyway gets 204 and no second run. ``handler_cancellation=True`` has aiohttp cancel
the handler, and so the run, as soon as the browser leaves.

Run it with ``python examples/aiohttp_proxy.py`` (embedded local engine, paced like a remote
model), then open the address it prints.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from aiohttp import web

from rxsubstrate import ComputeText, Substrate
from rxsubstrate.engine import Engine
from rxsubstrate.web import aiohttp_sse_response

PAGE = Path(__file__).with_name("story_page.html").read_text(encoding="utf-8")


def story_node(prompt: str) -> ComputeText:
    return ComputeText(prompt=prompt, max_tokens=64)


def create_app(substrate: Substrate) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def story(request: web.Request) -> web.StreamResponse:
        prompt = request.query.get("prompt", "tell me about windmills")
        node = story_node(prompt)
        return await aiohttp_sse_response(request, substrate.stream(node), text=node)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/story", story)
    return app


def main() -> int:
    parser = argparse.ArgumentParser(description="An aiohttp proxy of a graph run to a page.")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--chunk-delay", type=float, default=0.05, help="seconds per chunk")
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", args.port))
    print(f"open http://127.0.0.1:{listener.getsockname()[1]}/  (Ctrl-C stops)", flush=True)
    with Substrate(engine=Engine(chunk_delay=args.chunk_delay)) as substrate:
        app = create_app(substrate)
        web.run_app(app, sock=listener, handler_cancellation=True, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
