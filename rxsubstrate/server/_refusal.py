"""The server's error answers: ``{"type": ..., "message": ...}`` on every route, messages bounded.

``Refusal`` is raised by the handlers and middlewares; ``json_errors``, the outermost middleware,
turns it (and aiohttp's own ``HTTPException``s: 404, 405, 413, ...) into the JSON answer. Every
message is cut to ``MAX_MESSAGE`` characters here, where the server writes it, because messages
quote what the client sent (a node id, an argument) and a client may send megabytes of it; the
cut is the engine's ``clip``, which also cuts each piece of input the engine's messages quote.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler

from .._quote import clip

__all__ = ["MAX_MESSAGE", "Refusal", "json_errors"]

MAX_MESSAGE: Final = 1000
_json: Final = msgspec.json.Encoder()
_log = logging.getLogger("rxsubstrate.server")


class Refusal(Exception):
    """A request refused with ``status`` and a JSON ``{"type": ..., "message": ...}`` body.

    Args:
        status: the HTTP status.
        type_: the error type, e.g. ``invalid_request_error``.
        message: what went wrong; cut to ``MAX_MESSAGE`` characters.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
        close: close the connection after answering (the client may still be sending).
    """

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self.message = clip(message, MAX_MESSAGE)
        super().__init__(self.message)
        self.status = status
        self.type = type_
        self.headers = dict(headers or {})
        self.close = close

    def response(self) -> web.Response:
        body = _json.encode({"type": self.type, "message": self.message})
        response = web.Response(
            status=self.status, body=body, content_type="application/json", headers=self.headers
        )
        if self.close:
            response.force_close()
        return response


_TYPES: Final = {401: "authentication_error", 403: "authentication_error", 429: "rate_limit_error"}


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> Refusal:
    headers = {name: exc.headers[name] for name in ("Allow", "Retry-After") if name in exc.headers}
    message = exc.reason.lower()
    if exc.status in (404, 405):
        message = f"{message}: {request.method} {request.path}; the API is POST /compose"
    return Refusal(
        exc.status, _TYPES.get(exc.status, "invalid_request_error"), message, headers=headers
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer every refusal, ours or aiohttp's, and every failure as ``{"type", "message"}``."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(request, exc).response()
    except ConnectionError:
        raise  # the client is gone: nobody to answer
    except Exception:  # a bug: logged with its traceback, answered without it
        _log.exception("%s %s failed", request.method, request.path)
        return Refusal(500, "api_error", "the server failed; its log says why").response()
