"""Typed events: decoding, unknown kinds, malformed data, and round trips."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxsubstrate import (
    ErrorData,
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
    assert decode_batch(raw) == [
        NodeDelta("a", {"text": "hi"}),
        NodeResult("a", {"text": "hi"}),
        NodeError("b", ErrorData("api_error", "boom")),
        GraphResult({"data": {"a": {"text": "hi"}}}),
    ]
    assert GraphResult({"data": {"a": 1}}).outputs == {"a": 1}


def test_unknown_object_keeps_its_raw_json_and_the_stream_goes_on() -> None:
    raw = b'{"object":"node.progress","node_id":"a","percent":40}'
    events = decode_batch([raw, b'{"object":"node.delta","node_id":"a","data":{}}'])
    assert events == [UnknownEvent("node.progress", raw), NodeDelta("a", {})]
    assert encode_event(events[0]) == raw
    assert events[0].to_dict() == {"object": "node.progress", "node_id": "a", "percent": 40}


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
    good = b'{"object":"node.delta","node_id":"a","data":{}}'
    with pytest.raises(MalformedEvent, match=detail) as info:
        decode_batch([good, raw], first_index=10)
    assert info.value.index == 11
    assert info.value.raw == raw


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
