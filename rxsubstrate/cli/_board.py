"""The state of a run's nodes as its events arrive: what the live view and the plain report show.

The thread that reads the run calls ``Board.apply`` for each event; the view's refresh thread
calls ``Board.view`` whenever it draws. Both hold the board's lock, so a frame is drawn from one
consistent moment, and drawing costs the reader nothing but that lock.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import msgspec

from .._events import Event, GraphResult, NodeDelta, NodeError, NodeResult
from ..ops._snapshots import Snapshot, snapshot_fold
from ._printable import printable

__all__ = ["Board", "NodeLabel", "NodeView", "Status", "output_text", "tally"]

Status = Literal["waiting", "running", "done", "failed", "no result", "cancelled", "interrupted"]
"""A node's state; the last three are given at the end to the nodes that did not finish: the run
ended without their result, was cancelled (Ctrl-C), or failed."""

Ending = Literal["no result", "cancelled", "interrupted"]


@dataclasses.dataclass(frozen=True)
class NodeLabel:
    """How a node is shown: its name (a variable's, else its id) and its kind ("" if unknown)."""

    node_id: str
    name: str
    kind: str = ""

    @property
    def title(self) -> str:
        return f"{self.name} · {self.kind}" if self.kind else self.name


@dataclasses.dataclass(frozen=True)
class NodeView:
    """One node at one moment.

    Attributes:
        label: its name and kind.
        status: where it stands.
        text: its output so far as text: the text of a text- or choices-shaped output, else the
            output as indented JSON; "" before anything arrived. Control characters are
            escaped (``printable``), as in ``error`` and an unknown node's name.
        error: ``type: message`` of its ``node.error``, if it failed.
        elapsed: seconds from the start of the run to its end (or to now, while unfinished).
        chunks: the deltas received.
        rate: deltas per second since its first one, once they span some time; else None.
    """

    label: NodeLabel
    status: Status
    text: str
    error: str | None
    elapsed: float
    chunks: int
    rate: float | None

    @property
    def summary(self) -> str:
        """The status line: ``done in 1.23s, 57 chunks, 48.2 chunks/s``."""
        words = {"done": "done in", "running": "running", "waiting": "waiting"}
        parts = [f"{words.get(self.status, f'{self.status} after')} {self.elapsed:.2f}s"]
        if self.chunks:
            parts.append(f"{self.chunks} chunk{'s' if self.chunks != 1 else ''}")
        if self.rate is not None:
            parts.append(f"{self.rate:.1f} chunks/s")
        return ", ".join(parts)


class Board:
    """The nodes of one run, updated event by event.

    Args:
        labels: the nodes expected, in the order to show them; a node not among them is added
            when its first event arrives, labelled with its id.
        clock: seconds, monotonic.
    """

    def __init__(
        self, labels: Sequence[NodeLabel], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._nodes = {label.node_id: _Node(label) for label in labels}
        self._fold = snapshot_fold()
        self._position = -1
        self.started = clock()
        self.ended: float | None = None
        self.events = 0

    def apply(self, event: Event) -> None:
        """Take in the run's next event.

        Raises:
            MalformedEvent: a delta that breaks the protocol (a bad ``array.item`` index).
        """
        with self._lock:
            self._position += 1
            self.events += 1
            now = self._clock()
            if isinstance(event, GraphResult):
                self._end("no result", now)
                return
            if not isinstance(event, NodeDelta | NodeResult | NodeError):
                return
            node = self._nodes.get(event.node_id)
            if node is None:
                label = NodeLabel(event.node_id, printable(event.node_id))
                node = self._nodes[event.node_id] = _Node(label)
            for snapshot in self._fold.step(event, self._position):
                node.snapshot = snapshot
            if isinstance(event, NodeDelta):
                node.status = "running"
                node.chunks += 1
                if node.first_chunk is None:
                    node.first_chunk = now
                node.last_chunk = now
                return
            node.ended = now
            if isinstance(event, NodeResult):
                node.status = "done"
            else:
                node.status = "failed"
                node.error = printable(f"{event.data.type}: {event.data.message}")

    def end(self, ending: Ending) -> None:
        """The run is over: the nodes that did not finish get ``ending`` as their status."""
        with self._lock:
            self._end(ending, self._clock())

    def view(self) -> list[NodeView]:
        """Every node as it stands now, in order."""
        with self._lock:
            now = self._clock() if self.ended is None else self.ended
            return [node.view(self.started, now) for node in self._nodes.values()]

    def elapsed(self) -> float:
        """Seconds from the start of the run to its end, or to now."""
        return (self._clock() if self.ended is None else self.ended) - self.started

    def _end(self, ending: Ending, now: float) -> None:
        if self.ended is None:
            self.ended = now
        for node in self._nodes.values():
            if node.ended is None:
                node.status = ending
                node.ended = self.ended


class _Node:
    """One node's state, changed only under the board's lock."""

    def __init__(self, label: NodeLabel) -> None:
        self.label = label
        self.status: Status = "waiting"
        self.snapshot: Snapshot | None = None
        self.error: str | None = None
        self.chunks = 0
        self.first_chunk: float | None = None
        self.last_chunk: float | None = None
        self.ended: float | None = None
        self._text: tuple[Snapshot | None, str] = (None, "")  # the text of which snapshot

    def view(self, started: float, now: float) -> NodeView:
        end = now if self.ended is None else self.ended
        rate = None
        if self.first_chunk is not None and self.last_chunk is not None and self.chunks > 1:
            span = (now if self.ended is None else self.last_chunk) - self.first_chunk
            rate = self.chunks / span if span > 0.001 else None
        return NodeView(
            self.label, self.status, self.text(), self.error, end - started, self.chunks, rate
        )

    def text(self) -> str:
        snapshot, text = self._text
        if snapshot is not self.snapshot and self.snapshot is not None:
            self._text = (self.snapshot, text := printable(output_text(self.snapshot)))
        return text


def tally(board: Board, views: Sequence[NodeView]) -> str:
    """The run in a line: ``3 nodes (2 done, 1 failed), 41 events in 0.84s``."""
    counts: dict[str, int] = {}
    for view in views:
        counts[view.status] = counts.get(view.status, 0) + 1
    statuses = ", ".join(f"{n} {status}" for status, n in counts.items())
    elapsed = board.elapsed()
    nodes = f"{len(views)} node{'s' if len(views) != 1 else ''}"
    return f"{nodes} ({statuses or 'none yet'}), {board.events} events in {elapsed:.2f}s"


def output_text(snapshot: Snapshot) -> str:
    """The text of a text-shaped (``text``) or choices-shaped (``choices[i].text``) output, the
    choices each on a line of their own after ``[i]``; any other output as indented JSON."""
    output = snapshot.output
    text = output.get("text")
    if isinstance(text, str):
        return text
    choices = output.get("choices")
    if isinstance(choices, tuple) and choices and all(_has_text(c) for c in choices):
        if len(choices) == 1:
            return str(choices[0]["text"])
        return "\n".join(f"[{i}] {choice['text']}" for i, choice in enumerate(choices))
    return msgspec.json.format(msgspec.json.encode(snapshot.to_builtins()), indent=2).decode()


def _has_text(choice: Any) -> bool:
    return isinstance(choice, Mapping) and isinstance(choice.get("text"), str)
