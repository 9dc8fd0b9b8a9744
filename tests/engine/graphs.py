"""Building engine test graphs: the official SDK's own serializer, or plain wire dicts."""

from __future__ import annotations

import json
from typing import Any

from substrate import Substrate

from rxsubstrate import Event
from rxsubstrate.engine import Engine

PLACEHOLDER = "__$$SB_GRAPH_OP_ID$$__"


def serialize(*nodes: Any) -> dict[str, Any]:
    """The graph exactly as the SDK sends it (through JSON, as a server would receive it)."""
    return json.loads(json.dumps(Substrate.serialize(*nodes)))  # type: ignore[no-any-return]


def node(node_id: str, kind: str, *, visible: bool = True, **args: Any) -> dict[str, Any]:
    """A wire node."""
    spec: dict[str, Any] = {"id": node_id, "node": kind, "args": args}
    if visible:
        spec["_should_output_globally"] = True
    return spec


def ref(future_id: str) -> dict[str, str]:
    """A future placeholder, as it appears inside args and variables."""
    return {PLACEHOLDER: future_id}


def trace(future_id: str, origin: str, *ops: tuple[str, Any]) -> dict[str, Any]:
    """A trace future: each op is ("attr", key), ("item", key) or (accessor, ref(future_id))."""
    stack = []
    for accessor, key in ops:
        if isinstance(key, dict):
            stack.append({"future_id": key[PLACEHOLDER], "key": None, "accessor": accessor})
        else:
            stack.append({"future_id": None, "key": key, "accessor": accessor})
    return {
        "id": future_id,
        "directive": {"type": "trace", "op_stack": stack, "origin_node_id": origin},
    }


def graph(
    *nodes: dict[str, Any],
    futures: tuple[dict[str, Any], ...] = (),
    edges: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """A wire graph."""
    return {
        "nodes": list(nodes),
        "futures": list(futures),
        "edges": [[source, target, {}] for source, target in edges],
    }


async def run(engine: Engine, dag: Any) -> list[Event]:
    """Every event of one run, in order."""
    return [event async for event in engine.execute(engine.prepare(dag))]
