"""Typed Substrate stream events, and their JSON codec.

Every event on the wire is one JSON object tagged by its ``"object"`` field. Known tags decode to
frozen msgspec Structs; an unknown tag decodes to ``UnknownEvent``, which keeps the raw JSON so a
newer server never breaks an older client. Anything else -- not one JSON object (two, or none),
not UTF-8, nested past the interpreter's recursion limit, a known tag with the wrong shape -- is
a ``MalformedEvent``. ``decode_batch``, the client's hot path, gives exactly what
``decode_event`` gives one event at a time.
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

    ``data`` is as the server sent it: the structure of the non-streaming response,
    ``{"data": {node_id: output}}``, or the bare ``{node_id: output}``; ``outputs`` reads both.
    """

    data: dict[str, Any]

    @property
    def outputs(self) -> dict[str, Any]:
        """Each visible node's output (or error object), by node id.

        ``data`` is the envelope ``{"data": {node_id: output}}`` when ``"data"`` is its only key
        and holds a mapping whose values are all objects or null, as node outputs and error
        objects are; otherwise ``data`` itself is the ``{node_id: output}`` mapping. So a node
        named ``"data"`` reads right in either shape, except in one case both shapes fit: a bare
        mapping whose only node is ``"data"`` with an output whose fields all hold objects (or
        none), which reads as the envelope, the documented shape.
        """
        inner = self.data.get("data")
        if (
            len(self.data) == 1
            and isinstance(inner, dict)
            and all(output is None or isinstance(output, dict) for output in inner.values())
        ):
            return inner
        return self.data


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
# What msgspec raises for bytes that are not one well-formed JSON value: DecodeError (and its
# ValidationError), UnicodeDecodeError for a string that is not UTF-8, RecursionError for deep
# nesting.
_NOT_DECODED: Final = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
_one: Final = msgspec.json.Decoder(_Known)
_loose: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


def decode_event(raw: bytes, index: int = 0) -> Event:
    """Decode one event's JSON.

    Raises:
        MalformedEvent: not one JSON object with a string ``"object"`` (or not UTF-8, or nested
            too deeply), or a known tag with the wrong shape.
    """
    try:
        event: Event = _one.decode(raw)
        return event
    except msgspec.ValidationError as exc:
        problem: Exception = exc
    except _NOT_DECODED as exc:
        raise _malformed(exc, raw, index) from None
    # A known tag with the wrong shape, or an unknown tag: read it untyped to tell which. The
    # typed decode may have stopped before the end, so this can still find it malformed.
    try:
        value = _loose.decode(raw)
    except _NOT_DECODED as exc:
        raise _malformed(exc, raw, index) from None
    tag = value.get("object") if isinstance(value, dict) else None
    if isinstance(tag, str) and tag not in _KNOWN_TAGS:
        return UnknownEvent(tag, bytes(raw))
    raise _malformed(problem, raw, index) from None


def _malformed(exc: Exception, raw: bytes, index: int) -> MalformedEvent:
    if isinstance(exc, UnicodeDecodeError):
        detail = f"a string is not UTF-8: {exc.reason}"
    elif isinstance(exc, RecursionError):
        detail = "nested too deeply"
    else:
        detail = str(exc)
    return MalformedEvent(detail, raw, index)


def decode_batch(
    payloads: list[bytes], first_index: int = 0
) -> tuple[list[Event], MalformedEvent | None]:
    """Decode many events' JSON: what ``decode_event`` gives for each, up to the first malformed
    one.

    Each payload is decoded on its own (one C call each; joining them into one JSON array would
    let one payload's bytes run into the next), and only a batch with an unknown or malformed
    event takes the slower path that finds which.

    Args:
        payloads: each event's data bytes, in stream order.
        first_index: the stream position of ``payloads[0]``, for error messages.

    Returns:
        The events before the first malformed one (all of them when there is none), and that
        one's ``MalformedEvent`` or None. Deliver the events, then raise the error: nothing
        that arrived before it is lost.
    """
    try:
        if len(payloads) == 1:  # one event per read, common when the client keeps up: no map
            return [_one.decode(payloads[0])], None
        return list(map(_one.decode, payloads)), None
    except _NOT_DECODED:
        pass
    events: list[Event] = []
    for i, raw in enumerate(payloads):
        try:
            events.append(decode_event(raw, first_index + i))
        except MalformedEvent as exc:
            return events, exc
    return events, None


def encode_event(event: Event) -> bytes:
    """The event as wire JSON; ``decode_event(encode_event(e)) == e``."""
    if isinstance(event, UnknownEvent):
        return event.raw
    return _encoder.encode(event)


def encode_known_event_into(event: _Known, buffer: bytearray) -> None:
    """``encode_event(event)`` appended to ``buffer``, with no bytes object in between."""
    _encoder.encode_into(event, buffer, -1)
