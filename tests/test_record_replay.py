"""Record a run, replay it: the same events every way a run is consumed, at the recorded pace on
virtual time, with what arrived kept when a run fails, and cancelled like a live run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import looptime
import msgspec
import pytest
from reactivex import operators as rx_ops

from rxsubstrate import (
    ComputeText,
    Event,
    GraphResult,
    MalformedEvent,
    NodeDelta,
    StreamInterrupted,
    Substrate,
    async_record,
    ops,
    record,
    recorded,
    replay,
    sb,
)
from rxsubstrate._events import decode_event
from rxsubstrate._recording import HEADER
from tests.replay_server import ReplayServer, Reply, seed_events, sse
from tests.sse_reference import parse
from tests.test_client_stream import DAG

SEED = [msgspec.json.encode(e) for e in seed_events()]
SEED_EVENTS = [decode_event(raw) for raw in SEED]
MODES = [
    "iter",
    "async_iter",
    "subscribe_in_loop",
    "subscribe_without_loop",
    "iter_events",
    "async_iter_events",
]


@dataclass
class Recorded:
    path: Path
    events: list[Event]  # what the live consumer received while it was recorded
    text: str  # the first node's text, as ops.text() assembled it live
    node_id: str


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """One run of two chained text nodes on ``Substrate()``, recorded while it was consumed."""
    path = tmp_path_factory.mktemp("recordings") / "run.sse"
    a = ComputeText(prompt="tell me about windmills", max_tokens=24)
    b = ComputeText(prompt=sb.concat("summarise: ", a.future.text), max_tokens=8)
    with pytest.MonkeyPatch.context() as env:
        env.delenv("SUBSTRATE_API_KEY", raising=False)
        env.delenv("SUBSTRATE_BASE_URL", raising=False)
        with Substrate() as substrate:
            events = list(recorded(substrate.stream(a, b), path).iter())
            text = "".join(substrate.stream(a, b).pipe(ops.text(a), rx_ops.to_list()).run())
    return Recorded(path, events, text, a.id)


def consume(stream: Any, mode: str) -> list[Any]:
    """Every item of one run, read the way ``mode`` says; raises what the run raised."""
    if mode == "iter":
        return list(stream.iter())
    if mode == "iter_events":
        return list(stream.iter_events())
    if mode == "subscribe_without_loop":
        seen: list[Event] = []
        ended = threading.Event()
        errors: list[Exception] = []
        stream.subscribe(seen.append, lambda e: (errors.append(e), ended.set()), ended.set)
        assert ended.wait(10), "the replay neither completed nor failed"
        if errors:
            raise errors[0]
        return seen

    async def in_loop() -> list[Any]:
        if mode == "async_iter":
            return [event async for event in stream.async_iter()]
        if mode == "async_iter_events":
            return [text async for text in stream.async_iter_events()]
        done: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        seen: list[Event] = []
        stream.subscribe(seen.append, done.set_exception, lambda: done.set_result(seen))
        return await asyncio.wait_for(done, 10)

    return asyncio.run(in_loop())


def outcome(stream: Any, mode: str = "iter") -> tuple[list[Any], BaseException | None]:
    """The items received, then the error that ended the run (None if it completed)."""
    seen: list[Any] = []
    try:
        if mode == "iter":
            for item in stream.iter():
                seen.append(item)
        else:
            seen = consume(stream, mode)
    except Exception as exc:
        return seen, exc
    return seen, None


def recording(*reads: tuple[str, list[bytes]]) -> bytes:
    """A recording as the format says: the header, then each read's mark and events."""
    return HEADER + b"".join(b": t=%s\n\n" % t.encode() + sse(*data) for t, data in reads)


def marks_of(recording: bytes) -> list[float]:
    return [float(line[4:]) for line in recording.split(b"\n") if line.startswith(b": t=")]


# -- an embedded run, recorded, replays as it was ------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_recorded_embedded_run_replays_with_the_same_events_every_way(
    embedded_run: Recorded, mode: str
) -> None:
    replayed = consume(replay(embedded_run.path, speed=None), mode)
    if mode.endswith("events"):  # SSE text, as the live run's iter_events() gives it
        assert replayed == [
            f"event: message\ndata: {msgspec.json.encode(e).decode()}\n\n"
            for e in embedded_run.events
        ]
    else:
        assert replayed == embedded_run.events
    assert isinstance(embedded_run.events[-1], GraphResult)
    assert any(isinstance(e, NodeDelta) for e in embedded_run.events)


