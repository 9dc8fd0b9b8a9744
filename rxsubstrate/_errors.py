"""Errors raised by rxsubstrate.

Runtime failures form one tree, so ``except SubstrateError`` catches every one of them::

    SubstrateError
    ├── APIStatusError              the server answered with a non-2xx status
    │   └── AuthenticationError     401 / 403
    ├── TransportError              the connection could not be made or broke
    │   ├── ConnectTimeout          also a TimeoutError
    │   ├── ReadTimeout             no bytes for longer than the idle timeout; also a TimeoutError
    │   └── StreamInterrupted       the stream ended before graph.result
    ├── ProtocolError               the bytes are not a valid Substrate stream
    │   ├── EventTooLarge           one SSE event exceeded the configured maximum
    │   └── MalformedEvent          an event's data is not valid JSON or has the wrong shape
    ├── NodeFailed                  a node reported node.error (ops.raise_on_error, RunResult.get)
    ├── RunsFailed                  some merged runs failed (merge_runs; an ExceptionGroup)
    ├── ClientClosed                the client was closed; misuse, so also a RuntimeError
    └── engine.GraphInvalid         the local engine refused a dag before running it

Misuse is also a ``RuntimeError``, apart from I/O failures: ``ClientClosed`` is raised by a run
started on a closed client, and ends every run still streaming when its client is closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import NodeError

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ClientClosed",
    "ConnectTimeout",
    "EventTooLarge",
    "MalformedEvent",
    "NodeFailed",
    "ProtocolError",
    "ReadTimeout",
    "StreamInterrupted",
    "SubstrateError",
    "TransportError",
]


class SubstrateError(Exception):
    """Base class of every runtime failure rxsubstrate reports."""


class APIStatusError(SubstrateError):
    """The server answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        message: the server's own message (its JSON ``message``/``error`` field, or the body text).
        request_id: the ``x-substrate-request-id`` header, when the server sent one.
    """

    def __init__(self, status: int, message: str, request_id: str | None = None) -> None:
        self.status = status
        self.message = message
        self.request_id = request_id
        suffix = f" (request id {request_id})" if request_id else ""
        super().__init__(f"HTTP {status}: {message}{suffix}")


class AuthenticationError(APIStatusError):
    """The server refused the API key (401 or 403)."""


class TransportError(SubstrateError):
    """The connection to the server could not be made, or broke while reading."""


class ConnectTimeout(TransportError, TimeoutError):
    """No connection to the server within the connect timeout."""


class ReadTimeout(TransportError, TimeoutError):
    """The server sent nothing for longer than the idle-read timeout."""


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
