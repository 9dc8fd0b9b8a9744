"""``rxsubstrate replay run.sse``: a recorded run played back into the same view as ``run``'s,
at its recorded pace (``--speed``) or at once (``--fast``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .._replay import replay
from ._output import add_output_arguments, form_of, show
from ._usage import BadArguments, HelpFormatter, positive_number

if TYPE_CHECKING:
    from . import Commands

__all__ = ["add_parser", "play"]


def add_parser(commands: Commands) -> None:
    """``rxsubstrate replay`` and its options."""
    parser = commands.add_parser(
        "replay",
        help="play a recorded run back",
        description="Play back a run written by 'rxsubstrate record' (or rxsubstrate.record),"
        " shown as 'rxsubstrate run' shows a run. A truncated or corrupted recording ends with"
        " the error a live stream would (StreamInterrupted, MalformedEvent), exit status 1.",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=play, command_parser=parser)
    parser.add_argument("recording", metavar="PATH", help="the recording, e.g. run.sse")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=positive_number,
        default=1.0,
        metavar="X",
        help="how much faster than recorded to play it (0.5: half as fast)",
    )
    pace.add_argument(
        "--fast", action="store_true", help="play it as fast as it is read, without its pauses"
    )
    add_output_arguments(parser)


def play(args: argparse.Namespace) -> int:
    """Replay the recording and show it; the exit status.

    Raises:
        BadArguments: there is no such recording.
    """
    speed = None if args.fast else args.speed
    try:
        stream = replay(args.recording, speed)
    except OSError as exc:
        raise BadArguments(f"{args.recording}: {exc.strerror or exc}") from None
    pace = "as fast as it is read" if speed is None else f"at {speed:g}x its recorded pace"
    return show(stream, form_of(args), (), f"replay of {args.recording}, {pace}")
