"""An ASGI app (FastAPI) served by a real uvicorn server on a loopback port, from a thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_on_loopback(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1; yields its base URL, stops the server on leaving."""
    # The socket listens before uvicorn starts, so a request waits in its backlog: no polling.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
