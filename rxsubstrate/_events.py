"""Typed Substrate stream events, and their JSON codec.

Every event on the wire is a JSON object tagged by its ``"object"`` field. Known tags decode to
frozen msgspec Structs; an unknown tag decodes to ``UnknownEvent``, which keeps the raw JSON so a
newer server never breaks an older client. ``decode_batch`` decodes many events in one msgspec
call: the hot path of the client.
"""

from typing import Any, Final, TypeAlias

import msgspec

from ._errors import MalformedEvent

__all__ = [
    "ErrorData",
    "Event",
    "GraphResult",
    "NodeDelta",
    "NodeError",
    "NodeResult",
    "UnknownEvent",
    "decode_batch",
    "decode_event",
    "encode_event",
]


class _WireEvent(msgspec.Struct, frozen=True, gc=False, tag_field="object"):
    def to_dict(self) -> dict[str, Any]:
        """The event as the plain dict the official SDK's ``ServerSentEvent.data`` returns."""
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class NodeDelta(_WireEvent, tag="node.delta", frozen=True, gc=False):
    """An incremental chunk of one node's output.

    ``data`` mirrors the node's output shape: a string field holds a chunk to append, and an array
    field holds ``{"object": "array.item", "index": i, "item": <chunk of item i>}``, recursively.
    """

    node_id: str
    data: dict[str, Any]


class NodeResult(_WireEvent, tag="node.result", frozen=True, gc=False):
    """One node finished; ``data`` is its whole output."""

    node_id: str
    data: dict[str, Any]


class ErrorData(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """What a failed node reports: ``type`` is ``api_error``, ``invalid_request_error`` or
    ``dependency_error``."""

    type: str
    message: str
    status_code: int | None = None


class NodeError(_WireEvent, tag="node.error", frozen=True, gc=False):
    """One node failed. Its dependents fail with ``dependency_error``; other branches go on."""

    node_id: str
    data: ErrorData


class GraphResult(_WireEvent, tag="graph.result", frozen=True, gc=False):
    """The whole run finished: always the last event of a complete stream.

    ``data`` has the structure of the non-streaming response, ``{"data": {node_id: output}}``.
    """

    data: dict[str, Any]

    @property
    def outputs(self) -> dict[str, Any]:
        """Each visible node's output (or error object), by node id."""
        inner = self.data.get("data")
        return inner if isinstance(inner, dict) else {}


class UnknownEvent(msgspec.Struct, frozen=True, gc=False):
    """An event whose ``"object"`` this version does not know; ``raw`` is its JSON, untouched."""

    object: str
    raw: bytes

    def to_dict(self) -> dict[str, Any]:
        """The event's JSON as a dict."""
        return msgspec.json.decode(self.raw)  # type: ignore[no-any-return]


Event: TypeAlias = NodeDelta | NodeResult | NodeError | GraphResult | UnknownEvent
_Known: TypeAlias = NodeDelta | NodeResult | NodeError | GraphResult

_KNOWN_TAGS: Final = frozenset({"node.delta", "node.result", "node.error", "graph.result"})
_one: Final = msgspec.json.Decoder(_Known)
_many: Final = msgspec.json.Decoder(list[_Known])
_loose: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def decode_event(raw: bytes, index: int = 0) -> Event:
    """Decode one event's JSON.

    Raises:
        MalformedEvent: not JSON, not an object with a string ``"object"``, or a known tag with
            the wrong shape.
    """
    try:
        event: Event = _one.decode(raw)
        return event
    except msgspec.ValidationError as exc:
        return _unknown_or_raise(raw, index, exc)
    except msgspec.DecodeError as exc:
        raise MalformedEvent(str(exc), raw, index) from None


def _unknown_or_raise(raw: bytes, index: int, exc: msgspec.ValidationError) -> UnknownEvent:
    try:
        value = _loose.decode(raw)
    except msgspec.DecodeError as err:  # pragma: no cover - the typed decode accepted the syntax
        raise MalformedEvent(str(err), raw, index) from None
    tag = value.get("object") if isinstance(value, dict) else None
    if isinstance(tag, str) and tag not in _KNOWN_TAGS:
        return UnknownEvent(tag, bytes(raw))
    raise MalformedEvent(str(exc), raw, index) from None


def decode_batch(payloads: list[bytes], first_index: int = 0) -> list[Event]:
    """Decode many events' JSON, in one msgspec call when every one is well formed.

    Args:
        payloads: each event's data bytes, in stream order.
        first_index: the stream position of ``payloads[0]``, for error messages.

    Raises:
        MalformedEvent: for the first event that cannot be decoded.
    """
    if not payloads:
        return []
    try:
        return _many.decode(b"[" + b",".join(payloads) + b"]")  # type: ignore[return-value]
    except (msgspec.ValidationError, msgspec.DecodeError):
        # Slow path only when something is off: find which event, and keep unknown ones.
        return [decode_event(raw, first_index + i) for i, raw in enumerate(payloads)]


def encode_event(event: Event) -> bytes:
    """The event as wire JSON; ``decode_event(encode_event(e)) == e``."""
    if isinstance(event, UnknownEvent):
        return event.raw
    return _encoder.encode(event)


for _name in __all__:
    obj = globals()[_name]
    if isinstance(obj, type):
        obj.__module__ = "rxsubstrate"
