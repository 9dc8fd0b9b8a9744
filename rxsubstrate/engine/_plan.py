"""Validating a serialized graph into a ``Plan``: every check happens here, before anything runs.

A graph is rejected (``GraphInvalid``) when it is not an object with a ``nodes`` list, has a
malformed node, edge, future or directive, repeats a node or future id, names a missing node or
future, has a cycle, uses a node kind the reference does not know, passes arguments that break the
kind's input schema, holds a jq query, jinja template or format string that does not compile, or
uses a kind with no local implementation. Futures stand for values not known yet, so the argument
check skips them; the executor checks the resolved arguments again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from ._dag import (
    Dag,
    Directive,
    NodeSpec,
    Trace,
    directive_futures,
    placeholder_id,
    placeholders,
)
from ._errors import GraphInvalid
from ._impl import NodeImpl
from ._openapi import input_schema, known_kinds, load_openapi
from ._resolve import MissingExtra, check_literals, directive_name
from ._schema import SchemaChecker, resolve_ref

__all__ = ["Plan", "PlannedNode", "build_plan"]

_Vertex = tuple[str, str]  # ("node", id) or ("future", id)


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedNode:
    """A validated node, ready to run once every node in ``depends_on`` has succeeded."""

    id: str
    kind: str
    args: dict[str, Any]
    visible: bool
    depends_on: frozenset[str]
    impl: NodeImpl
    schema: Mapping[str, Any] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """A graph that passed validation; run it with ``Engine.execute`` (as many times as wanted).

    Attributes:
        nodes: the nodes by id, in the order the graph listed them.
        futures: each future's directive, by future id.
        dependents: the nodes that wait for each node directly, in graph order.
    """

    nodes: Mapping[str, PlannedNode]
    futures: Mapping[str, Directive]
    dependents: Mapping[str, tuple[str, ...]]


def build_plan(raw: Any, impls: Mapping[str, NodeImpl]) -> Plan:
    """Validate a serialized graph and resolve what each node waits for.

    Args:
        raw: the graph as decoded from JSON.
        impls: the engine's implementations by node kind.

    Raises:
        GraphInvalid: the first problem found.
    """
    if not isinstance(raw, dict):
        raise GraphInvalid(f"the graph must be a JSON object, got {type(raw).__name__}")
    if not isinstance(raw.get("nodes"), list):
        raise GraphInvalid("the graph must have a 'nodes' list")
    try:
        dag = msgspec.convert(raw, Dag)
    except msgspec.ValidationError as exc:
        raise GraphInvalid(f"malformed graph: {exc}") from None

    nodes = _unique({n.id: n for n in dag.nodes}, [n.id for n in dag.nodes], "node")
    futures = _unique(
        {f.id: f.directive for f in dag.futures}, [f.id for f in dag.futures], "future"
    )
    for node in dag.nodes:
        if node.node not in known_kinds() and node.node not in impls:
            raise GraphInvalid(
                f"{node.id}: unknown node kind {node.node!r}: the Substrate reference has no such"
                f' node; to run your own, register it with engine.register("{node.node}", impl)'
            )
    edges = _edges(dag.edges, nodes)
    graph = _reference_graph(nodes, futures, edges)
    _reject_cycle(graph)
    for future_id, directive in futures.items():
        _compile_literals(future_id, directive)
    planned: dict[str, PlannedNode] = {}
    for node in dag.nodes:
        schema = input_schema(node.node)
        if schema is not None:
            _check_args(node, schema)
        impl = impls.get(node.node)
        if impl is None:
            raise GraphInvalid(
                f"{node.id}: node kind {node.node!r} has no local implementation; register one"
                f' with engine.register("{node.node}", impl)'
            )
        planned[node.id] = PlannedNode(
            id=node.id,
            kind=node.node,
            args=_with_defaults(node.args, schema),
            visible=node.visible,
            depends_on=_upstream_nodes(("node", node.id), graph),
            impl=impl,
            schema=schema,
        )
    dependents: dict[str, list[str]] = {node_id: [] for node_id in planned}
    for planned_node in planned.values():
        for upstream in planned_node.depends_on:
            dependents[upstream].append(planned_node.id)
    return Plan(
        nodes=planned,
        futures=futures,
        dependents={node_id: tuple(ids) for node_id, ids in dependents.items()},
    )


def _unique(by_id: dict[str, Any], ids: list[str], what: str) -> dict[str, Any]:
    if len(by_id) != len(ids):
        seen: set[str] = set()
        repeated = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise GraphInvalid(f"duplicate {what} id {repeated!r}")
    return by_id


def _edges(raw_edges: list[list[Any]], nodes: Mapping[str, NodeSpec]) -> list[tuple[str, str]]:
    edges = []
    for index, edge in enumerate(raw_edges):
        if not (2 <= len(edge) <= 3 and all(isinstance(end, str) for end in edge[:2])):
            raise GraphInvalid(f"edge #{index} must be [from_node_id, to_node_id, {{}}]")
        for end in edge[:2]:
            if end not in nodes:
                raise GraphInvalid(f"edge #{index} names a missing node {end!r}")
        edges.append((edge[0], edge[1]))
    return edges


def _reference_graph(
    nodes: Mapping[str, NodeSpec],
    futures: Mapping[str, Directive],
    edges: Iterable[tuple[str, str]],
) -> dict[_Vertex, list[_Vertex]]:
    """What each node and future reads: vertex -> the vertices it needs first."""
    graph: dict[_Vertex, list[_Vertex]] = {}
    for node_id, node in nodes.items():
        needs = []
        for future_id in placeholders(node.args):
            if future_id not in futures:
                raise GraphInvalid(f"{node_id}: an argument refers to a missing future {future_id}")
            needs.append(("future", future_id))
        graph["node", node_id] = needs
    for source, target in edges:
        graph["node", target].append(("node", source))
    for future_id, directive in futures.items():
        needs = []
        for used in directive_futures(directive):
            if used not in futures:
                raise GraphInvalid(f"future {future_id} refers to a missing future {used}")
            needs.append(("future", used))
        if isinstance(directive, Trace):
            if directive.origin_node_id not in nodes:
                raise GraphInvalid(
                    f"future {future_id} traces a missing node {directive.origin_node_id!r}"
                )
            needs.append(("node", directive.origin_node_id))
        graph["future", future_id] = needs
    return graph


def _reject_cycle(graph: Mapping[_Vertex, list[_Vertex]]) -> None:
    """Depth-first search without recursion; a back edge is a cycle, reported by its nodes."""
    done: set[_Vertex] = set()
    for start in graph:
        if start in done:
            continue
        path: list[_Vertex] = [start]
        on_path = {start}
        pending = [iter(graph[start])]
        while pending:
            step = next(pending[-1], None)
            if step is None:
                pending.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif step in on_path:
                cycle = [*path[path.index(step) :], step]
                # Read in running order: what runs first comes first.
                raise GraphInvalid(f"the graph has a cycle: {_describe_cycle(cycle[::-1])}")
            elif step not in done:
                path.append(step)
                on_path.add(step)
                pending.append(iter(graph[step]))


def _describe_cycle(cycle: list[_Vertex]) -> str:
    named = [name for kind, name in cycle if kind == "node"]
    if len(set(named)) >= 2:
        return " -> ".join(named)
    names = [name if kind == "node" else f"future {name}" for kind, name in cycle]
    return " -> ".join(names)


def _upstream_nodes(start: _Vertex, graph: Mapping[_Vertex, list[_Vertex]]) -> frozenset[str]:
    """The nodes ``start`` reads directly or through futures (not through other nodes)."""
    found: set[str] = set()
    seen: set[_Vertex] = set()
    stack = list(graph[start])
    while stack:
        vertex = stack.pop()
        if vertex in seen:
            continue
        seen.add(vertex)
        kind, name = vertex
        if kind == "node":
            found.add(name)
        else:
            stack.extend(graph[vertex])
    return frozenset(found)


def _compile_literals(future_id: str, directive: Directive) -> None:
    """Templates, format strings and queries given literally must compile now, not mid-run."""
    try:
        check_literals(directive)
    except MissingExtra as exc:
        raise GraphInvalid(f"future {future_id}: {exc}") from None
    except ValueError as exc:
        name = directive_name(directive)
        raise GraphInvalid(
            f"future {future_id}: the {name} directive does not compile: {exc}"
        ) from None


def _check_args(node: NodeSpec, schema: Mapping[str, Any]) -> None:
    message = args_problem(node.args, schema, is_placeholder)
    if message is not None:
        raise GraphInvalid(f"{node.id}: {message}")


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` stands for a future."""
    return placeholder_id(value) is not None


def args_problem(
    args: Mapping[str, Any], schema: Mapping[str, Any], skip: Callable[[Any], bool]
) -> str | None:
    """What is wrong with a node's arguments (as ``argument 'x' ...``), or None."""
    root = load_openapi()
    properties = resolve_ref(root, schema).get("properties", {})
    for name in args:
        if name not in properties:
            accepted = ", ".join(properties) or "none"
            return f"unknown argument {name!r} (accepted: {accepted})"
    found = SchemaChecker(root, skip).problem(dict(args), schema)
    if found is None:
        return None
    return f"argument {found.path!r} {found.text}"


def _with_defaults(args: dict[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The arguments with each unset (missing or null) one that has a default set to it."""
    if schema is None:
        return args
    properties = resolve_ref(load_openapi(), schema).get("properties", {})
    filled = dict(args)
    for name, prop in properties.items():
        if filled.get(name) is None and "default" in prop:
            filled[name] = prop["default"]
    return filled
