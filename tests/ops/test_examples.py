"""The examples run as a user would run them: one command each, on the embedded engine.

The proxies, which serve until Ctrl-C, are run that way by ``tests/test_web.py``; the
progressive view is also run in a terminal (a pseudo-terminal read by a terminal emulator), where
it redraws in place.
"""

from __future__ import annotations

import functools
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pyte
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@functools.cache  # each example runs once however many tests read what it printed
def run_example(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES.parent,
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("announcement_sync.py", ["NodeDelta(node_id='ComputeText1_", "GraphResult(data="]),
        ("announcement_async.py", ["NodeDelta(node_id='ComputeText2_", "GraphResult(data="]),
        ("callbacks.py", ["[titles done:", "[story done:", "[run complete]"]),
        ("progressive_view.py", ["  story [v1] ", "  story [done] ", "verdict [done] "]),
        ("merged_runs.py", ["windmills =", "lighthouses =", "glaciers =", "all runs complete"]),
        ("custom_node.py", ["NodeDelta(node_id='loud'", "'image_uri': 'data:text/plain,picture"]),
        ("record_replay.py", ["recorded ", "equal: True", "replay matches the recording"]),
    ],
)
def test_example_runs(script: str, expected: list[str]) -> None:
    done = run_example(script)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # nothing at exit either, closed client or not
    for marker in expected:
        assert marker in done.stdout


def test_the_announcement_examples_print_the_same_run_sync_and_async() -> None:
    """The same graph, the same deterministic text; only the random node ids differ."""
    sync, async_ = run_example("announcement_sync.py"), run_example("announcement_async.py")

    def shape(output: str) -> list[str]:
        return [
            re.sub(r"ComputeText(\d)_[\w-]{8}", r"ComputeText\1", line)
            for line in output.splitlines()
        ]

    assert shape(sync.stdout) == shape(async_.stdout)
    assert len(sync.stdout.splitlines()) == 10 + 1 + 10 + 1 + 1  # 10 tokens each, 2 results


def read_terminal(script: str, columns: int, rows: int) -> tuple[pyte.Screen, bytes]:
    """Run ``script`` with a pseudo-terminal as its stdout; the emulated screen at its exit,
    and the bytes it wrote."""
    screen = pyte.Screen(columns, rows)
    feed = pyte.ByteStream(screen)
    written = bytearray()
    parent, child = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": str(rows)}
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / script)],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=subprocess.PIPE,
        env=env,
        cwd=EXAMPLES.parent,
    )
    os.close(child)
    try:
        while True:
            ready, _, _ = select.select([parent], [], [], 30)
            assert ready, "the example wrote nothing for 30 s"
            try:
                data = os.read(parent, 1 << 16)
            except OSError:  # EIO: the example's side of the terminal is closed
                break
            if not data:
                break
            written += data
            feed.feed(data)
        assert process.wait(30) == 0
        assert process.stderr is not None
        assert process.stderr.read() == b""
    finally:
        os.close(parent)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    return screen, bytes(written)


def test_the_progressive_view_redraws_in_place_on_a_terminal() -> None:
    screen, written = read_terminal("progressive_view.py", columns=50, rows=24)
    drawn = [row.rstrip() for row in screen.display if row.strip()]
    # The screen holds the last frame alone: every node done, no earlier version left over,
    # the whole text of each (wrapped to the terminal) as the plain output's last lines say.
    plain = run_example("progressive_view.py").stdout.splitlines()
    last = {line[:7]: line for line in plain}
    assert " ".join(drawn) == " ".join([last["  story"], last["verdict"]])
    assert all(len(row) < 50 for row in drawn)
    assert written.count(b"\x1b[J") > 10  # redrawn at each snapshot, not appended
    assert not screen.cursor.hidden  # the cursor is given back


def test_the_progressive_view_prints_plain_lines_elsewhere() -> None:
    lines = run_example("progressive_view.py").stdout.splitlines()
    assert "\x1b" not in "".join(lines)
    versions = [line for line in lines if line.startswith("  story [v")]
    assert len(versions) == 40  # one line per delta of the story, then its result
    assert lines[len(versions)].startswith("  story [done] ")
