"""Building engine test graphs (the official SDK's own serializer, or plain wire dicts), and
counting the engine's work while it handles them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import hypothesis.strategies as st
from substrate import Substrate

import rxsubstrate.engine
from rxsubstrate import Event
from rxsubstrate._wire import PLACEHOLDER
from rxsubstrate.engine import Engine


def serialize(*nodes: Any) -> dict[str, Any]:
    """The graph exactly as the SDK sends it (through JSON, as a server would receive it)."""
    return json.loads(json.dumps(Substrate.serialize(*nodes)))  # type: ignore[no-any-return]


def node(node_id: str, kind: str, /, *, visible: bool = True, **args: Any) -> dict[str, Any]:
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


_ENGINE_DIR = str(Path(rxsubstrate.engine.__file__).parent)


def engine_lines(work: Callable[[], Any]) -> int:
    """How many lines of the engine's own code run while ``work()`` runs: a count of work that,
    unlike a timing, is the same on every machine."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(_ENGINE_DIR) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        work()
    finally:
        sys.settrace(previous)
    return count


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**52, max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=2.0**52, max_value=1e308)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
"""JSON values, numbers at the edge of what a float holds exactly included."""
