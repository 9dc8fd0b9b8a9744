"""The server's SSE encoding: ``write_wire_sse`` (many events into one buffer) against ``wire_sse``
(one at a time), and both read back by the independent reference parser."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rxsubstrate import ErrorData, Event, GraphResult, NodeDelta, NodeError, NodeResult
from rxsubstrate._events import UnknownEvent, decode_event
from rxsubstrate._sse_writer import wire_sse, write_wire_sse
from tests.sse_reference import parse

texts = st.text(st.characters(codec="utf-8"), max_size=20)  # line ends and controls included
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
data = st.dictionaries(texts, json_values, max_size=3)
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(NodeDelta, node_id=texts, data=data),
    st.builds(NodeResult, node_id=texts, data=data),
    st.builds(NodeError, node_id=texts, data=st.builds(ErrorData, type=texts, message=texts)),
    st.builds(GraphResult, data=data),
)


@given(st.lists(events, max_size=8))
def test_many_events_in_one_buffer_are_each_events_wire_sse(batch: list[Event]) -> None:
    buffer = bytearray(b"before")
    write_wire_sse(batch, buffer)
    assert bytes(buffer) == b"before" + b"".join(wire_sse(event) for event in batch)


@given(st.lists(events, max_size=8))
def test_the_reference_parser_reads_back_every_event(batch: list[Event]) -> None:
    buffer = bytearray()
    write_wire_sse(batch, buffer)
    parsed = parse(bytes(buffer), max_event_size=1 << 20)
    assert not parsed.pending
    assert [decode_event(message.data) for message in parsed.events] == batch


def test_an_unknown_event_whose_json_spans_lines_is_one_event_of_several_data_lines() -> None:
    raw = b'{"object": "future.event",\n "x": 1}'
    buffer = bytearray()
    write_wire_sse([UnknownEvent(object="future.event", raw=raw)], buffer)
    assert bytes(buffer) == b'data: {"object": "future.event",\ndata:  "x": 1}\n\n'
    assert [message.data for message in parse(bytes(buffer), 1 << 20).events] == [raw]
