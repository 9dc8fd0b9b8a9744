"""rxsubstrate: Substrate graph runs as reactive streams of typed events."""

from ._client import RunResult, RunStream, Substrate
from ._config import Limits, Timeout
from ._errors import (
    APIStatusError,
    AuthenticationError,
    ClientClosed,
    ConnectTimeout,
    EventTooLarge,
    MalformedEvent,
    NodeFailed,
    ProtocolError,
    ReadTimeout,
    StreamInterrupted,
    SubstrateError,
    TransportError,
)
from ._events import (
    ErrorData,
    Event,
    GraphResult,
    NodeDelta,
    NodeError,
    NodeResult,
    UnknownEvent,
)
from ._merge import RunEvent, RunsFailed, merge_runs
from ._sse import ServerSentEvent, SSEDecoder
from ._version import __version__

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ClientClosed",
    "ConnectTimeout",
    "ErrorData",
    "Event",
    "EventTooLarge",
    "GraphResult",
    "Limits",
    "MalformedEvent",
    "NodeDelta",
    "NodeError",
    "NodeFailed",
    "NodeResult",
    "ProtocolError",
    "ReadTimeout",
    "RunEvent",
    "RunResult",
    "RunStream",
    "RunsFailed",
    "SSEDecoder",
    "ServerSentEvent",
    "StreamInterrupted",
    "Substrate",
    "SubstrateError",
    "Timeout",
    "TransportError",
    "UnknownEvent",
    "__version__",
    "merge_runs",
]
