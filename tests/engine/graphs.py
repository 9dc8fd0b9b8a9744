"""Engine test helpers: graphs through the official SDK's own serializer (plain wire dicts come
from ``tests.wire``), running the engine, and counting its work."""

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
from rxsubstrate.engine import Engine


def serialize(*nodes: Any) -> dict[str, Any]:
    """The graph exactly as the SDK sends it (through JSON, as a server would receive it)."""
    return json.loads(json.dumps(Substrate.serialize(*nodes)))  # type: ignore[no-any-return]


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
