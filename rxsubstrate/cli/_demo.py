"""``rxsubstrate demo``: the announcement's two-node example on the embedded engine, printed
as it streams."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._backend_options import STAND_IN
from ._usage import HelpFormatter, non_negative_seconds

if TYPE_CHECKING:
    from . import Commands

__all__ = ["add_parser", "demo"]


def add_parser(commands: Commands) -> None:
    """``rxsubstrate demo`` and its option."""
    parser = commands.add_parser(
        "demo",
        help="stream a two-node graph on the embedded engine",
        description="Run two text nodes, the second fed by the first, and print their streams."
        f" On the embedded engine, {STAND_IN}.",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=demo, command_parser=parser)
    parser.add_argument(
        "--chunk-delay",
        type=non_negative_seconds,
        default=0.05,
        metavar="SECONDS",
        help="seconds between a node's deltas",
    )


def demo(args: argparse.Namespace) -> int:
    """Both nodes' text as it streams, then the graph's result."""
    from .. import GraphResult, NodeDelta, NodeError, NodeResult, Substrate
    from .._graph import ComputeText, sb
    from ..engine import Engine

    print(f"Note: this is the embedded engine; {STAND_IN}.")
    a = ComputeText(prompt="tell me about windmills", max_tokens=10)
    b = ComputeText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)
    with Substrate(engine=Engine(chunk_delay=args.chunk_delay)) as client:
        current = None
        for event in client.stream(a, b).iter():
            if isinstance(event, NodeDelta):
                if event.node_id != current:
                    current = event.node_id
                    print(f"\n{current}: ", end="")
                print(event.data.get("text", ""), end="", flush=True)
            elif isinstance(event, NodeResult):
                print(f"\n{event.node_id} done", flush=True)
                current = None
            elif isinstance(event, NodeError):
                print(f"\n{event.node_id} failed: {event.data.message}", flush=True)
            elif isinstance(event, GraphResult):
                print("\ngraph.result:")
                for node_id, output in event.outputs.items():
                    print(f"  {node_id}: {output}")
    return 0
