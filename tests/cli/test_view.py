"""The live view drawn on a forced terminal (rich's ``Console(force_terminal=True)``), fed by
real runs of the embedded engine: every frame fits the screen, the last one shows everything,
and frames come at a bounded rate however fast events do."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest

pytest.importorskip("rich", reason="the live view needs the rxsubstrate[cli] extra")
from rich.console import Console

from rxsubstrate import ComputeText, GraphResult, MultiComputeText, Substrate
from rxsubstrate.cli._board import Board, NodeLabel
from rxsubstrate.cli._view import REFRESH_PER_SECOND, LiveView
from rxsubstrate.engine import Engine

ERASE_LINE = "\x1b[2K"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def frames(output: str) -> list[list[str]]:
    """Each frame rich drew, as lines without escape sequences (a frame begins by erasing the
    lines of the one before)."""
    drawn = re.split(r"\r?(?:\x1b\[2K\x1b\[1A)*\x1b\[2K", output)
    return [ANSI.sub("", frame).rstrip("\n").split("\n") for frame in drawn if frame.strip()]


def inner_text(frame: list[str], title: str) -> str:
    """The text inside the panel titled ``title``, its lines joined as rich wrapped them."""
    start = next(i for i, line in enumerate(frame) if line.startswith(f"╭─ {title} "))
    end = next(i for i in range(start + 1, len(frame)) if frame[i].startswith("╰"))
    return " ".join(line.strip("│ ") for line in frame[start + 1 : end])


def shown(
    nodes: list[Any], console: Console, chunk_delay: float = 0.0, **view: Any
) -> tuple[Board, GraphResult]:
    """Run ``nodes`` on the embedded engine into a live view on ``console``."""
    board = Board([NodeLabel(node.id, f"n{i}", node.kind) for i, node in enumerate(nodes)])
    engine = Engine(chunk_delay=chunk_delay)
    with Substrate(engine=engine) as client, LiveView(board, "src", console, **view):
        for event in client.stream(*nodes).iter():
            board.apply(event)
    assert isinstance(event, GraphResult)
    return board, event


def terminal(width: int, height: int) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=width, height=height)


def test_frames_fit_the_screen_and_the_last_one_shows_each_whole_text() -> None:
    console = terminal(width=40, height=12)
    long = ComputeText(prompt="a long story", max_tokens=90)
    short = ComputeText(prompt="a short one", max_tokens=3)

    _, result = shown([long, short], console, chunk_delay=0.002, refresh_per_second=100)

    drawn = frames(console.file.getvalue())  # type: ignore[attr-defined]
    *live, final = drawn
    assert live, "no frame drawn while the run went on"
    assert all(len(frame) <= 12 for frame in live)
    assert len(final) > 12  # the final frame is not cut to the screen
    assert inner_text(final, "n0 · ComputeText") == " ".join(
        result.outputs[long.id]["text"].split()
    )
    assert inner_text(final, "n1 · ComputeText") == result.outputs[short.id]["text"]
    assert final[-2].startswith("2 nodes (2 done), ")
    assert final[-1] == "src"
    statuses = [line for line in final if line.startswith("╰─ ")]
    assert [s.split(",")[0].split(" in ")[0] for s in statuses] == ["╰─ done", "╰─ done"]


def test_frames_come_at_a_bounded_rate_however_fast_events_do() -> None:
    console = terminal(width=100, height=80)
    nodes = [MultiComputeText(prompt=f"p{i}", num_choices=8, max_tokens=90) for i in range(6)]

    started = time.monotonic()
    board, _ = shown(nodes, console)
    elapsed = time.monotonic() - started

    drawn = len(frames(console.file.getvalue()))  # type: ignore[attr-defined]
    # rich's refresh thread draws every 1/REFRESH_PER_SECOND s, plus once at start and at stop;
    # the view promises at most 15 frames a second.
    assert REFRESH_PER_SECOND <= 15
    assert drawn <= elapsed * 15 + 3
    assert board.events > 1000 > drawn * 10
