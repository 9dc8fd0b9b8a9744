"""A graph from a file, for ``run`` and ``record``: a Python file that defines nodes, or a dag
as JSON.

- A Python file is run (``runpy.run_path``, its own directory first on ``sys.path``, as
  ``python FILE`` would); its module-level ``Node`` instances are the graph, each shown under
  its variable's name. NODE arguments name the variables to run, each with every node it
  references; by default all of them.
- A ``.json`` file holds ``{"nodes": [...], ...}`` as ``Substrate.serialize`` makes it, or a
  request body ``{"dag": {...}}``. NODE arguments name node ids, each kept with every node and
  future it references.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import runpy
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import Any, Final

import msgspec

from .._graph import Node, serialize
from .._wire import VISIBLE
from ._board import NodeLabel
from ._printable import printable
from ._usage import BadArguments

__all__ = ["MAX_JSON_SIZE", "Graph", "add_graph_arguments", "load_graph"]

MAX_JSON_SIZE: Final = 8 * 1024 * 1024
"""The largest JSON dag file read: the server's default bound on a request body."""


@dataclasses.dataclass(frozen=True)
class Graph:
    """A dag to run, and the nodes to show: those it outputs, in its order."""

    dag: dict[str, Any]
    labels: tuple[NodeLabel, ...]


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
    """FILE and NODE ..."""
    parser.add_argument(
        "file",
        metavar="FILE",
        help="a Python file that defines nodes, or a .json dag ({'nodes': ...} as"
        " Substrate.serialize makes it, or a request body {'dag': ...})",
    )
    parser.add_argument(
        "nodes",
        metavar="NODE",
        nargs="*",
        help="the nodes to run, each with every node it references: variable names in a Python"
        " file, node ids in a JSON dag (default: all of them)",
    )


def load_graph(path: str, names: Sequence[str]) -> Graph:
    """The graph in ``path``, cut down to ``names`` and what they reference when given.

    Raises:
        BadArguments: the file cannot be read or run, defines no nodes or no valid dag, or has
            no node by one of ``names`` (the message lists those it has).
    """
    if not os.path.isfile(path):
        raise BadArguments(f"{path}: no such file")
    if path.endswith(".json"):
        return _from_json(path, names)
    return _from_python(path, names)


def _from_python(path: str, names: Sequence[str]) -> Graph:
    variables = _nodes_defined(path)
    if not variables:
        raise BadArguments(
            f"{path} defines no nodes: a graph file assigns nodes to module-level variables,"
            " e.g. story = ComputeText(prompt='...')"
        )
    _check_names(path, names, variables)
    chosen = list({id(node): node for node in (variables[n] for n in names or variables)}.values())
    try:
        dag = serialize(*chosen)
    except ValueError as exc:  # two nodes with one id, a cycle through depends
        raise BadArguments(f"{path}: {exc}") from None
    named: dict[str, str] = {}
    for name, node in variables.items():
        named.setdefault(node.id, name)
    return Graph(dag, _labels(dag, named))


def _nodes_defined(path: str) -> dict[str, Node[Any]]:
    """Run the file; its module-level nodes by variable name."""
    directory = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, directory)
    try:
        namespace = runpy.run_path(path)
    except SyntaxError as exc:
        raise BadArguments(f"{path}, line {exc.lineno}: {exc.msg}") from None
    except (Exception, SystemExit) as exc:  # the file's own code failed
        raise BadArguments(f"{path}{_line_of(path, exc)} raised {_error_line(exc)}") from None
    finally:
        sys.path.remove(directory)
    return {
        name: value
        for name, value in namespace.items()
        if isinstance(value, Node) and not name.startswith("__")
    }


def _line_of(path: str, exc: BaseException) -> str:
    """``, line N``: the last line of ``path`` the error went through."""
    target = os.path.abspath(path)
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if os.path.abspath(frame.filename) == target
    ]
    return f", line {lines[-1]}," if lines else ""


def _error_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()


def _from_json(path: str, names: Sequence[str]) -> Graph:
    if os.path.getsize(path) > MAX_JSON_SIZE:
        raise BadArguments(f"{path}: over {MAX_JSON_SIZE} bytes, more than a server takes")
    try:
        with open(path, "rb") as file:
            value = msgspec.json.decode(file.read(MAX_JSON_SIZE + 1))
    except (OSError, msgspec.DecodeError) as exc:
        raise BadArguments(f"{path}: {exc}") from None
    if isinstance(value, dict) and isinstance(value.get("dag"), dict):
        value = value["dag"]
    nodes = value.get("nodes") if isinstance(value, dict) else None
    if not (
        isinstance(nodes, list)
        and nodes
        and all(
            isinstance(n, dict) and isinstance(n.get("id"), str) and isinstance(n.get("node"), str)
            for n in nodes
        )
    ):
        raise BadArguments(
            f"{path}: not a dag: expected {{'nodes': [{{'id': ..., 'node': ..., 'args': ...}},"
            " ...]}} as Substrate.serialize makes it, or a request body {'dag': {...}}"
        )
    dag: dict[str, Any] = value
    if names:
        _check_names(path, names, {n["id"]: n for n in nodes})
        dag = _cut(path, dag, names)
    return Graph(dag, _labels(dag, {}))


def _check_names(path: str, names: Sequence[str], defined: Mapping[str, Any]) -> None:
    missing = [name for name in names if name not in defined]
    if missing:
        raise BadArguments(
            f"{path} has no node named {', '.join(missing)}; its nodes are: {', '.join(defined)}"
        )


def _cut(path: str, dag: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """``dag`` with only the nodes ``names`` and every node and future they reference."""
    from ..engine._dag import Dag, Trace, directive_futures, placeholders

    try:
        typed = msgspec.convert(dag, Dag)
    except msgspec.ValidationError as exc:
        raise BadArguments(f"{path}: not a valid dag: {exc}") from None
    nodes = {node.id: node for node in typed.nodes}
    futures = {future.id: future for future in typed.futures}
    before: dict[str, set[str]] = {}
    for edge in typed.edges:
        if len(edge) >= 2 and isinstance(edge[0], str) and isinstance(edge[1], str):
            before.setdefault(edge[1], set()).add(edge[0])
    kept_nodes: set[str] = set()
    kept_futures: set[str] = set()
    todo = [("node", name) for name in names]
    while todo:
        what, key = todo.pop()
        if what == "node":
            if key in kept_nodes or key not in nodes:
                continue
            kept_nodes.add(key)
            todo += [("future", f) for f in placeholders(nodes[key].args)]
            todo += [("node", n) for n in before.get(key, ())]
        elif key not in kept_futures and key in futures:
            kept_futures.add(key)
            directive = futures[key].directive
            todo += [("future", f) for f in directive_futures(directive)]
            if isinstance(directive, Trace):
                todo.append(("node", directive.origin_node_id))
    return {
        **dag,
        "nodes": [n for n in dag["nodes"] if n["id"] in kept_nodes],
        "edges": [e for e in typed.edges if e[0] in kept_nodes and e[1] in kept_nodes],
        "futures": [f for f in dag.get("futures", []) if f.get("id") in kept_futures],
    }


def _labels(dag: dict[str, Any], named: dict[str, str]) -> tuple[NodeLabel, ...]:
    """The nodes the run outputs, each under its variable's name when it has one."""
    return tuple(
        NodeLabel(node["id"], printable(named.get(node["id"], node["id"])), printable(node["node"]))
        for node in dag["nodes"]
        if node.get(VISIBLE)
    )