def test_a_replay_pipes_like_a_live_run(embedded_run: Recorded) -> None:
    text = replay(embedded_run.path, speed=None).pipe(ops.text(embedded_run.node_id))
    assert "".join(text.pipe(rx_ops.to_list()).run()) == embedded_run.text != ""


def test_each_subscription_reads_the_file_anew(embedded_run: Recorded) -> None:
    stream = replay(embedded_run.path, speed=None)
    assert list(stream.iter()) == list(stream.iter()) == embedded_run.events
    assert stream.dag is None


def test_the_recording_is_an_event_stream_of_the_server_data_with_marks(
    embedded_run: Recorded,
) -> None:
    recording = embedded_run.path.read_bytes()
    assert recording.startswith(HEADER)
    parsed = parse(recording, 1 << 20)  # the WHATWG rules, written plainly: any SSE tool
    assert not parsed.pending
    assert not parsed.too_large
    assert [decode_event(e.data) for e in parsed.events] == embedded_run.events
    marks = marks_of(recording)
    assert marks
    assert marks == sorted(marks)
    # The header, then blocks of one line each: a mark before each read's events.
    _header, *blocks, end = recording.split(b"\n\n")
    assert end == b""
    assert blocks[0].startswith(b": t=")
    for block in blocks:
        assert b"\n" not in block
        assert re.fullmatch(rb": t=\d+\.\d{3}", block) or block.startswith(b"data: {")


def test_record_returns_the_graph_result_and_writes_what_recorded_writes(
    embedded_run: Recorded, tmp_path: Path
) -> None:
    again = tmp_path / "again.sse"
    result = record(replay(embedded_run.path, speed=None), again)
    assert result == embedded_run.events[-1]
    assert list(replay(again, speed=None).iter()) == embedded_run.events


async def test_async_record(embedded_run: Recorded, tmp_path: Path) -> None:
    again = tmp_path / "again.sse"
    result = await async_record(replay(embedded_run.path, speed=None), again)
    assert result == embedded_run.events[-1]
    assert [e async for e in replay(again, speed=None).async_iter()] == embedded_run.events


# -- what is recorded: the server's bytes, incrementally ------------------------------------------


def test_each_event_is_recorded_with_the_data_the_server_sent(tmp_path: Path) -> None:
    # Unknown fields, an unknown event, key order and spacing: none of it re-encoded. Fields the
    # client does not read (event, id, retry, comments) and CRLF line ends are not kept.
    delta = b'{ "node_id": "a", "object": "node.delta", "data": {"text": "x"}, "extra": [1] }'
    unknown = b'{"object":"node.thought","node_id":"a","data":{"why":"because"}}'
    wire = (
        b"event: message\r\nid: 7\r\nretry: 10\r\n: hello\r\ndata: "
        + delta
        + b"\r\n\r\n"
        + sse(unknown, SEED[-1])
    )
    path = tmp_path / "run.sse"
    with ReplayServer(Reply([wire])) as server, Substrate("key", server.url) as client:
        result = record(client.stream(DAG), path)
    assert result == SEED_EVENTS[-1]
    recording = path.read_bytes()
    events = recording.split(b"\n\n", 2)[2]  # after the header and the first mark
    assert events == sse(delta, unknown, SEED[-1])
    assert list(replay(path, speed=None).iter()) == [
        decode_event(delta),
        decode_event(unknown),
        SEED_EVENTS[-1],
    ]


@pytest.mark.parametrize("mode", ["iter", "async_iter"])
def test_each_read_is_in_the_file_before_its_events_reach_the_consumer(
    tmp_path: Path, mode: str
) -> None:
    # What a crash would leave: the server sends three events and stalls; the file already
    # holds each event the consumer has (and those iter() read ahead for it), and replays as a
    # run cut there.
    path = tmp_path / "run.sse"
    reply = Reply([sse(SEED[0]), sse(SEED[1]), sse(SEED[2])], hang=True)

    def check(received: list[Event]) -> None:
        in_file = [decode_event(e.data) for e in parse(path.read_bytes(), 1 << 20).events]
        assert in_file[: len(received)] == received

    with ReplayServer(reply) as server, Substrate("key", server.url) as client:
        received: list[Event] = []
        stream = recorded(client.stream(DAG), path)
        if mode == "iter":
            for event in stream.iter():
                received.append(event)
                check(received)
                if len(received) == 3:
                    break
        else:

            async def read() -> None:
                async for event in stream.async_iter():
                    received.append(event)
                    check(received)
                    if len(received) == 3:
                        break

            asyncio.run(read())
    events, error = outcome(replay(path, speed=None))
    assert events == SEED_EVENTS[:3]
    assert isinstance(error, StreamInterrupted)
    assert error.events_received == 3


