"""Who may talk to the server: the ``Host`` a loopback connection names, and the API key.

Both are middlewares, so every route (404s and 405s included) refuses the same way before any
handler runs.

A server on loopback is reachable from every web page the machine's browser opens. A page cannot
read a cross-origin answer, but with DNS rebinding (its own name re-pointed at 127.0.0.1) the
answer is same-origin; the ``Host`` header still carries the page's name, so a connection that
arrived on a loopback address must name a loopback host (or one of ``allowed_hosts``, for a
reverse proxy in front). ``POST /compose`` also insists on ``application/json``, which no page can
send cross-origin without a CORS preflight this server never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from ._refusal import Refusal

__all__ = ["check_host", "check_key"]

LOOPBACK_NAMES: Final = frozenset({"127.0.0.1", "localhost", "[::1]"})


def check_host(allowed_hosts: Iterable[str] = ()) -> Middleware:
    """Refuse (421) a loopback connection whose ``Host`` is not a loopback name.

    Args:
        allowed_hosts: more host names to accept (without port), e.g. the name a reverse proxy
            on the same machine forwards.
    """
    allowed = LOOPBACK_NAMES | {host.lower() for host in allowed_hosts}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _arrived_on_loopback(request):
            host = request.headers.get("Host", "")
            if _hostname(host) not in allowed:
                raise Refusal(
                    421,
                    "invalid_request_error",
                    f"this server answers on loopback only to Host 127.0.0.1, localhost or"
                    f" [::1] (with any port), not {host!r}",
                )
        return await handler(request)

    return middleware


def check_key(api_key: str) -> Middleware:
    """Refuse (401, ``WWW-Authenticate: Bearer``) a request without ``Authorization: Bearer KEY``.

    The key is compared in constant time and never written anywhere.
    """
    expected = f"Bearer {api_key}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        sent = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(sent, expected):
            raise Refusal(
                401,
                "authentication_error",
                "missing or invalid API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    return middleware


def _arrived_on_loopback(request: web.Request) -> bool:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if not isinstance(sockname, tuple):
        return False  # a Unix socket, or the connection is gone
    try:
        address = ipaddress.ip_address(sockname[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _hostname(host: str) -> str:
    """The name in a ``Host`` header without its port, lower case; "" when malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]") + 1
        name, port = host[:end], host[end:].removeprefix(":")
        has_port = end < len(host)
    else:
        name, colon, port = host.partition(":")
        has_port = bool(colon)
    if has_port and not (port.isascii() and port.isdigit()):
        return ""
    return name
