"""Validating a serialized graph into a ``Plan``: every check happens here, before anything runs.

A graph is rejected (``GraphInvalid``) when it is not an object with a ``nodes`` list, has more
nodes, futures or edges than the engine's ``EngineLimits``, has a malformed node, edge, future or
directive, repeats a node or future id, names a missing node or future, has a cycle or a chain of
futures deeper than the limit, uses a node kind the reference does not know, passes arguments that
break the kind's input schema (or a ``json_schema`` no finite value satisfies), or uses a kind
with no local implementation. Futures stand for values not known yet, so the argument check skips
them; the executor checks the resolved arguments again. Literal jq queries, jinja templates and
format strings are compiled after this, by the engine (``_resolve.check_literals``): jq and jinja
compile in its sandbox processes, off the event loop.

The work is linear in the size of the graph (nodes, futures, edges and the references between
them): the graph of references is indexed once, ordered once (Kahn's algorithm, which also finds
cycles), and the run walks the same graph, so no node ever looks through a chain of futures for
the nodes behind it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from .._errors import GraphInvalid
from .._quote import clip
from ._dag import (
    Concat,
    Dag,
    Directive,
    NodeSpec,
    Trace,
    directive_futures,
    placeholder_id,
    placeholders,
)
from ._impl import NodeImpl
from ._jsongen import schema_problem
from ._limits import EngineLimits
from ._openapi import input_schema, known_kinds, load_openapi
from ._schema import SchemaChecker, resolve_ref

__all__ = ["NodeOptions", "Plan", "PlannedNode", "Schedule", "args_problem", "build_plan"]

_log = logging.getLogger("rxsubstrate.engine")

_OPTIONS: Final = ("cache_age", "cache_keys", "max_retries")
_SHOWN_IN_CYCLE: Final = 12


@dataclasses.dataclass(frozen=True, slots=True)
class NodeOptions:
    """What the SDK's node options ask of the engine.

    Attributes:
        cache_age: reuse a result of the same kind and cache keys made at most this many
            seconds ago (None or 0: no cache).
        cache_keys: the arguments that make the cache key (None: all of them).
        max_retries: run the implementation again, this many times at most, when it fails
            with an ``api_error`` before streaming anything.
    """

    cache_age: int | None = None
    cache_keys: tuple[str, ...] | None = None
    max_retries: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedNode:
    """A validated node, ready to run once everything it reads has been computed."""

    id: str
    kind: str
    args: dict[str, Any]
    visible: bool
    impl: NodeImpl
    schema: Mapping[str, Any] | None
    options: NodeOptions


@dataclasses.dataclass(frozen=True, slots=True)
class Schedule:
    """Who waits for whom, as vertices: ``0..len(node_ids) - 1`` are the nodes in graph order,
    the rest the futures.

    Attributes:
        node_ids: the node id of each node vertex.
        needs: how many distinct vertices each vertex reads (a node's futures and the nodes of
            its edges; a future's futures and the node it traces).
        readers: the vertices that read each vertex.
    """

    node_ids: tuple[str, ...]
    needs: tuple[int, ...]
    readers: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """A graph that passed validation; run it with ``Engine.execute`` (as many times as wanted).

    Attributes:
        nodes: the nodes by id, in the order the graph listed them.
        futures: each future's directive, by future id.
        schedule: the order the run keeps.
    """

    nodes: Mapping[str, PlannedNode]
    futures: Mapping[str, Directive]
    schedule: Schedule


def build_plan(raw: Any, impls: Mapping[str, NodeImpl], limits: EngineLimits) -> Plan:
    """Validate a serialized graph and index what each node and future waits for.

    Args:
        raw: the graph as decoded from JSON.
        impls: the engine's implementations by node kind.
        limits: the bounds the graph must keep.

    Raises:
        GraphInvalid: the first problem found.
    """
    dag = _decode(raw, limits)
    nodes = _unique({n.id: n for n in dag.nodes}, [n.id for n in dag.nodes], "node")
    futures = _unique(
        {f.id: f.directive for f in dag.futures}, [f.id for f in dag.futures], "future"
    )
    for node in dag.nodes:
        if node.node not in known_kinds() and node.node not in impls:
            raise GraphInvalid(
                f"{clip(node.id)}: unknown node kind {clip(node.node)!r}: the Substrate reference"
                " has no such node; to run your own, register it with"
                f' engine.register("{clip(node.node)}", impl)'
            )
    graph = _References(nodes, futures, _edges(dag.edges, nodes))
    graph.check_order(limits.max_future_depth)
    planned = {node.id: _plan_node(node, impls, limits) for node in dag.nodes}
    return Plan(nodes=planned, futures=futures, schedule=graph.schedule())


def _decode(raw: Any, limits: EngineLimits) -> Dag:
    if not isinstance(raw, dict):
        raise GraphInvalid(f"the graph must be a JSON object, got {type(raw).__name__}")
    if not isinstance(raw.get("nodes"), list):
        raise GraphInvalid("the graph must have a 'nodes' list")
    # Counted before anything is converted: a huge graph costs no more than its refusal.
    for what, most in (
        ("nodes", limits.max_nodes),
        ("futures", limits.max_futures),
        ("edges", limits.max_edges),
    ):
        items = raw.get(what)
        if isinstance(items, list) and len(items) > most:
            raise GraphInvalid(
                f"the graph has {len(items):,} {what}; this engine runs at most {most:,}"
            )
    try:
        return msgspec.convert(raw, Dag)
    except msgspec.ValidationError as exc:
        raise GraphInvalid(f"malformed graph: {clip(str(exc), 300)}") from None


def _unique(by_id: dict[str, Any], ids: list[str], what: str) -> dict[str, Any]:
    if len(by_id) != len(ids):
        seen: set[str] = set()
        repeated = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise GraphInvalid(f"duplicate {what} id {clip(repeated)!r}")
    return by_id


def _edges(raw_edges: list[list[Any]], nodes: Mapping[str, NodeSpec]) -> list[tuple[str, str]]:
    edges = []
    for index, edge in enumerate(raw_edges):
        if not (2 <= len(edge) <= 3 and all(isinstance(end, str) for end in edge[:2])):
            raise GraphInvalid(f"edge #{index} must be [from_node_id, to_node_id, {{}}]")
        for end in edge[:2]:
            if end not in nodes:
                raise GraphInvalid(f"edge #{index} names a missing node {clip(end)!r}")
        edges.append((edge[0], edge[1]))
    return edges


class _References:
    """The graph of what reads what, over integer vertices (nodes first, then futures)."""

    def __init__(
        self,
        nodes: Mapping[str, NodeSpec],
        futures: Mapping[str, Directive],
        edges: list[tuple[str, str]],
    ) -> None:
        self._node_ids = tuple(nodes)
        self._future_ids = tuple(futures)
        vertex = {node_id: index for index, node_id in enumerate(self._node_ids)}
        first_future = len(self._node_ids)
        future_vertex = {f: first_future + index for index, f in enumerate(self._future_ids)}
        needs: list[list[int]] = []
        for node_id, node in nodes.items():
            reads = []
            for future_id in placeholders(node.args):
                if future_id not in future_vertex:
                    raise GraphInvalid(
                        f"{clip(node_id)}: an argument refers to a missing future {clip(future_id)}"
                    )
                reads.append(future_vertex[future_id])
            needs.append(reads)
        for source, target in edges:
            needs[vertex[target]].append(vertex[source])
        for future_id, directive in futures.items():
            _refuse_placeholders_in_concat(future_id, directive)
            reads = []
            for used in directive_futures(directive):
                if used not in future_vertex:
                    raise GraphInvalid(
                        f"future {clip(future_id)} refers to a missing future {clip(used)}"
                    )
                reads.append(future_vertex[used])
            if isinstance(directive, Trace):
                if directive.origin_node_id not in vertex:
                    raise GraphInvalid(
                        f"future {clip(future_id)} traces a missing node"
                        f" {clip(directive.origin_node_id)!r}"
                    )
                reads.append(vertex[directive.origin_node_id])
            needs.append(reads)
        self._needs = [list(dict.fromkeys(reads)) if len(reads) > 1 else reads for reads in needs]
        readers: list[list[int]] = [[] for _ in self._needs]
        for reader, reads in enumerate(self._needs):
            for read in reads:
                readers[read].append(reader)
        self._readers = readers

    def check_order(self, max_future_depth: int) -> None:
        """Refuse a cycle, and a chain of futures deeper than ``max_future_depth``.

        Kahn's algorithm: a vertex is taken once all it reads was taken; what is never taken
        lies on or behind a cycle.
        """
        first_future = len(self._node_ids)
        left = [len(reads) for reads in self._needs]
        depth = [0] * len(self._needs)
        ready = [v for v, count in enumerate(left) if count == 0]
        taken = 0
        while ready:
            vertex = ready.pop()
            taken += 1
            if vertex >= first_future:
                depth[vertex] += 1
                if depth[vertex] > max_future_depth:
                    raise GraphInvalid(
                        f"future {clip(self._name(vertex)[1])} reads a chain of more than"
                        f" {max_future_depth} futures; this engine resolves at most"
                        f" {max_future_depth} deep"
                    )
            for reader in self._readers[vertex]:
                if reader >= first_future and vertex >= first_future:
                    depth[reader] = max(depth[reader], depth[vertex])
                left[reader] -= 1
                if left[reader] == 0:
                    ready.append(reader)
        if taken < len(left):
            raise GraphInvalid(f"the graph has a cycle: {self._cycle(left)}")

    def _cycle(self, left: list[int]) -> str:
        """A cycle among the vertices never taken, in running order.

        Each of them still waits for another one never taken, so following those waits from
        any of them must come back to a vertex already passed.
        """
        vertex = next(v for v, count in enumerate(left) if count > 0)
        position: dict[int, int] = {}
        path: list[int] = []
        while vertex not in position:
            position[vertex] = len(path)
            path.append(vertex)
            vertex = next(v for v in self._needs[vertex] if left[v] > 0)
        cycle = [*path[position[vertex] :], vertex][::-1]
        named = [self._name(v) for v in cycle]
        nodes = [name for kind, name in named if kind == "node"]
        shown = (
            nodes
            if len(set(nodes)) >= 2
            else [name if kind == "node" else f"future {name}" for kind, name in named]
        )
        text = " -> ".join(clip(name) for name in shown[:_SHOWN_IN_CYCLE])
        return text if len(shown) <= _SHOWN_IN_CYCLE else f"{text} -> ... ({len(shown)} steps)"

    def _name(self, vertex: int) -> tuple[str, str]:
        if vertex < len(self._node_ids):
            return "node", self._node_ids[vertex]
        return "future", self._future_ids[vertex - len(self._node_ids)]

    def schedule(self) -> Schedule:
        return Schedule(
            node_ids=self._node_ids,
            needs=tuple(len(reads) for reads in self._needs),
            readers=tuple(tuple(readers) for readers in self._readers),
        )


def _refuse_placeholders_in_concat(future_id: str, directive: Directive) -> None:
    """A ``string-concat`` item's ``val`` is literal text, as the SDK sends it; a future there
    would be neither checked nor waited for, so it is a mistake to report now."""
    if not isinstance(directive, Concat):
        return
    for index, item in enumerate(directive.items):
        inner = next(placeholders(item.val), None)
        if inner is not None:
            raise GraphInvalid(
                f"future {clip(future_id)}: string-concat item #{index} has future"
                f" {clip(inner)} inside its 'val'; a future goes in the item's 'future_id'"
            )


def _plan_node(node: NodeSpec, impls: Mapping[str, NodeImpl], limits: EngineLimits) -> PlannedNode:
    schema: Mapping[str, Any] | None = input_schema(node.node)
    args, options_in_args = node.args, dict[str, Any]()
    if schema is not None:
        properties = resolve_ref(load_openapi(), schema).get("properties", {})
        args, options_in_args = _known_args(node, properties)
        schema = _with_local_bounds(schema, properties, limits)
        _check_args(node.id, args, schema)
        _check_json_schema(node.id, args, properties, limits)
        args = _with_defaults(args, properties)
    impl = impls.get(node.node)
    if impl is None:
        raise GraphInvalid(
            f"{clip(node.id)}: node kind {clip(node.node)!r} has no local implementation;"
            f' register one with engine.register("{clip(node.node)}", impl)'
        )
    return PlannedNode(
        id=node.id,
        kind=node.node,
        args=args,
        visible=node.visible,
        impl=impl,
        schema=schema,
        options=_options(node, options_in_args, limits),
    )


def _known_args(
    node: NodeSpec, properties: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arguments the kind's schema names, and the node options found among the rest.

    The SDK passes node options given as plain keywords (``cache_age=60``) among the
    arguments; anything else the schema does not name is ignored, as the schema allows
    (``additionalProperties`` is not false), with a debug line. (A kind of your own has no
    schema: its arguments are all its implementation's, whatever their names.)
    """
    args: dict[str, Any] = {}
    in_args: dict[str, Any] = {}
    ignored = []
    for name, value in node.args.items():
        if name in properties:
            args[name] = value
        elif name in _OPTIONS:
            in_args[name] = value
        else:
            ignored.append(name)
    if ignored and _log.isEnabledFor(logging.DEBUG):
        shown = ", ".join(repr(clip(name)) for name in ignored[:10])
        _log.debug(
            "%s: ignoring %d argument(s) %s does not take: %s",
            clip(node.id),
            len(ignored),
            node.node,
            shown,
        )
    return args, in_args


def _options(node: NodeSpec, in_args: Mapping[str, Any], limits: EngineLimits) -> NodeOptions:
    """The node's options, from its own fields (``_cache_age``) or else from its arguments."""
    given: dict[str, Any] = {
        "cache_age": node.cache_age,
        "cache_keys": node.cache_keys,
        "max_retries": node.max_retries,
    }
    for name, value in in_args.items():
        if given[name] is None:
            given[name] = value
    for name, value in given.items():
        if next(placeholders(value), None) is not None:
            raise GraphInvalid(f"{clip(node.id)}: option {name!r} must be a value, not a future")
    cache_age, cache_keys, max_retries = (
        given["cache_age"],
        given["cache_keys"],
        given["max_retries"],
    )
    for name, value in (("cache_age", cache_age), ("max_retries", max_retries)):
        if value is not None and (type(value) is not int or value < 0):
            raise GraphInvalid(
                f"{clip(node.id)}: option {name!r} must be a whole number >= 0, got"
                f" {clip(repr(value))}"
            )
    if max_retries is not None and max_retries > limits.max_retries:
        raise GraphInvalid(
            f"{clip(node.id)}: option 'max_retries' is {max_retries}; this engine retries at most"
            f" {limits.max_retries} times"
        )
    if cache_keys is not None and (
        not isinstance(cache_keys, list) or not all(isinstance(k, str) for k in cache_keys)
    ):
        raise GraphInvalid(f"{clip(node.id)}: option 'cache_keys' must be a list of strings")
    return NodeOptions(
        cache_age=cache_age,
        cache_keys=None if cache_keys is None else tuple(cache_keys),
        max_retries=max_retries or 0,
    )


def _with_local_bounds(
    schema: Mapping[str, Any], properties: Mapping[str, Any], limits: EngineLimits
) -> Mapping[str, Any]:
    """The kind's schema with the bounds this engine adds where the reference sets none.

    The reference gives ``max_tokens`` no minimum and ``prompts`` no ``maxItems``; a token
    budget below one asks for nothing, and every prompt of a batch is a generation.
    """
    bounds = {"max_tokens": {"minimum": 1}, "prompts": {"maxItems": limits.max_batch_prompts}}
    local = {name: bound for name, bound in bounds.items() if name in properties}
    return {"allOf": [schema, {"properties": local}]} if local else schema


def _check_args(node_id: str, args: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    message = args_problem(args, schema, is_placeholder)
    if message is not None:
        raise GraphInvalid(f"{clip(node_id)}: {message}")


def _check_json_schema(
    node_id: str, args: Mapping[str, Any], properties: Mapping[str, Any], limits: EngineLimits
) -> None:
    """A literal ``json_schema`` no finite value satisfies is refused now, not mid-run."""
    json_schema = args.get("json_schema")
    if "json_schema" not in properties or not isinstance(json_schema, dict):
        return
    if next(placeholders(json_schema), None) is not None:
        return  # known once its futures are: the generator checks it then
    problem = schema_problem(json_schema, steps=limits.json_steps)
    if problem is not None:
        raise GraphInvalid(f"{clip(node_id)}: {problem}")


def is_placeholder(value: Any) -> bool:
    """Whether ``value`` stands for a future."""
    return placeholder_id(value) is not None


def args_problem(
    args: Mapping[str, Any], schema: Mapping[str, Any], skip: Callable[[Any], bool]
) -> str | None:
    """What is wrong with a node's arguments (as ``argument 'x' ...``), or None."""
    found = SchemaChecker(load_openapi(), skip).problem(dict(args), schema)
    if found is None:
        return None
    return f"argument {clip(found.path)!r} {found.text}"


def _with_defaults(args: dict[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments with each unset (missing or null) one that has a default set to it."""
    filled = dict(args)
    for name, prop in properties.items():
        if filled.get(name) is None and "default" in prop:
            filled[name] = prop["default"]
    return filled