@pytest.mark.parametrize("fault", ["cut", "malformed"])
def test_a_failed_run_leaves_what_arrived_and_replays_to_the_same_end(
    tmp_path: Path, fault: str
) -> None:
    path = tmp_path / "run.sse"
    if fault == "cut":
        reply = Reply([sse(*SEED[:2]), b'data: {"object":"node.del'], cut=True)
        expected: type[Exception] = StreamInterrupted
    else:
        reply = Reply([sse(*SEED[:2], b'{"object":"node.delta","node_id":3}', SEED[2])])
        expected = MalformedEvent
    with (
        ReplayServer(reply) as server,
        Substrate("key", server.url) as client,
        pytest.raises(expected) as live,
    ):
        record(client.stream(DAG), path)
    events, error = outcome(replay(path, speed=None))
    assert events == SEED_EVENTS[:2]
    assert isinstance(error, expected)
    if isinstance(error, MalformedEvent):
        assert isinstance(live.value, MalformedEvent)
        assert (error.index, error.raw) == (live.value.index, live.value.raw)
    else:
        assert error.events_received == 2


@pytest.mark.parametrize("mode", ["iter", "async_iter", "subscribe_without_loop"])
def test_a_file_that_cannot_be_written_fails_the_run(
    embedded_run: Recorded, tmp_path: Path, mode: str
) -> None:
    stream = recorded(replay(embedded_run.path, speed=None), tmp_path / "no" / "such" / "dir")
    with pytest.raises(FileNotFoundError):
        consume(stream, mode)


def test_a_recording_is_made_of_a_run_not_a_pipeline(embedded_run: Recorded) -> None:
    piped = replay(embedded_run.path, speed=None).pipe(ops.text())
    with pytest.raises(TypeError, match="record the run before piping it"):
        record(piped, "unused.sse")  # type: ignore[arg-type]


# -- pace: as recorded, on the loop's timers (virtual time here) ----------------------------------


def timed(path: Path, speed: float | None, mode: str = "async_iter") -> list[tuple[float, Event]]:
    """Each replayed event with the loop time it arrived at, on a loop whose time is virtual:
    it starts at 0 and jumps to the next timer whenever the loop has nothing else to do."""

    async def replayed() -> list[tuple[float, Event]]:
        loop = asyncio.get_running_loop()
        stream = replay(path, speed=speed)
        if mode == "async_iter":
            return [(loop.time(), event) async for event in stream.async_iter()]
        done: asyncio.Future[None] = loop.create_future()
        seen: list[tuple[float, Event]] = []
        stream.subscribe(
            lambda e: seen.append((loop.time(), e)),
            done.set_exception,
            lambda: done.set_result(None),
        )
        await done
        return seen

    with asyncio.Runner(loop_factory=lambda: looptime.new_event_loop(start=0)) as runner:
        return runner.run(replayed())


def paced_recording(tmp_path: Path) -> Path:
    path = tmp_path / "paced.sse"
    reads = [("0.250", SEED[:1]), ("1.000", SEED[1:3]), ("1.000", SEED[3:4]), ("61.5", SEED[4:])]
    path.write_bytes(recording(*reads))
    return path


@pytest.mark.parametrize("mode", ["async_iter", "subscribe_in_loop"])
@pytest.mark.parametrize("speed", [1.0, 2.0, 0.5])
def test_events_arrive_at_the_recorded_times_divided_by_speed(
    tmp_path: Path, mode: str, speed: float
) -> None:
    arrivals = timed(paced_recording(tmp_path), speed, mode)
    assert [event for _, event in arrivals] == SEED_EVENTS
    recorded_at = [0.25, 1.0, 1.0, 1.0, 61.5, 61.5]
    assert [t for t, _ in arrivals] == pytest.approx([t / speed for t in recorded_at], abs=1e-6)


