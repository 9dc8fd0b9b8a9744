"""``rxsubstrate run FILE [NODE ...]``: a graph file's run, shown live as it streams; what
``record`` also does, writing the run to a file as it goes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .._recording import recorded
from ._backend_options import add_backend_arguments, client_of
from ._graph_file import add_graph_arguments, load_graph
from ._output import add_output_arguments, form_of, show
from ._usage import HelpFormatter

if TYPE_CHECKING:
    from . import Commands

__all__ = ["add_graph_run_arguments", "add_parser", "run", "run_graph"]


def add_parser(commands: Commands) -> None:
    """``rxsubstrate run`` and its options."""
    parser = commands.add_parser(
        "run",
        help="run a graph file, showing each node's output as it streams",
        description="Run the nodes a Python file defines (or a JSON dag): a live view of each"
        " node's text, status, time and chunks per second on a terminal, plain text at the end"
        " otherwise, or the events as JSON lines or SSE. Exit status: 0 when every node is"
        " done, 1 when a node or the run failed, 2 for a bad file or argument, 130 on Ctrl-C.",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=run, command_parser=parser)
    add_graph_run_arguments(parser)


def add_graph_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``run`` and ``record`` take alike: the graph, where it runs, how it is shown."""
    add_graph_arguments(parser)
    add_backend_arguments(parser)
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the graph and show it; the exit status.

    Raises:
        BadArguments: a bad file, node name or backend option.
    """
    return run_graph(args)


def run_graph(args: argparse.Namespace, record_to: str | None = None) -> int:
    """Run the graph the options name and show it, recording it to ``record_to`` if given;
    the exit status.

    Raises:
        BadArguments: a bad file, node name or backend option.
    """
    graph = load_graph(args.file, args.nodes)
    form = form_of(args)
    client, source = client_of(args)
    with client:
        stream = client.stream(graph.dag)
        if record_to is not None:
            stream = recorded(stream, record_to)
            source = f"{source}; recording to {record_to}"
        return show(stream, form, graph.labels, source)
