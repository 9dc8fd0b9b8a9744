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
    ├── NoValue                     a run's pipeline ended with no value for run() or await;
    │                               also reactivex's SequenceContainsNoElementsError
    ├── BufferOverflow              a source that cannot be paused ran too far ahead of
    │                               iterate()/aiterate()
    ├── ClientClosed                the client was closed; also a UsageError
    ├── engine.GraphInvalid         the local engine refused a dag before running it
    ├── engine.InvalidNodeArgs      a node's resolved arguments are unusable (invalid_request_error)
    └── engine.SandboxFailed        the directive sandbox itself failed (the server's fault)

Misuse is a ``UsageError``, a ``RuntimeError`` whose message says what to do instead::

    UsageError
    ├── ClientClosed                a run started on a closed client (also a SubstrateError:
    │                               it also ends every run still streaming when the client closes)
    ├── ServerClosed                an EmbeddedServer started again after close()
    ├── WouldDeadlock               a blocking call on a thread that it would wait for
    └── StreamConsumed              an iterator of a run read twice, or both with for and async for

No error carries the API key: not in its message, its repr, nor in the exceptions it chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reactivex.internal.exceptions import SequenceContainsNoElementsError

if TYPE_CHECKING:
    from ._events import NodeError

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BufferOverflow",
    "ClientClosed",
    "ConnectError",
    "ConnectTimeout",
    "EventTooLarge",
    "GraphInvalid",
    "InvalidNodeArgs",
    "MalformedEvent",
    "NoValue",
    "NodeFailed",
    "ProtocolError",
    "RateLimited",
    "ReadTimeout",
    "RunTimeout",
    "RunsFailed",
    "SandboxFailed",
    "ServerClosed",
    "ServerError",
    "StreamConsumed",
    "StreamInterrupted",
    "SubstrateError",
    "TransportError",
    "UnexpectedContentType",
    "UsageError",
    "WouldDeadlock",
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
        super().__init__(f"the server answered {content_type}, not {expected}: {_shown(body)}")


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
        super().__init__(f"event #{index} is malformed ({detail}): {_shown(raw)}")


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


class RunsFailed(ExceptionGroup[Exception], SubstrateError):
    """Some of several merged runs failed; the others ran to their end first.

    Attributes:
        failures: each failed run's error, by run label, in the order they failed.
    """

    failures: Mapping[Any, Exception]

    def __new__(cls, failures: Mapping[Any, Exception]) -> RunsFailed:
        labels = ", ".join(repr(label) for label in failures)
        self = super().__new__(
            cls, f"{len(failures)} run(s) failed: {labels}", list(failures.values())
        )
        self.failures = dict(failures)
        return self

    def __init__(self, failures: Mapping[Any, Exception]) -> None:
        labels = ", ".join(repr(label) for label in failures)
        super().__init__(f"{len(failures)} run(s) failed: {labels}", list(failures.values()))

    def derive(self, excs: Sequence[Exception]) -> ExceptionGroup[Exception]:  # type: ignore[override]
        # except* splits the group; the parts are plain groups, since labels no longer line up.
        return ExceptionGroup(self.message, list(excs))


class NoValue(SubstrateError, SequenceContainsNoElementsError):
    """A run's pipeline completed without a value where one was awaited (``.run()``, ``await``).

    The message says why, from what the run sent: the node is not part of the graph, or is
    hidden and sent nothing, or its events did not get through the pipeline's operators. (A
    node that failed raises its ``NodeFailed`` instead.) It is also reactivex's
    ``SequenceContainsNoElementsError``, which ``run()`` raises for any empty Observable.

    Attributes:
        node_ids: the nodes the pipeline's operators select (``for_node``, ``text``, ``typed``),
            or empty when they select none in particular.
    """

    def __init__(self, message: str, node_ids: Sequence[str] = ()) -> None:
        self.node_ids = tuple(node_ids)
        super().__init__(message)


class BufferOverflow(SubstrateError):
    """A source that cannot be paused got ``limit`` items ahead of the consumer of
    ``iterate()`` or ``aiterate()``; its subscription was disposed.

    A run is never the cause: it waits for the consumer. A timer, a subject or a synchronous
    source cannot.

    Attributes:
        limit: the ``buffer`` the iteration was given.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"{limit} items waited for the consumer of iterate()/aiterate(), sent by a source"
            " that cannot be paused; read faster, pass a larger buffer=, or thin the stream"
            " before iterating (reactivex's sample, throttle_first or buffer_with_time)"
        )


class UsageError(RuntimeError):
    """rxsubstrate was called in a way that cannot work; the message says what to do instead."""


class ClientClosed(SubstrateError, UsageError):
    """The client was closed; create a new ``Substrate`` to start more runs.

    A run still streaming when its client is closed ends with it too, after the events it had
    already received.
    """


class ServerClosed(UsageError):
    """An ``EmbeddedServer`` was started after ``close()``; create a new one."""


class WouldDeadlock(UsageError):
    """A blocking call was made on a thread it would have to wait for: the client's loop thread
    (which runs ``subscribe()`` callbacks) or a server's own thread."""


class StreamConsumed(UsageError):
    """An iterator of a run was read a second time, or both with ``for`` and ``async for``;
    each ``iter_events()`` call gives one iterator, read once."""


class GraphInvalid(SubstrateError, ValueError):
    """The local engine cannot run a graph: malformed, cyclic, unknown node kinds, bad arguments,
    or over the engine's limits. Raised by ``Engine.prepare`` before anything runs (a server
    answers it with HTTP 400).

    Attributes:
        message: what is wrong, naming the node, future or argument at fault.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class InvalidNodeArgs(SubstrateError, ValueError):
    """A node's arguments, once its futures are resolved, cannot be used.

    Raise it from a node implementation to report ``invalid_request_error`` rather than
    ``api_error``; the engine does so itself when a future cannot be resolved.

    Attributes:
        message: what is wrong with the arguments.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class SandboxFailed(SubstrateError):
    """The engine's directive sandbox itself failed (a worker could not start, or the engine
    was closed): the server's fault, not the directive's."""


def _shown(data: bytes) -> str:
    """The first 200 bytes of what a server sent, quoted for a message."""
    return repr(data[:200].decode("utf-8", "replace"))