def test_speed_none_waits_for_nothing(tmp_path: Path) -> None:
    arrivals = timed(paced_recording(tmp_path), None)
    assert [t for t, _ in arrivals] == [0.0] * len(SEED_EVENTS)


def test_a_recorded_embedded_run_replays_with_its_recorded_delays(embedded_run: Recorded) -> None:
    marks = marks_of(embedded_run.path.read_bytes())
    arrivals = timed(embedded_run.path, 1.0)
    assert [event for _, event in arrivals] == embedded_run.events
    # Each read's events arrive together, at that read's mark.
    assert sorted({round(t, 6) for t, _ in arrivals}) == pytest.approx(sorted(set(marks)), abs=1e-6)


def test_a_file_without_marks_replays_at_once(tmp_path: Path) -> None:
    path = tmp_path / "capture.sse"
    path.write_bytes(sse(*SEED))  # e.g. saved by curl
    arrivals = timed(path, 1.0)
    assert [event for _, event in arrivals] == SEED_EVENTS
    assert {t for t, _ in arrivals} == {0.0}


# -- cancellation: a replay waiting for its next mark ends when its consumer leaves -------------


def far_recording(tmp_path: Path) -> Path:
    path = tmp_path / "far.sse"
    path.write_bytes(recording(("0", SEED[:1]), ("86400", SEED[1:2]), ("172800", SEED[2:])))
    return path


def assert_released(path: Path) -> None:
    """The replay's run has ended: its file thread is gone and the file is closed."""
    for thread in threading.enumerate():
        if thread.name.startswith("rxsubstrate-file"):
            thread.join(10)
            assert not thread.is_alive(), "a replay still holds its file"
    fds = Path("/proc/self/fd")
    if fds.is_dir():
        open_files = set()
        for fd in fds.iterdir():
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
                open_files.add(fd.readlink())
        assert path not in open_files


@pytest.mark.filterwarnings("error::ResourceWarning")  # an unclosed file
def test_break_ends_a_replay_waiting_for_a_mark_a_day_away(tmp_path: Path) -> None:
    path = far_recording(tmp_path)
    for event in replay(path).iter():
        assert event == SEED_EVENTS[0]
        break
    assert_released(path)


@pytest.mark.filterwarnings("error::ResourceWarning")  # an unclosed file
async def test_async_break_ends_a_replay_waiting_for_a_mark_a_day_away(tmp_path: Path) -> None:
    path = far_recording(tmp_path)
    async with asyncio.timeout(10):
        async for event in replay(path).async_iter():
            assert event == SEED_EVENTS[0]
            break
    await asyncio.get_running_loop().run_in_executor(None, assert_released, path)


@pytest.mark.filterwarnings("error::ResourceWarning")  # an unclosed file
def test_dispose_ends_a_replay_waiting_for_a_mark(tmp_path: Path) -> None:
    path = far_recording(tmp_path)
    first = threading.Event()
    after: list[Any] = []

    def on_next(event: Event) -> None:
        if first.is_set():
            after.append(event)
        first.set()

    subscription = replay(path).subscribe(on_next, after.append, lambda: after.append("done"))
    assert first.wait(10)
    subscription.dispose()
    assert_released(path)
    assert after == []


LEFT_AT_EXIT = """
import sys
from rxsubstrate import replay

stream = replay(sys.argv[1])
for event in stream.iter():
    print(event)
    break
kept = stream.iter()
print(next(kept))  # never finished
stream.subscribe(lambda event: None, lambda error: None)  # waiting for its next mark at exit
"""


@pytest.mark.parametrize("flags", [[], ["-X", "dev", "-W", "error"]], ids=["plain", "dev"])
def test_a_script_that_leaves_replays_waiting_exits_quietly(
    tmp_path: Path, flags: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONWARNINGS", "PYTHONDEV"))}
    argv = [sys.executable, *flags, "-c", LEFT_AT_EXIT, str(far_recording(tmp_path))]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.stderr == ""
    assert done.returncode == 0
    assert done.stdout.count("NodeDelta(") == 2


# -- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize("speed", [0, -1.0, float("nan"), float("inf")])
def test_speed_is_positive_or_none(tmp_path: Path, speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        replay(far_recording(tmp_path), speed=speed)


def test_a_missing_file_fails_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        replay(tmp_path / "missing.sse")
