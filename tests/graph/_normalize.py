"""Compare serialized graphs whatever their random ids and their order.

Each node and future gets a canonical name from its structure (kind, args, directive, what it
depends on), computed bottom-up; every id inside the graph is replaced by its canonical name and
the lists are sorted. Two graphs that differ only in ids and order normalise to the same data.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from typing import Any

with warnings.catch_warnings():  # the SDK's pydantic models warn on import
    warnings.simplefilter("ignore")
    from substrate import Substrate


def sdk_serialize(*nodes: Any) -> dict[str, Any]:
    """The official SDK's serialization, through JSON as a server receives it."""
    return json.loads(json.dumps(Substrate.serialize(*nodes)))  # type: ignore[no-untyped-call,no-any-return]


def normalise(dag: dict[str, Any]) -> dict[str, Any]:
    """``dag`` with canonical ids, sorted lists, and the graph id blanked."""
    nodes = {n["id"]: n for n in dag["nodes"]}
    futures = {f["id"]: f for f in dag["futures"]}
    depends: dict[str, list[str]] = {}
    for source, target, _ in dag["edges"]:
        depends.setdefault(target, []).append(source)
    names: dict[str, str] = {}

    def name(ident: str) -> str:
        if ident not in names:
            if ident in nodes:
                entry = {k: v for k, v in nodes[ident].items() if k != "id"}
                body: Any = [
                    "node",
                    rename(entry),
                    sorted(name(d) for d in depends.get(ident, [])),
                ]
            elif ident in futures:
                body = ["future", rename(futures[ident]["directive"])]
            else:
                return f"<dangling {ident}>"
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            names[ident] = f"{'n' if ident in nodes else 'f'}:{digest[:16]}"
        return names[ident]

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return name(value) if value in nodes or value in futures else value
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    def key(item: Any) -> str:
        return json.dumps(item, sort_keys=True)

    return {
        "nodes": sorted((rename(n) for n in dag["nodes"]), key=key),
        "edges": sorted((rename(e) for e in dag["edges"]), key=key),
        "initial_args": dag["initial_args"],
        "futures": sorted((rename(f) for f in dag["futures"]), key=key),
    }
