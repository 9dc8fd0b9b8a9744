"""Graph files as a user writes them, the command line run in-process, and the library's own
run of the same graph to compare with."""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rxsubstrate import Event, Node, Substrate, serialize
from rxsubstrate.cli import main
from rxsubstrate.engine import Engine

# Nodes with ids of their own, so that the library run in a test and the one the command
# makes from the file are the same graph. `check` references `story`; `many` stands alone.
GRAPH = """
from rxsubstrate import ComputeJSON, ComputeText, MultiComputeText, sb

story = ComputeText(prompt="tell me about windmills", max_tokens=24, id="story_1")
check = ComputeText(
    prompt=sb.concat("is this true? ", story.future.text), max_tokens=12, id="check_1"
)
many = MultiComputeText(prompt="two ideas", num_choices=2, max_tokens=6, id="many_1")
facts = ComputeJSON(
    prompt="a windmill",
    json_schema={"type": "object", "properties": {"name": {"type": "string"}}},
    id="facts_1",
)
"""

# `broken` traces a field its origin does not have: it fails, `story` is done.
FAILING = """
from rxsubstrate import Box, ComputeText

story = ComputeText(prompt="tell me about windmills", max_tokens=8, id="story_1")
broken = Box(value=story.future.nope, id="broken_1")
"""


@dataclasses.dataclass
class Result:
    status: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("run", "g.py")``: the command line in this process; its status and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            status = main(list(argv))
        except SystemExit as exit_:
            status = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return run


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def graph_file(tmp_path: Path) -> Path:
    return write(tmp_path, "graph.py", GRAPH)


@pytest.fixture
def failing_file(tmp_path: Path) -> Path:
    return write(tmp_path, "failing.py", FAILING)


def nodes_of(path: Path) -> dict[str, Any]:
    """The module-level nodes a graph file defines, by variable name (run here, in the test)."""
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return {name: value for name, value in namespace.items() if isinstance(value, Node)}


def dag_of(path: Path, *names: str) -> dict[str, Any]:
    nodes = nodes_of(path)
    return serialize(*(nodes[name] for name in names or nodes))


def library_events(dag: dict[str, Any]) -> list[Event]:
    """What the library gives for the dag, read with the public API on the embedded engine."""
    with Substrate(engine=Engine(chunk_delay=0)) as client:
        return list(client.stream(dag).iter())


def library_sse(dag: dict[str, Any]) -> str:
    with Substrate(engine=Engine(chunk_delay=0)) as client:
        return "".join(client.stream(dag).iter_events())


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def unnamed(text: str) -> str:
    """``text`` without the ids of futures, which each run of a graph file draws anew, and with
    single spaces (as a wrapped panel's lines are joined)."""
    return " ".join(re.sub(r"future\d+_[\w-]{8}", "FUTURE", text).split())
