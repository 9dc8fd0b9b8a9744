"""``aiohttp_sse_response``: a run streamed to a browser from an aiohttp handler."""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Unpack

from ._body import HEADERS, MEDIA_TYPE, RunLike, SSEOptions, is_reconnect, sse_body

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["aiohttp_sse_response"]


async def aiohttp_sse_response(
    request: web.BaseRequest,
    stream: RunLike,
    **options: Unpack[SSEOptions],
) -> web.StreamResponse:
    """Send the run to a browser's ``EventSource`` (``sse_body``'s text), or a 204 and no run
    to a browser that reconnects; return what this returns from the handler.

    When the browser goes away, the run ends: at once if the app runs with
    ``handler_cancellation=True`` (``web.run_app(app, handler_cancellation=True)``), otherwise
    at the next write that fails, an event's or a ping's (every ``ping`` seconds at most).

    Args:
        request: the handler's request (its ``Last-Event-ID`` header marks a reconnect).
        stream: the run (``substrate.stream(...)``); nothing runs before this is awaited.
        options: ``sse_body``'s: ``text``, ``choice``, ``ids``, ``retry``, ``end``, ``ping``.

    Raises:
        ValueError: an option is out of range.
    """
    from aiohttp import web  # aiohttp's server side: imported by those who serve with it

    body = sse_body(stream, **options)
    if is_reconnect(request.headers):
        return web.Response(status=204)
    response = web.StreamResponse(headers=HEADERS)
    response.content_type = MEDIA_TYPE
    response.charset = "utf-8"
    await response.prepare(request)
    async with aclosing(body):
        try:
            async for text_ in body:
                await response.write(text_.encode())
        except ConnectionResetError:  # the browser went away; closing the body ends the run
            return response
    await response.write_eof()
    return response
