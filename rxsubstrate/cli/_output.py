"""Showing a run, for ``run``, ``record`` and ``replay`` alike: a live view on a terminal, plain
text at the end otherwise, or every event as it arrives (``--json``, ``--sse``); then the exit
status and, for a failure, a line on stderr naming the typed error.

The run is read on the calling (main) thread with ``RunStream.iter()``, so Ctrl-C interrupts
the read: the iterator closes, which cancels the run, the view draws its last frame with the
unfinished nodes "cancelled", and the ``KeyboardInterrupt`` goes on to ``main``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Generator, Sequence
from contextlib import AbstractContextManager, closing, nullcontext
from typing import TYPE_CHECKING, Literal, cast

import msgspec

from .._errors import NodeFailed, SubstrateError
from .._events import Event, NodeError, encode_event
from .._sse_writer import sdk_sse
from ._board import Board, NodeLabel
from ._plain import plain_report
from ._printable import printable_message

if TYPE_CHECKING:
    from .._client import RunStream

__all__ = ["Form", "add_output_arguments", "form_of", "show"]

Form = Literal["live", "plain", "json", "sse"]
INSTALL_RICH = "rxsubstrate: the live view needs rich: pip install 'rxsubstrate[cli]'"


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """``--json`` and ``--sse``; without either, a live view on a terminal, else plain text."""
    form = parser.add_argument_group(
        "output",
        "default: a live view when stdout is a terminal (needs the rxsubstrate[cli] extra), else"
        " each node's text once the run is over",
    )
    one = form.add_mutually_exclusive_group()
    one.add_argument(
        "--json",
        action="store_true",
        help="print each event as it arrives, its JSON as on the wire, one per line",
    )
    one.add_argument(
        "--sse",
        action="store_true",
        help="print each event as it arrives as Server-Sent Events text, as the official SDK's"
        " iter_events() gives it",
    )


def form_of(args: argparse.Namespace) -> Form:
    """The output the options and stdout call for: a terminal gets the live view when rich is
    installed (else plain text, saying so on stderr)."""
    if args.json:
        return "json"
    if args.sse:
        return "sse"
    if not sys.stdout.isatty():
        return "plain"
    try:
        import rich  # noqa: F401
    except ImportError:
        print(INSTALL_RICH, file=sys.stderr)
        return "plain"
    return "live"


def show(stream: RunStream, form: Form, labels: Sequence[NodeLabel], source: str) -> Literal[0, 1]:
    """Read the run, showing it in ``form``; 0 if it ended with every node done, else 1.

    Args:
        stream: the run.
        form: how to show it.
        labels: the nodes to show, in order (others are added as their events come).
        source: where the run comes from, shown under the view and the plain text.

    Raises:
        KeyboardInterrupt: Ctrl-C; the run is cancelled and shown one last time.
        BrokenPipeError: stdout was closed (``| head``); the run is cancelled.
    """
    board = Board(labels)
    failed: list[NodeError] = []
    with _view(form, board, source):
        try:
            error = _read(stream, form, board, failed)
        finally:  # on Ctrl-C too: what arrived until then
            if form == "plain":
                sys.stdout.write(plain_report(board, source))
    names = {view.label.node_id: view.label.name for view in board.view()}
    for event in failed:
        name = names.get(event.node_id, event.node_id)
        shown = event.node_id if name == event.node_id else f"{name} ({event.node_id})"
        _complain(NodeFailed(shown, event.data.type, event.data.message))
    if error is not None:
        _complain(error)
    return 1 if failed or error is not None else 0


def _read(
    stream: RunStream, form: Form, board: Board, failed: list[NodeError]
) -> SubstrateError | OSError | None:
    """Read the run to its end; the error it ended with, if any."""
    events = cast(Generator[Event, None, None], stream.iter())
    try:
        with closing(events):
            for event in events:
                _write(form, event)
                if form in ("live", "plain"):
                    board.apply(event)
                if isinstance(event, NodeError):
                    failed.append(event)
    except BrokenPipeError:
        raise
    except (SubstrateError, OSError) as exc:  # OSError: a recording that cannot be written
        board.end("interrupted")
        return exc
    except KeyboardInterrupt:
        board.end("cancelled")
        raise
    return None


def _view(form: Form, board: Board, source: str) -> AbstractContextManager[object]:
    if form != "live":
        return nullcontext()
    from ._view import LiveView

    return LiveView(board, source)


def _write(form: Form, event: Event) -> None:
    if form == "json":
        line = encode_event(event)
        if b"\n" in line:  # an unknown event's JSON as it came, over several data: lines
            line = msgspec.json.encode(msgspec.json.decode(line))
        sys.stdout.write(line.decode() + "\n")
    elif form == "sse":
        sys.stdout.write(sdk_sse(event))
    else:
        return
    sys.stdout.flush()


def _complain(error: BaseException) -> None:
    print(f"rxsubstrate: {type(error).__name__}: {printable_message(str(error))}", file=sys.stderr)
