"""``SSEDecoder`` at the edges the property tests reach only by luck: exact size limits on the
one-line fast path and the line-by-line path, field names that merely look like ``data``, and
line ends split across reads. Each example failed a mutant of ``_sse.py`` that the random
tests let pass in a ``mutmut run``."""

from __future__ import annotations

import pytest

from rxsubstrate import EventTooLarge, ServerSentEvent, SSEDecoder

LIMIT = 64


def decode(*chunks: bytes, max_event_size: int = 1 << 20) -> list[ServerSentEvent]:
    """Every event of the chunks; a last empty read raises an error found after them."""
    decoder = SSEDecoder(max_event_size)
    return [event for chunk in [*chunks, b""] for event in decoder.feed(chunk)]


def block(size: int) -> bytes:
    """A one-line ``data:`` event whose block (line and its line end) is ``size`` bytes."""
    return b"data: " + b"x" * (size - len(b"data: \n")) + b"\n\n"


@pytest.mark.parametrize("after_an_event", [False, True])
def test_a_block_of_exactly_the_limit_is_an_event_one_byte_more_is_too_large(
    after_an_event: bool,
) -> None:
    before = b"data: a\n\n" if after_an_event else b""
    events = decode(before + block(LIMIT), max_event_size=LIMIT)
    assert [len(e.data) for e in events][-1] == LIMIT - len(b"data: \n")
    with pytest.raises(EventTooLarge):
        decode(before + block(LIMIT + 1), max_event_size=LIMIT)


def test_the_limit_counts_every_line_of_a_block() -> None:
    # Two data lines of 8 bytes each (line ends included): a 16-byte block, alone in its read,
    # then second, after a block that must not count towards it.
    assert decode(b"data: a\ndata: b\n\n", max_event_size=16) == [ServerSentEvent(b"a\nb")]
    stream = b"data: z\n\ndata: a\ndata: b\n\n"
    assert decode(stream, max_event_size=16) == [ServerSentEvent(b"z"), ServerSentEvent(b"a\nb")]
    with pytest.raises(EventTooLarge):
        decode(stream, max_event_size=15)


def test_an_unfinished_block_of_exactly_the_limit_is_no_error_yet() -> None:
    decoder = SSEDecoder(LIMIT)
    unfinished = block(LIMIT)[: -len(b"\n\n")]  # 63 bytes: its line end has not come
    assert decoder.feed_data(b"data: a\n\n" + unfinished + b"x") == [b"a"]
    assert decoder.error is None
    assert decoder.pending


def test_a_block_of_data_and_comment_lines_is_its_data_alone() -> None:
    assert decode(b"data: a\n: 1\n: 2\n: 3\n: 4\n\n") == [ServerSentEvent(b"a")]


@pytest.mark.parametrize("name", [b" data", b"Xdata", b"\tdata"])
def test_a_field_named_almost_data_is_unknown(name: bytes) -> None:
    assert decode(name + b": x\n\n") == []
    assert decode(b"data: a\n\n", name + b": x\n\ndata: b\n\n") == [
        ServerSentEvent(b"a"),
        ServerSentEvent(b"b"),
    ]


def test_an_lf_that_starts_a_read_ends_a_line_unless_a_cr_ended_the_last_one() -> None:
    assert decode(b"data: a\n", b"\ndata: b\r\n\r\n") == [
        ServerSentEvent(b"a"),
        ServerSentEvent(b"b"),
    ]


def test_a_stream_of_only_a_bom_leaves_nothing_pending() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb\xbf") == []
    assert not decoder.pending


def test_an_event_type_that_is_not_utf8_is_read_with_replacement() -> None:
    assert decode(b"event: \xff\xfeping\ndata: x\n\n") == [
        ServerSentEvent(b"x", "\ufffd\ufffdping")
    ]
