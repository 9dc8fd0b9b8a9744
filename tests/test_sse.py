"""The SSE decoder against the WHATWG rules, and chunking independence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxsubstrate import EventTooLarge, ServerSentEvent, SSEDecoder
from rxsubstrate._sse import encode_sse


def decode(*chunks: bytes, max_event_size: int = 1 << 20) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_event_size)
    out: list[ServerSentEvent] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def datas(*chunks: bytes) -> list[bytes]:
    decoder = SSEDecoder()
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(decoder.feed_data(chunk))
    return out


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_every_line_end_is_accepted(end: bytes) -> None:
    stream = b"data: one" + end + end + b"data: two" + end + end
    assert [e.data for e in decode(stream)] == [b"one", b"two"]


def test_cr_ending_one_chunk_and_lf_starting_the_next_are_one_line_end() -> None:
    # Were they two line ends, the blank line would dispatch "a" before "b" is added.
    assert [e.data for e in decode(b"data: a\r", b"\ndata: b\r\n\r\n")] == [b"a\nb"]


def test_leading_bom_is_dropped_even_split_across_chunks() -> None:
    assert [e.data for e in decode(b"\xef", b"\xbb", b"\xbfdata: x\n\n")] == [b"x"]
    # Only at the very start: later it belongs to the field name, which is then unknown.
    assert decode(b"data: x\n\n\xef\xbb\xbfdata: y\n\n") == [ServerSentEvent(b"x")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    stream = b": ping\nfoo: bar\ndata: x\n: more\n\n"
    assert [e.data for e in decode(stream)] == [b"x"]


def test_data_lines_are_joined_with_lf() -> None:
    assert [e.data for e in decode(b"data: a\ndata: b\ndata\n\n")] == [b"a\nb\n"]


def test_one_optional_space_after_the_colon() -> None:
    assert [e.data for e in decode(b"data:x\n\ndata:  y\n\n")] == [b"x", b" y"]


def test_field_without_colon_is_a_name_with_empty_value() -> None:
    assert [e.data for e in decode(b"data\ndata: z\n\n")] == [b"\nz"]


def test_event_id_and_retry_are_kept() -> None:
    events = decode(b"event: ping\nid: 7\nretry: 1500\ndata: x\n\ndata: y\n\n")
    assert events == [
        ServerSentEvent(b"x", "ping", "7", 1500),
        ServerSentEvent(b"y", "message", "7", 1500),
    ]


def test_id_with_nul_and_non_numeric_retry_are_ignored() -> None:
    events = decode(b"id: 1\ndata: a\n\nid: x\0y\nretry: soon\ndata: b\n\n")
    assert [(e.id, e.retry) for e in events] == [("1", None), ("1", None)]


def test_dispatch_only_on_blank_line_and_pending_event_at_end_is_discarded() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.pending
    assert decoder.feed(b"data: b") == []  # the stream ends here: nothing is dispatched


def test_event_with_empty_data_is_skipped() -> None:
    assert [e.data for e in decode(b"data:\n\nevent: x\n\ndata: y\n\n")] == [b"y"]


def test_event_too_large_is_a_clear_error_and_the_buffer_is_released() -> None:
    decoder = SSEDecoder(max_event_size=64)
    decoder.feed(b"data: " + b"x" * 40)
    with pytest.raises(EventTooLarge, match="64 bytes"):
        decoder.feed(b"x" * 40)
    assert not decoder.pending


def test_event_too_large_applies_to_complete_events_too() -> None:
    with pytest.raises(EventTooLarge):
        decode(b"data: " + b"x" * 100 + b"\n\n", max_event_size=64)


def test_feed_data_matches_feed() -> None:
    stream = b'data: {"a":1}\n\n: c\ndata: b\r\n\r\ndata: 1\ndata: 2\n\n'
    assert datas(stream) == [e.data for e in decode(stream)]


lines = st.lists(
    st.one_of(
        st.builds(
            lambda v: b"data: " + v,
            st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b),
        ),
        st.sampled_from(
            [b"", b": comment", b"event: x", b"id: 3", b"retry: 10", b"data", b"data:", b"zzz: 1"]
        ),
    ),
    max_size=30,
)


@given(
    lines=lines,
    ends=st.lists(st.sampled_from([b"\n", b"\r", b"\r\n"]), min_size=1),
    cuts=st.lists(st.integers(0, 400), max_size=12),
    bom=st.booleans(),
)
def test_any_chunking_gives_the_same_events(
    lines: list[bytes], ends: list[bytes], cuts: list[int], bom: bool
) -> None:
    stream = (b"\xef\xbb\xbf" if bom else b"") + b"".join(
        line + ends[i % len(ends)] for i, line in enumerate(lines)
    )
    whole = decode(stream)
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert decode(*pieces) == whole
    assert datas(*pieces) == [e.data for e in whole]


@given(
    st.lists(st.binary(min_size=1, max_size=50), max_size=20),
    st.lists(st.integers(0, 2000), max_size=10),
)
def test_encode_then_decode_round_trips(payloads: list[bytes], cuts: list[int]) -> None:
    # Line ends inside data come back as LF, as the rules say they must.
    stream = b"".join(encode_sse(p) for p in payloads)
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    expected = [p.replace(b"\r\n", b"\n").replace(b"\r", b"\n") for p in payloads]
    assert datas(*pieces) == [e for e in expected if e]
