"""Errors raised by rxsubstrate.

Runtime failures form one tree, so ``except SubstrateError`` catches every one of them::

    SubstrateError
    ├── APIStatusError              the server answered with a non-2xx status
    │   ├── AuthenticationError     401 / 403
    │   ├── RateLimited             429 (retry_after, when the server said)
    │   └── ServerError             5xx (retry_after, when the server said)
    ├── TransportError              the connection could not be made or broke
    │   ├── ConnectError            refused, reset or closed before the server answered
    │   ├── ConnectTimeout          no response headers within Timeout.connect; a TimeoutError
    │   ├── ReadTimeout             no bytes for longer than Timeout.read; a TimeoutError
    │   ├── RunTimeout              the run outlasted Timeout.total; a TimeoutError
    │   └── StreamInterrupted       the stream ended before graph.result
    ├── ProtocolError               the bytes are not a valid Substrate stream
    │   ├── UnexpectedContentType   a 200 answer of another type (an HTML page from a proxy)
    │   ├── EventTooLarge           one SSE event exceeded the configured maximum
    │   └── MalformedEvent          an event's data is not valid JSON or has the wrong shape
    ├── NodeFailed                  a node reported node.error (ops.raise_on_error, RunResult.get)
    ├── RunsFailed                  some merged runs failed (merge_runs; an ExceptionGroup)
    ├── ClientClosed                the client was closed; misuse, so also a RuntimeError
    └── engine.GraphInvalid         the local engine refused a dag before running it

Misuse is also a ``RuntimeError``, apart from I/O failures: ``ClientClosed`` is raised by a run
started on a closed client, and ends every run still streaming when its client is closed.

No error carries the API key: not in its message, its repr, nor in the exceptions it chains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import NodeError

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ClientClosed",
    "ConnectError",
    "ConnectTimeout",
    "EventTooLarge",
    "MalformedEvent",
    "NodeFailed",
    "ProtocolError",
    "RateLimited",
    "ReadTimeout",
    "RunTimeout",
    "ServerError",
    "StreamInterrupted",
    "SubstrateError",
    "TransportError",
    "UnexpectedContentType",
]


class SubstrateError(Exception):
    """Base class of every runtime failure rxsubstrate reports."""


class APIStatusError(SubstrateError):
    """The server answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        message: the server's own message (its JSON ``message``/``error`` field, or the body text).
        request_id: the ``x-substrate-request-id`` header, when the server sent one.
        retry_after: the seconds the server asked to wait before trying again (its
            ``Retry-After`` header, as seconds or an HTTP date), or None.
    """

    def __init__(
        self,
        status: int,
        message: str,
        request_id: str | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after
        suffix = f" (request id {request_id})" if request_id else ""
        if retry_after is not None:
            suffix += f" (retry after {retry_after:g} s)"
        super().__init__(f"HTTP {status}: {message}{suffix}")


class AuthenticationError(APIStatusError):
    """The server refused the API key (401 or 403)."""


class RateLimited(APIStatusError):
    """Too many requests (429); ``retry_after`` says how long the server asked to wait."""


class ServerError(APIStatusError):
    """The server, or a proxy before it, failed (5xx); 502, 503 and 504 are retried."""


class TransportError(SubstrateError):
    """The connection to the server could not be made, or broke while reading."""


class ConnectError(TransportError):
    """No answer began: the connection was refused or reset, or closed before the response
    headers. Nothing reached the consumer, so these are retried (``Retry``)."""


class ConnectTimeout(TransportError, TimeoutError):
    """No response headers within ``Timeout.connect`` (connecting included)."""


class ReadTimeout(TransportError, TimeoutError):
    """The server sent nothing for longer than ``Timeout.read``."""


class RunTimeout(TransportError, TimeoutError):
    """The run outlasted ``Timeout.total``, retries and waits included.

    Attributes:
        events_received: how many events arrived before the deadline.
    """

    def __init__(self, total: float, events_received: int) -> None:
        self.events_received = events_received
        super().__init__(
            f"the run did not finish within Timeout.total={total:g} s"
            f" ({events_received} event(s) received)"
        )


class StreamInterrupted(TransportError):
    """The stream ended before its ``graph.result``: the run's outcome is unknown.

    Attributes:
        events_received: how many events arrived before the stream ended.
        partial_event: True when the stream ended inside an event.
    """

    def __init__(
        self, events_received: int, *, partial_event: bool = False, reason: str = ""
    ) -> None:
        self.events_received = events_received
        self.partial_event = partial_event
        where = "inside an event" if partial_event else "before graph.result"
        because = f": {reason}" if reason else ""
        super().__init__(f"stream ended {where} after {events_received} event(s){because}")


class ProtocolError(SubstrateError):
    """The bytes received are not a valid Substrate event stream."""


class UnexpectedContentType(ProtocolError):
    """A 2xx answer that is not what was asked for: an HTML page from a proxy, a JSON error
    where an event stream was expected.

    Attributes:
        content_type: the answer's ``Content-Type`` (without parameters).
        expected: what the request asked for.
        body: the first bytes of the answer (at most 1 KiB).
    """

    def __init__(self, content_type: str, expected: str, body: bytes) -> None:
        self.content_type = content_type
        self.expected = expected
        self.body = body
        shown = body[:200].decode("utf-8", "replace")
        super().__init__(f"the server answered {content_type}, not {expected}: {shown!r}")


class EventTooLarge(ProtocolError):
    """One SSE event grew past the decoder's ``max_event_size``.

    Attributes:
        limit: the configured maximum, in bytes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"an SSE event exceeded {limit} bytes; raise max_event_size if this is expected"
        )


class MalformedEvent(ProtocolError):
    """An event's data is not valid JSON, or not the shape its ``object`` promises.

    Attributes:
        raw: the event's data bytes (truncated to 200 bytes in the message).
        index: the position of the event in the stream, counting from 0.
    """

    def __init__(self, detail: str, raw: bytes, index: int) -> None:
        self.raw = raw
        self.index = index
        shown = raw[:200].decode("utf-8", "replace")
        super().__init__(f"event #{index} is malformed ({detail}): {shown!r}")


class NodeFailed(SubstrateError):
    """A node of the graph reported ``node.error``.

    Attributes:
        node_id: the failed node.
        type: ``api_error``, ``invalid_request_error`` or ``dependency_error``.
        message: the server's explanation.
    """

    def __init__(self, node_id: str, type: str, message: str) -> None:
        self.node_id = node_id
        self.type = type
        self.message = message
        super().__init__(f"node {node_id} failed with {type}: {message}")

    @classmethod
    def from_event(cls, event: NodeError) -> NodeFailed:
        """The failure a ``node.error`` event reports."""
        return cls(event.node_id, event.data.type, event.data.message)


class ClientClosed(SubstrateError, RuntimeError):
    """The client was closed; create a new ``Substrate`` to start more runs.

    A run still streaming when its client is closed ends with it too, after the events it had
    already received.
    """


for _name in __all__:
    globals()[_name].__module__ = "rxsubstrate"
