"""A progressive view: each node's text as it stands after every delta, redrawn in place.

``ops.snapshots()`` gives a node's output after each of its deltas (immutable, O(1) to make;
reading ``snapshot.output`` materialises it) and, from its ``node.result``, a last one marked
``final``. ``rxsubstrate.iterate`` reads the pipeline with a plain ``for``: a failure is raised
by the loop, and leaving it (Ctrl-C included) cancels the run.

On a terminal the view is redrawn in place: the cursor goes back up over the rows drawn last
(ANSI escapes) and the frame is written again, a line per node with its status. When stdout is
not a terminal (a pipe, a file, CI), each snapshot is printed as one plain line instead. Run it
with ``python examples/progressive_view.py`` (embedded local engine, paced like a remote model).
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from typing import TextIO

from rxsubstrate import ComputeText, Substrate, iterate, ops, sb
from rxsubstrate.engine import Engine
from rxsubstrate.ops import Snapshot

story = ComputeText(prompt="tell me about windmills", max_tokens=40)
verdict = ComputeText(prompt=sb.concat("is this true? ", story.future.text), max_tokens=16)
NAMES = {story.id: "story", verdict.id: "verdict"}

CURSOR_HIDDEN, CURSOR_SHOWN = "\x1b[?25l", "\x1b[?25h"
CLEAR_BELOW = "\x1b[J"


class Frame:
    """Each node's status and text, drawn as one line per node (wrapped to the terminal)."""

    def __init__(self) -> None:
        self.lines = {node_id: f"{name:>7} [waiting]" for node_id, name in NAMES.items()}

    def update(self, snapshot: Snapshot) -> str:
        """Take the snapshot in; returns its line."""
        status = "done" if snapshot.final else f"v{snapshot.version}"
        text: str = snapshot.output["text"]
        line = f"{NAMES[snapshot.node_id]:>7} [{status}] {text}"
        self.lines[snapshot.node_id] = line
        return line

    def rows(self, width: int) -> list[str]:
        return [row for line in self.lines.values() for row in textwrap.wrap(line, width) or [""]]


class Terminal:
    """Redraws a frame in place: up over the rows drawn last, clear below, write it again."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._drawn = 0  # rows written by the last draw; the cursor is on the row below them

    def draw(self, frame: Frame) -> None:
        width = max(shutil.get_terminal_size().columns - 1, 20)
        up = f"\x1b[{self._drawn}F" if self._drawn else "\r"  # the first column, drawn rows up
        rows = frame.rows(width)
        self._out.write(up + CLEAR_BELOW + "\n".join(rows) + "\n")
        self._out.flush()
        self._drawn = len(rows)


def main() -> None:
    frame = Frame()
    terminal = Terminal(sys.stdout) if sys.stdout.isatty() else None
    if terminal is not None:
        sys.stdout.write(CURSOR_HIDDEN)
        terminal.draw(frame)
    try:
        with Substrate(engine=Engine(chunk_delay=0.02)) as client:
            view = client.stream(story, verdict).pipe(ops.raise_on_error(), ops.snapshots())
            for snapshot in iterate(view):
                line = frame.update(snapshot)
                if terminal is None:
                    print(line, flush=True)
                else:
                    terminal.draw(frame)
    finally:
        if terminal is not None:
            sys.stdout.write(CURSOR_SHOWN)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
