"""Property: any output, cut into protocol deltas, reassembles exactly, and every snapshot on
the way is a prefix of the final output and stays what it was."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

import reactivex
from hypothesis import given, settings
from hypothesis import strategies as st

from rxsubstrate import NodeDelta, NodeResult
from rxsubstrate.ops import NodeOutput, Snapshot, assemble, snapshots
from tests.delta_reference import apply_delta

# "object" is the protocol's marker key; an output object holding it would be ambiguous.
keys = st.text(max_size=4).filter(lambda key: key != "object")
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=16,
)
outputs = st.dictionaries(keys, values, max_size=4)


def chunks_of(value: Any, data: st.DataObject) -> list[Any]:
    """Chunks whose merge, in order and starting from nothing, gives ``value``."""
    if isinstance(value, str):
        cuts = sorted(data.draw(st.lists(st.integers(0, len(value)), max_size=4)))
        bounds = [0, *cuts, len(value)]
        return [value[a:b] for a, b in itertools.pairwise(bounds)]
    if isinstance(value, list):
        if not value or data.draw(st.integers(0, 5)) == 0:
            return [value]  # a whole list replaces
        per_index = [
            [{"object": "array.item", "index": i, "item": c} for c in chunks_of(v, data)]
            for i, v in enumerate(value)
        ]
        return interleave(per_index, data)
    if isinstance(value, dict):
        per_key = [[(k, c) for c in chunks_of(v, data)] for k, v in value.items()]
        return pack(interleave(per_key, data), data) or [{}]
    return [value]


def interleave(queues: list[list[Any]], data: st.DataObject) -> list[Any]:
    """Merge the queues in a drawn order, keeping each queue's own order."""
    queues = [list(q) for q in queues if q]
    out = []
    while queues:
        i = data.draw(st.integers(0, len(queues) - 1))
        out.append(queues[i].pop(0))
        if not queues[i]:
            del queues[i]
    return out


def pack(pairs: list[tuple[str, Any]], data: st.DataObject) -> list[dict[str, Any]]:
    """Group (field, chunk) pairs into object chunks, one chunk per field in each."""
    out: list[dict[str, Any]] = []
    for key, chunk in pairs:
        if not out or key in out[-1] or data.draw(st.booleans()):
            out.append({})
        out[-1][key] = chunk
    return out


def collect(events: list[Any], operator: Any) -> list[Any]:
    items: list[Any] = []
    errors: list[Exception] = []
    reactivex.from_iterable(events).pipe(operator).subscribe(items.append, errors.append)
    assert not errors
    return items


def thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def is_prefix(partial: Any, final: Any) -> bool:
    """Strings only grow, arrays and objects only gain entries, None is a slot not yet filled."""
    if partial is None:
        return True
    if isinstance(partial, str):
        return isinstance(final, str) and final.startswith(partial)
    if isinstance(partial, list):
        return (
            isinstance(final, list)
            and len(partial) <= len(final)
            and all(is_prefix(p, f) for p, f in zip(partial, final, strict=False))
        )
    if isinstance(partial, dict):
        return isinstance(final, dict) and all(
            k in final and is_prefix(v, final[k]) for k, v in partial.items()
        )
    return bool(partial == final)


@settings(max_examples=200, deadline=None)
@given(output=outputs, data=st.data())
def test_deltas_reassemble_exactly_and_snapshots_grow(output: dict[str, Any], data: Any) -> None:
    deltas = [NodeDelta("n", chunk) for chunk in chunks_of(output, data)]

    # The reference: the plain rules of tests/delta_reference.py, state copied after every delta.
    reference: dict[str, Any] = {}
    expected = []
    for delta in deltas:
        apply_delta(reference, copy.deepcopy(delta.data))
        expected.append(copy.deepcopy(reference))
    assert reference == output

    assert collect(deltas, assemble()) == [NodeOutput("n", output, from_result=False)]
    with_result = [*deltas, NodeResult("n", output)]
    assert collect(with_result, assemble()) == [NodeOutput("n", output)]

    snaps: list[Snapshot] = collect(with_result, snapshots())
    assert [s.final for s in snaps] == [False] * len(deltas) + [True]
    # Materialised only now, after every delta: each still shows its own moment.
    for snap, then in zip(snaps, expected, strict=False):
        assert snap.to_builtins() == then
        assert thaw(snap.output) == then
        assert is_prefix(then, output)
    assert thaw(snaps[-1].output) == output
