"""A replay ends as a live run on the same bytes ends: recordings truncated, corrupted or intact
are replayed from a file and also served by a loopback server to the live client, and both
outcomes (the events, then the error and what it says) must be equal. Marks are found by
``MarkSplitter`` as a plain line-by-line reading of the format finds them."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rxsubstrate import (
    Event,
    EventTooLarge,
    Limits,
    MalformedEvent,
    StreamInterrupted,
    Substrate,
    replay,
)
from rxsubstrate._replay import MarkSplitter
from tests.replay_server import ReplayServer, Reply
from tests.test_client_stream import DAG
from tests.test_record_replay import recording

# -- recordings, and what can happen to them ---------------------------------------------------

texts = st.text(st.characters(codec="utf-8"), max_size=12)
events = st.one_of(
    st.builds(
        lambda node, text: {"object": "node.delta", "node_id": node, "data": {"text": text}},
        st.sampled_from("ab"),
        texts,
    ),
    st.builds(
        lambda node, text: {"object": "node.result", "node_id": node, "data": {"text": text}},
        st.sampled_from("ab"),
        texts,
    ),
    st.builds(lambda why: {"object": "node.thought", "why": why}, texts),
)
FINAL = {"object": "graph.result", "data": {"data": {"a": {"text": "done"}}}}


@st.composite
def recordings(draw: st.DrawFn) -> bytes:
    """A recording as the format describes it: header, then marked reads of events."""
    reads = draw(st.lists(st.lists(events, min_size=1, max_size=3), max_size=5))
    if draw(st.booleans()):
        reads.append([FINAL])
    marks = itertools.accumulate(draw(st.lists(st.floats(0, 5), min_size=len(reads))))
    payloads = [[msgspec.json.encode(e) for e in read] for read in reads]
    return recording(*((f"{t:.3f}", data) for t, data in zip(marks, payloads, strict=False)))


@st.composite
def damaged(draw: st.DrawFn, intact: bytes) -> bytes:
    """The recording cut short, with bytes changed, inserted or removed, or as it is."""
    at = draw(st.integers(0, len(intact)))
    noise = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\n", b"\r", b"\xff"]))
    return draw(
        st.sampled_from(
            [
                intact,
                intact[:at],
                intact[:at] + noise + intact[at + 1 :],
                intact[:at] + noise + intact[at:],
                intact[:at] + intact[at + len(noise) :],
            ]
        )
    )


@st.composite
def files(draw: st.DrawFn) -> bytes:
    return draw(damaged(draw(recordings())))


DELTA = {"object": "node.delta", "node_id": "a", "data": {"text": "windmills " * 4}}
INTACT = recording(("0", [msgspec.json.encode(DELTA)]), ("1", [msgspec.json.encode(FINAL)]))
# One read of 400 events, then 400 reads of one event: over 16 KiB either way.
LARGE = recording(
    ("0", [msgspec.json.encode(DELTA)] * 400),
    *[(str(i), [msgspec.json.encode(DELTA)]) for i in range(400)],
    ("400", [msgspec.json.encode(FINAL)]),
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# -- outcomes ----------------------------------------------------------------------------------


def described(error: BaseException | None) -> tuple[Any, ...] | None:
    """What a consumer can read off the error that ended a run."""
    if error is None:
        return None
    detail: tuple[Any, ...] = ()
    if isinstance(error, StreamInterrupted):
        detail = (error.events_received, error.partial_event)
    elif isinstance(error, MalformedEvent):
        detail = (error.index, error.raw)
    elif isinstance(error, EventTooLarge):
        detail = (error.limit,)
    return (type(error), str(error), *detail)


def read_all(stream: Any) -> tuple[list[Event], tuple[Any, ...] | None]:
    received: list[Event] = []
    try:
        for event in stream.iter():
            received.append(event)
    except Exception as exc:
        return received, described(exc)
    return received, None


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=files(), cuts=st.lists(st.integers(0, 10_000), max_size=4), small=st.booleans())
# Every ending comes up at least in these: complete, cut inside an event or inside a mark, a
# corrupted event's JSON, an event grown past the limit (small), and a mark corrupted into an
# event's block.
@example(data=INTACT, cuts=[], small=False)
@example(data=INTACT[:-30], cuts=[100], small=False)
@example(data=INTACT[: INTACT.index(b": t=1") + 5], cuts=[], small=False)
@example(data=INTACT.replace(b'"node.delta"', b'"node.delta', 1), cuts=[], small=False)
@example(data=INTACT, cuts=[7, 300], small=True)
@example(data=LARGE, cuts=[], small=False)  # reads of the file, and parts, larger than a read
@example(data=LARGE[:-10], cuts=[], small=False)
@example(data=INTACT.replace(b"\n\n: t=", b"\n: t=", 1), cuts=[], small=True)
def test_a_replay_ends_as_the_live_client_reading_the_same_bytes_ends(
    tmp_path: Path, data: bytes, cuts: list[int], small: bool
) -> None:
    limits = Limits(max_event_size=48 if small else 1 << 20)
    path = tmp_path / "run.sse"
    path.write_bytes(data)
    with (
        ReplayServer(Reply(chunked(data, cuts))) as server,
        Substrate("key", server.url, retry=None, limits=limits) as client,
    ):
        live = read_all(client.stream(DAG))
    assert read_all(replay(path, speed=None, limits=limits)) == live


# -- marks -----------------------------------------------------------------------------------------


def is_mark(line: bytes) -> bool:
    """The format's mark line, read plainly: ': t=', 1-10 digits, optionally '.' and 1-9
    digits, LF."""
    if not (line.startswith(b": t=") and line.endswith(b"\n")):
        return False
    whole, dot, fraction = line[4:-1].partition(b".")
    digits = b"0123456789"
    return (
        1 <= len(whole) <= 10
        and all(c in digits for c in whole)
        and (not dot or (1 <= len(fraction) <= 9 and all(c in digits for c in fraction)))
    )


def reference_parts(data: bytes) -> list[tuple[float | None, bytes]]:
    """The bytes cut before each mark line, line by line."""
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    parts: list[tuple[float | None, bytes]] = []
    for line in lines:
        if is_mark(line):
            parts.append((float(line[4:-1]), line))
        elif parts:
            parts[-1] = (parts[-1][0], parts[-1][1] + line)
        elif line:
            parts.append((None, line))
    return parts


def split(data: bytes, cuts: list[int]) -> list[tuple[float | None, bytes]]:
    """``MarkSplitter``'s parts for ``data`` fed in pieces, a part that goes on from the one
    before (None) joined to it."""
    splitter = MarkSplitter()
    pieces = chunked(data, cuts)
    parts: list[tuple[float | None, bytes]] = []
    for i, piece in enumerate([*pieces, b""]):
        for seconds, part in splitter.feed(piece, end=i == len(pieces)):
            assert part
            if seconds is None and parts:
                parts[-1] = (parts[-1][0], parts[-1][1] + part)
            else:
                parts.append((seconds, part))
    return parts


near_marks = st.sampled_from(
    [
        b": t=",
        b": t=1",
        b": t=1.5\n",
        b": t=0\n",
        b": t=12.\n",
        b": t=.5\n",
        b": t=1e3\n",
        b": t=12345678901\n",
        b": t=1234567890.123456789\n",
        b": t=1.1234567890\n",
        b": t=\xd9\xa1\n",  # a digit, but not an ASCII one
        b":t=1\n",
        b"data: x",
        b"\n",
        b"\r",
        b"\n\n",
    ]
)


@given(
    data=st.lists(near_marks | st.binary(max_size=6), max_size=30).map(b"".join),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_marks_are_found_as_a_line_by_line_reading_finds_them(data: bytes, cuts: list[int]) -> None:
    assert split(data, cuts) == reference_parts(data)


@given(recording=recordings(), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_every_mark_written_is_found(recording: bytes, cuts: list[int]) -> None:
    parts = split(recording, cuts)
    written = [float(line[4:]) for line in recording.split(b"\n") if line.startswith(b": t=")]
    assert [seconds for seconds, _ in parts if seconds is not None] == written
    assert b"".join(part for _, part in parts) == recording
