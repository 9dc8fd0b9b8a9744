"""``to_sse``: events back to Server-Sent Events text, to proxy a run to another client."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable
from reactivex import operators as ops

from .._events import Event, encode_event
from .._sse import encode_sse

__all__ = ["to_sse"]


def to_sse() -> Callable[[Observable[Event]], Observable[str]]:
    """Each event as the SSE text the server writes for it: ``data: {json}\\n\\n``.

    The chunks can go straight to a streaming HTTP response (FastAPI's ``StreamingResponse``,
    aiohttp's ``StreamResponse.write`` after ``.encode()``).

    ::

        ---d(a)-----r(a)-----|      to_sse()
        ---s(d(a))--s(r(a))--|      s(e) = "data: " + json(e) + "\\n\\n"
    """
    return ops.map(lambda event: encode_sse(encode_event(event)).decode())
