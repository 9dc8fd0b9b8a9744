"""The SSE decoder against the WHATWG rules: examples, and a plain line-by-line reference
(``tests/sse_reference.py``) under random chunkings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxsubstrate import EventTooLarge, ServerSentEvent, SSEDecoder
from rxsubstrate._sse import encode_sse
from tests.sse_reference import parse


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


def test_an_empty_chunk_between_cr_and_lf_changes_nothing() -> None:
    assert [e.data for e in decode(b"data: a\r", b"", b"\ndata: b\r\n\r\n")] == [b"a\nb"]


def test_an_event_before_a_run_of_blank_lines_survives_a_read_ending_in_the_run() -> None:
    decoder = SSEDecoder()
    assert decoder.feed_data(b"data: a\n\n\n") == [b"a"]
    assert decoder.feed_data(b"data: b\n\n") == [b"b"]
    assert decoder.feed(b"data: c\n\n\n\n\ndata: d\n\n") == [
        ServerSentEvent(b"c"),
        ServerSentEvent(b"d"),
    ]


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


def test_id_and_retry_hold_for_events_in_later_reads() -> None:
    assert decode(b"retry: 5\nid: 9\n\n", b"data: x\n\n") == [
        ServerSentEvent(b"x", id="9", retry=5)
    ]


def test_id_with_nul_and_non_numeric_retry_are_ignored() -> None:
    events = decode(b"id: 1\ndata: a\n\nid: x\0y\nretry: soon\ndata: b\n\n")
    assert [(e.id, e.retry) for e in events] == [("1", None), ("1", None)]


def test_dispatch_only_on_blank_line_and_pending_event_at_end_is_discarded() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.pending
    assert decoder.feed(b"data: b") == []  # the stream ends here: nothing is dispatched


def test_a_block_without_data_dispatches_nothing_but_empty_data_is_an_event() -> None:
    # The spec checks for an empty data buffer before it drops the trailing LF: "data:" alone
    # leaves "\n" there, so it is an event whose data is empty (its JSON is then malformed).
    assert [e.data for e in decode(b"data:\n\nevent: x\n\ndata: y\n\n")] == [b"", b"y"]


def test_event_too_large_is_a_clear_error_and_the_buffer_is_released() -> None:
    decoder = SSEDecoder(max_event_size=64)
    decoder.feed(b"data: " + b"x" * 40)
    with pytest.raises(EventTooLarge, match="64 bytes"):
        decoder.feed(b"x" * 40)
    assert not decoder.pending
    with pytest.raises(EventTooLarge):  # and it stays failed
        decoder.feed(b"data: ok\n\n")


def test_event_too_large_applies_to_complete_events_too() -> None:
    with pytest.raises(EventTooLarge):
        decode(b"data: " + b"x" * 100 + b"\n\n", max_event_size=64)


# A 67-byte block ("data: ", 60 bytes, LF): over a 64-byte limit whether it arrives whole or not.
OVER = b"data: " + b"x" * 60 + b"\n\n"
HUGE = b"data: " + b"x" * 100 + b"\n\n"


@pytest.mark.parametrize(
    "chunks",
    [
        [b"data: a\n\n" + HUGE],
        [b"data: a\n\n", HUGE],
        [b"data: a\n\ndata: ", HUGE[6:]],
        [b"data: a\n\n" + HUGE[:-2]],  # the stream ends inside it
    ],
    ids=["one read", "a read each", "cut inside", "unfinished"],
)
@pytest.mark.parametrize("whole", [True, False], ids=["feed", "feed_data"])
def test_events_before_an_oversized_one_come_first_then_the_error_however_chunked(
    chunks: list[bytes], whole: bool
) -> None:
    assert run(SSEDecoder(max_event_size=64), chunks, whole) == ([b"a"], True)


def test_the_error_is_known_as_soon_as_it_is_found_and_raised_by_the_next_call() -> None:
    decoder = SSEDecoder(max_event_size=64)
    assert decoder.error is None
    assert decoder.feed_data(b"data: a\n\n" + HUGE) == [b"a"]
    assert isinstance(decoder.error, EventTooLarge)
    with pytest.raises(EventTooLarge):
        decoder.feed_data(b"")


def test_the_limit_is_on_the_block_not_on_its_data() -> None:
    # The data is 60 bytes, under the limit; the block is 67: too large, in one read or many.
    with pytest.raises(EventTooLarge):
        decode(OVER, max_event_size=64)
    assert decode(OVER, max_event_size=67) == [ServerSentEvent(b"x" * 60)]
    with pytest.raises(EventTooLarge):
        decode(b": " + b"c" * 70, max_event_size=64)  # comments count too


def test_feed_data_matches_feed() -> None:
    stream = b'data: {"a":1}\n\n: c\ndata: b\r\n\r\ndata: 1\ndata: 2\n\n'
    assert datas(stream) == [e.data for e in decode(stream)]


def cut(stream: bytes, cuts: list[int]) -> list[bytes]:
    """``stream`` cut at ``cuts`` (a repeated cut gives an empty chunk)."""
    points = sorted(min(c, len(stream)) for c in cuts)
    return [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]


def run(decoder: SSEDecoder, chunks: list[bytes], whole: bool) -> tuple[list[bytes], bool]:
    """The data of every event ``feed`` (or ``feed_data``) gives for the chunks, then whether
    ``EventTooLarge`` ended them (a last ``b""`` raises one found after the last events)."""
    datas: list[bytes] = []
    try:
        for chunk in [*chunks, b""]:
            datas.extend(
                [e.data for e in decoder.feed(chunk)] if whole else decoder.feed_data(chunk)
            )
    except EventTooLarge:
        return datas, True
    return datas, False


def check_against_reference(stream: bytes, cuts: list[int], max_event_size: int) -> None:
    expected = parse(stream, max_event_size)
    chunks = cut(stream, cuts)
    decoder = SSEDecoder(max_event_size)
    events: list[ServerSentEvent] = []
    too_large = False
    try:
        for chunk in [*chunks, b""]:
            events.extend(decoder.feed(chunk))
    except EventTooLarge:
        too_large = True
    assert (events, too_large) == (expected.events, expected.too_large)
    if not too_large:
        assert decoder.last_event_id == expected.last_event_id
        assert decoder.pending == expected.pending
    expected_datas = [e.data for e in expected.events]
    assert run(SSEDecoder(max_event_size), chunks, whole=False) == (expected_datas, too_large)


LINE_ENDS = st.sampled_from([b"\n", b"\r", b"\r\n"])
VALUES = st.binary(max_size=10).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
FIELD_LINES = st.one_of(
    st.builds(lambda v: b"data: " + v, VALUES),
    st.builds(lambda v: b"data:" + v, VALUES),
    st.sampled_from(
        [
            *[b""] * 4,  # blank lines, often in runs
            b":",
            b": comment",
            b"data",
            b"data:",
            b"data: ",
            b"data:  two spaces",
            b"data: {}",
            b"event: kind",
            b"event:",
            b"event",
            b"event: \xff\xfe",
            b"id: 3",
            b"id",
            b"id:",
            b"id: a\x00b",
            b"id: \xc3",
            b"retry: 10",
            b"retry: 0015",
            b"retry: 1x",
            b"retry: -1",
            b"retry:",
            b"retry",
            b"zzz: 1",
            b"DATA: upper",
            b" data: leading space",
            b"\xef\xbb\xbfdata: a BOM later is part of the name",
        ]
    ),
)
LIMITS = st.one_of(st.just(1 << 20), st.integers(4, 24))  # blocks here are up to ~30 bytes


@given(
    lines=st.lists(st.tuples(FIELD_LINES, LINE_ENDS), max_size=30),
    rest=st.sampled_from([b"", b"data: unterminated", b"\xef"]),
    bom=st.booleans(),
    cuts=st.lists(st.integers(0, 600), max_size=12),
    max_event_size=LIMITS,
)
def test_any_chunking_gives_what_the_line_by_line_rules_give(
    lines: list[tuple[bytes, bytes]], rest: bytes, bom: bool, cuts: list[int], max_event_size: int
) -> None:
    stream = (b"\xef\xbb\xbf" if bom else b"") + b"".join(a + b for a, b in lines) + rest
    check_against_reference(stream, cuts, max_event_size)


@given(
    pieces=st.lists(
        st.sampled_from(
            [
                *(b"data", b"id", b"retry", b"event", b":", b" ", b"x", b"1", b"\x00"),
                *(b"\r", b"\n", b"\r\n", b"\n\n", b"\xef", b"\xbb\xbf", b"\xef\xbb\xbf"),
            ]
        ),
        max_size=60,
    ),
    cuts=st.lists(st.integers(0, 200), max_size=12),
    max_event_size=LIMITS,
)
def test_any_chunking_of_byte_soup_gives_what_the_rules_give(
    pieces: list[bytes], cuts: list[int], max_event_size: int
) -> None:
    check_against_reference(b"".join(pieces), cuts, max_event_size)


@given(
    events=st.lists(
        st.tuples(VALUES, st.sampled_from([b"\n\n", b"\n\n", b"\n\n", b"\n\n\n", b"\r\n\r\n"])),
        max_size=30,
    ),
    cuts=st.lists(st.integers(0, 600), max_size=12),
    max_event_size=LIMITS,
)
def test_substrate_shaped_streams_on_the_fast_path_give_what_the_rules_give(
    events: list[tuple[bytes, bytes]], cuts: list[int], max_event_size: int
) -> None:
    stream = b"".join(b"data: " + data + end for data, end in events)
    check_against_reference(stream, cuts, max_event_size)


@given(
    st.lists(st.binary(min_size=1, max_size=50), max_size=20),
    st.lists(st.integers(0, 2000), max_size=10),
)
def test_encode_then_decode_round_trips(payloads: list[bytes], cuts: list[int]) -> None:
    # Line ends inside data come back as LF, as the rules say they must.
    stream = b"".join(encode_sse(p) for p in payloads)
    pieces = cut(stream, cuts)
    expected = [p.replace(b"\r\n", b"\n").replace(b"\r", b"\n") for p in payloads]
    assert datas(*pieces) == [e for e in expected if e]
