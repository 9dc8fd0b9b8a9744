"""``rxsubstrate record FILE [NODE ...] -o run.sse``: a run saved with its timings, shown as
``run`` shows it while it is recorded; ``rxsubstrate replay`` plays it back."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._run import add_graph_run_arguments, run_graph
from ._usage import HelpFormatter

if TYPE_CHECKING:
    from . import Commands

__all__ = ["add_parser", "record"]


def add_parser(commands: Commands) -> None:
    """``rxsubstrate record`` and its options."""
    parser = commands.add_parser(
        "record",
        help="run a graph file and save its stream with its timings",
        description="Run a graph file as 'rxsubstrate run' does, showing it the same way, and"
        " write the stream, with the time of each read, to a file that 'rxsubstrate replay' and"
        " rxsubstrate.replay() play back (and any SSE tool reads). A run that fails leaves what"
        " arrived before the failure.",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=record, command_parser=parser)
    parser.add_argument(
        "-o", "--output", metavar="PATH", required=True, help="the recording to write, e.g. run.sse"
    )
    add_graph_run_arguments(parser)


def record(args: argparse.Namespace) -> int:
    """Run the graph, recording and showing it; the exit status.

    Raises:
        BadArguments: a bad file, node name or backend option.
    """
    return run_graph(args, record_to=args.output)
