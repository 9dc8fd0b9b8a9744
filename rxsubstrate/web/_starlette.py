"""``sse_response``: a run streamed to a browser from a Starlette or FastAPI endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from ._body import HEADERS, MEDIA_TYPE, RunLike, SSEOptions, is_reconnect, sse_body

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["sse_response"]


def sse_response(
    request: Request,
    stream: RunLike,
    **options: Unpack[SSEOptions],
) -> Response:
    """A streaming response that sends the run to a browser's ``EventSource``: ``sse_body``'s
    text, or a 204 (and no run) for a browser that reconnects.

    Return it from an ``async def`` endpoint or a plain ``def`` one: either way the run is read
    on the server's loop, and cancelled when the browser goes away. Starlette is imported
    here, not with ``rxsubstrate``.

    Args:
        request: the endpoint's request (its ``Last-Event-ID`` header marks a reconnect).
        stream: the run (``substrate.stream(...)``); nothing runs until the response is sent.
        options: ``sse_body``'s: ``text``, ``choice``, ``ids``, ``retry``, ``end``, ``ping``.

    Raises:
        ValueError: an option is out of range.
    """
    from starlette.responses import Response, StreamingResponse

    body = sse_body(stream, **options)
    if is_reconnect(request.headers):
        return Response(status_code=204)
    return StreamingResponse(body, media_type=MEDIA_TYPE, headers=HEADERS)
