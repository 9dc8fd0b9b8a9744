"""The ``rxsubstrate`` command (and ``python -m rxsubstrate``), one module per command:

- ``serve`` (``_serve``): the local engine as a Substrate-compatible HTTP API.
- ``run`` (``_run``): a graph file's run, in a live terminal view or as JSON lines or SSE.
- ``record`` (``_record``) and ``replay`` (``_replay``): a run saved with its timings, played
  back into the same view.
- ``demo`` (``_demo``): the announcement's two-node example.

Exit status: 0 on success, 1 when a node or the run failed (the typed error on stderr), 2 for a
bad argument or file (with the command's usage), 130 on Ctrl-C (one line on stderr). Only the
live view imports rich (the ``rxsubstrate[cli]`` extra), and only when it is shown.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from . import _demo, _record, _replay, _run, _serve
from ._usage import BadArguments, HelpFormatter

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Raises:
        SystemExit: with status 2 for a bad argument (after printing the usage), 0 after
            ``--help``.
    """
    args = parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except BadArguments as exc:
        args.command_parser.error(str(exc))
    except KeyboardInterrupt:
        print("rxsubstrate: cancelled (Ctrl-C)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout went away (| head): the run is cancelled; stay quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


def parser() -> argparse.ArgumentParser:
    """The whole command line."""
    top = argparse.ArgumentParser(
        prog="rxsubstrate",
        description="Substrate graph runs as reactive streams: run a graph file in a live view,"
        " record and replay runs, or serve a local Substrate-compatible engine.",
        formatter_class=HelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (_run, _record, _replay, _serve, _demo):
        command.add_parser(commands)
    return top
