"""Typed events: decoding, unknown kinds, malformed data, and round trips."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxsubstrate import (
    ErrorData,
    Event,
    GraphResult,
    MalformedEvent,
    NodeDelta,
    NodeError,
    NodeResult,
    UnknownEvent,
)
from rxsubstrate._events import decode_batch, decode_event, encode_event


def test_each_known_object_decodes_to_its_struct() -> None:
    raw = [
        b'{"object":"node.delta","node_id":"a","data":{"text":"hi"}}',
        b'{"object":"node.result","node_id":"a","data":{"text":"hi"}}',
        b'{"object":"node.error","node_id":"b","data":{"type":"api_error","message":"boom"}}',
        b'{"object":"graph.result","data":{"data":{"a":{"text":"hi"}}}}',
    ]
    assert decode_batch(raw) == (
        [
            NodeDelta("a", {"text": "hi"}),
            NodeResult("a", {"text": "hi"}),
            NodeError("b", ErrorData("api_error", "boom")),
            GraphResult({"data": {"a": {"text": "hi"}}}),
        ],
        None,
    )


def test_unknown_object_keeps_its_raw_json_and_the_stream_goes_on() -> None:
    raw = b'{"object":"node.progress","node_id":"a","percent":40}'
    events, error = decode_batch([raw, b'{"object":"node.delta","node_id":"a","data":{}}'])
    assert (events, error) == ([UnknownEvent("node.progress", raw), NodeDelta("a", {})], None)
    assert encode_event(events[0]) == raw
    assert events[0].to_dict() == {"object": "node.progress", "node_id": "a", "percent": 40}


GOOD = b'{"object":"node.delta","node_id":"a","data":{}}'


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"{not json", "malformed"),
        (b'{"object":"node.delta","data":{}}', "node_id"),
        (b'{"object":"node.error","node_id":"a","data":{"type":"x"}}', "message"),
        (b'{"node_id":"a"}', "object"),
        (b"[1,2]", "Expected `object`"),
    ],
)
def test_malformed_event_is_a_typed_error_naming_its_position(raw: bytes, detail: str) -> None:
    events, error = decode_batch([GOOD, raw, GOOD], first_index=10)
    assert events == [NodeDelta("a", {})]  # what came before it, and nothing after
    assert isinstance(error, MalformedEvent)
    assert detail in str(error)
    assert error.index == 11
    assert error.raw == raw


GRAPH_RESULT = b'{"object":"graph.result","data":{"data":{}}}'
DEEP = (
    b'{"object":"node.delta","node_id":"a","data":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (GOOD + b"," + GRAPH_RESULT, "trailing characters"),  # two objects in one event
        (GOOD + b" " + GOOD, "trailing characters"),
        (b" ", "truncated"),
        (b"\n\t ", "truncated"),
        (b"", "truncated"),
        (b'{"object":"node.delta","node_id":"\xff","data":{}}', "not UTF-8"),
        (b'{"object":"node.progress","note":"\xc3"}', "not UTF-8"),  # an unknown kind too
        (DEEP, "nested too deeply"),
        (b'{"object":"node.progress","x":' + b"[" * 100_000, "nested too deeply"),
    ],
    ids=[
        "two events in one",
        "two events, space",
        "space",
        "whitespace",
        "empty",
        "not utf-8",
        "not utf-8, unknown kind",
        "deep",
        "deep, unknown kind",
    ],
)
def test_an_event_that_is_not_exactly_one_json_object_is_malformed(raw: bytes, detail: str) -> None:
    with pytest.raises(MalformedEvent, match=detail):
        decode_event(raw)
    events, error = decode_batch([GOOD, raw, GOOD])
    assert events == [NodeDelta("a", {})]
    assert isinstance(error, MalformedEvent)
    assert (error.index, error.raw) == (1, raw)


def test_two_malformed_events_do_not_merge_into_a_valid_one() -> None:
    # Joined with a comma, as a batch decoder might join them, they are one valid event.
    halves = [b'{"object":"node.delta","node_id":"a"', b'"data":{}}']
    events, error = decode_batch(halves)
    assert events == []
    assert isinstance(error, MalformedEvent)
    assert error.index == 0
    forged = [b'{"object":"node.delta","node_id":"a","data":{"t":[1', b"2]}}"]
    assert decode_batch(forged)[0] == []


@pytest.mark.parametrize(
    ("data", "outputs"),
    [
        ({"data": {"a": {"text": "hi"}, "b": None}}, {"a": {"text": "hi"}, "b": None}),
        ({"a": {"text": "hi"}, "b": None}, {"a": {"text": "hi"}, "b": None}),
        ({"data": {}}, {}),
        ({}, {}),
        # A node named "data", bare: its output's fields are not all objects, so no envelope.
        ({"data": {"text": "hi"}}, {"data": {"text": "hi"}}),
        (
            {"data": {"text": "hi"}, "b": {"text": "yo"}},
            {"data": {"text": "hi"}, "b": {"text": "yo"}},
        ),
        ({"data": None}, {"data": None}),
        # ... and inside the envelope.
        ({"data": {"data": {"text": "hi"}}}, {"data": {"text": "hi"}}),
        # Both readings fit: the documented envelope wins.
        ({"data": {"json_object": {"k": 1}}}, {"json_object": {"k": 1}}),
    ],
    ids=[
        "envelope",
        "bare",
        "empty envelope",
        "empty",
        "bare, node data",
        "bare, node data and b",
        "bare, node data null",
        "envelope, node data",
        "both fit",
    ],
)
def test_graph_result_outputs_read_the_envelope_or_the_bare_mapping(
    data: dict[str, Any], outputs: dict[str, Any]
) -> None:
    assert GraphResult(data).outputs == outputs


def test_to_dict_is_the_official_sdks_message_dict() -> None:
    event = NodeError("n", ErrorData("dependency_error", "upstream failed"))
    assert event.to_dict() == {
        "object": "node.error",
        "node_id": "n",
        "data": {"type": "dependency_error", "message": "upstream failed"},
    }


json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
events = st.one_of(
    st.builds(
        NodeDelta,
        st.text(min_size=1, max_size=8),
        st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    ),
    st.builds(
        NodeResult,
        st.text(min_size=1, max_size=8),
        st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    ),
    st.builds(
        NodeError,
        st.text(min_size=1, max_size=8),
        st.builds(
            ErrorData, st.text(max_size=10), st.text(max_size=20), st.none() | st.integers(400, 599)
        ),
    ),
    st.builds(
        GraphResult,
        st.builds(
            lambda d: {"data": d}, st.dictionaries(st.text(max_size=5), json_values, max_size=3)
        ),
    ),
)


@given(events)
def test_encoding_gives_back_the_same_json(
    event: NodeDelta | NodeResult | NodeError | GraphResult,
) -> None:
    raw = encode_event(event)
    assert decode_event(raw) == event
    assert msgspec.json.decode(raw) == event.to_dict()


@given(
    st.dictionaries(st.text(max_size=5), json_values, max_size=4), st.text(min_size=1, max_size=12)
)
def test_unknown_events_round_trip_byte_for_byte(fields: dict[str, Any], tag: str) -> None:
    if tag in {"node.delta", "node.result", "node.error", "graph.result"}:
        return
    raw = msgspec.json.encode({**fields, "object": tag})
    event = decode_event(raw)
    assert isinstance(event, UnknownEvent)
    assert encode_event(event) == raw


def one_at_a_time(
    payloads: list[bytes], first_index: int
) -> tuple[list[Event], tuple[int, bytes, str] | None]:
    events: list[Event] = []
    for i, raw in enumerate(payloads):
        try:
            events.append(decode_event(raw, first_index + i))
        except MalformedEvent as exc:
            return events, (exc.index, exc.raw, str(exc))
    return events, None


valid = st.builds(encode_event, events)
unknown = st.builds(
    lambda fields, tag: msgspec.json.encode({**fields, "object": tag}),
    st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    st.sampled_from(["node.progress", "x", "", "graph.results"]),
)
malformed = st.one_of(
    st.binary(max_size=20),
    st.sampled_from(
        [
            b"",
            b" ",
            b"\n \t",
            b"null",
            b"[]",
            b'{"object":1}',
            b'{"object":"node.delta","node_id":"\xff","data":{}}',
            b'{"object":"graph.result","data":{"data":{"a":"\xe2\x82"}}}',
            DEEP,
            b"[" * 50 + b"]" * 50,
        ]
    ),
)


@st.composite
def payload_lists(draw: st.DrawFn) -> list[bytes]:
    """Events' data as a hostile stream may carry them: valid, unknown, malformed, two in one,
    one cut in two."""
    payloads = draw(st.lists(st.one_of(valid, valid, unknown, malformed), max_size=8))
    for _ in range(draw(st.integers(0, 2))):
        if not payloads:
            break
        i = draw(st.integers(0, len(payloads) - 1))
        raw = payloads[i]
        if draw(st.booleans()):  # two in one event
            payloads[i] = raw + draw(st.sampled_from([b",", b" ", b"\n", b""])) + draw(valid)
        else:  # one cut in two
            at = draw(st.integers(0, len(raw)))
            payloads[i : i + 1] = [raw[:at], raw[at:]]
    return payloads


@given(payload_lists(), st.integers(0, 1000))
def test_the_batch_decoder_agrees_with_one_at_a_time_decoding(
    payloads: list[bytes], first_index: int
) -> None:
    events, error = decode_batch(payloads, first_index)
    described = None if error is None else (error.index, error.raw, str(error))
    assert (events, described) == one_at_a_time(payloads, first_index)
