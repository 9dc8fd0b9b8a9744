"""Raw HTTP/1.1 bytes for the tests and ``bench_server`` that speak to the server by hand."""

from __future__ import annotations

from typing import Final

# A request line and the start of a header, never finished: what a slowloris client sends.
PARTIAL_HEAD: Final = b"POST /compose HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def request_head(length: int, *, stream: bool = False) -> bytes:
    """The head of ``POST /compose`` with a JSON body of ``length`` bytes (SSE if ``stream``)."""
    accept = b"Accept: text/event-stream\r\n" if stream else b""
    return (
        b"POST /compose HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"%sContent-Length: %d\r\n\r\n" % (accept, length)
    )
