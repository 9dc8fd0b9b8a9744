"""The one builder of wire graphs for tests: nodes, futures and graphs as the official SDK
serializes them (what a server receives in ``{"dag": ...}``)."""

from __future__ import annotations

from typing import Any, Final

from rxsubstrate._wire import PLACEHOLDER, VISIBLE

__all__ = ["PLACEHOLDER", "graph", "node", "ref", "trace"]

TEXT_ARGS: Final = {"prompt": "windmills", "max_tokens": 4}
"""A ComputeText node's arguments when a test gives none."""


def node(
    node_id: str, kind: str = "ComputeText", /, *, visible: bool = True, **args: Any
) -> dict[str, Any]:
    """A wire node (a ComputeText with ``TEXT_ARGS`` when neither kind nor args are given)."""
    if not args and kind == "ComputeText":
        args = dict(TEXT_ARGS)
    spec: dict[str, Any] = {"id": node_id, "node": kind, "args": args}
    if visible:
        spec[VISIBLE] = True
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
