"""Static checks of the operators' types: mypy runs this file in CI (pytest imports it too)."""

from __future__ import annotations

from typing import Any, assert_type

import msgspec
from reactivex import GroupedObservable, Observable

from rxsubstrate import (
    Box,
    ComputeJSON,
    ComputeText,
    Event,
    GraphResult,
    MultiComputeText,
    Node,
    NodeDelta,
    NodeError,
    NodeResult,
    RunEvent,
    merge_runs,
    sb,
)
from rxsubstrate._merge import stream_many
from rxsubstrate.ops import (
    NodeEvent,
    NodeLike,
    NodeOutput,
    Snapshot,
    TypedNode,
    assemble,
    deltas,
    errors,
    for_node,
    graph_result,
    group_by_node,
    raise_on_error,
    results,
    snapshots,
    text,
    to_sse,
    typed,
)
from rxsubstrate.outputs import BoxOut, ComputeJSONOut, ComputeTextOut, MultiComputeTextOut


class PoemOut(msgspec.Struct):
    text: str


class Poem:
    id = "poem"
    output_type = PoemOut


def check_ops(stream: Observable[Event], node: Poem) -> None:
    assert_type(stream.pipe(for_node(node), text()), Observable[str])
    assert_type(stream.pipe(text(node, choice=1)), Observable[str])
    assert_type(stream.pipe(for_node("poem")), Observable[NodeEvent])
    assert_type(stream.pipe(results()), Observable[NodeResult])
    assert_type(stream.pipe(deltas()), Observable[NodeDelta])
    assert_type(stream.pipe(errors()), Observable[NodeError])
    assert_type(stream.pipe(graph_result()), Observable[dict[str, Any]])
    assert_type(stream.pipe(raise_on_error(), assemble()), Observable[NodeOutput])
    assert_type(stream.pipe(raise_on_error()), Observable[Event])
    assert_type(stream.pipe(for_node(node), raise_on_error(node)), Observable[NodeEvent])
    assert_type(stream.pipe(snapshots()), Observable[Snapshot])
    assert_type(stream.pipe(to_sse()), Observable[str])
    assert_type(stream.pipe(text(node), to_sse(ids=True, retry=3000, end="end")), Observable[str])
    assert_type(stream.pipe(typed(node)), Observable[PoemOut])
    assert_type(stream.pipe(for_node(node), typed(node)), Observable[PoemOut])
    assert_type(stream.pipe(group_by_node()), Observable[GroupedObservable[str, NodeEvent]])
    only_results: Observable[NodeResult] = stream.pipe(results())
    assert_type(only_results.pipe(assemble()), Observable[NodeOutput])
    graph: Observable[GraphResult] = Observable()
    assert_type(graph.pipe(graph_result()), Observable[dict[str, Any]])


def check_node_classes(stream: Observable[Event]) -> None:
    a = ComputeText(prompt="p", max_tokens=5)
    b = ComputeText(prompt=sb.concat("is this true? ", a.future.text))
    m = MultiComputeText(prompt="p", num_choices=3)
    j = ComputeJSON(prompt="p", json_schema={"type": "object"})
    box = Box(value={"a": a.future.text})
    custom = Node("Explode")
    assert_type(a, ComputeText)
    generic: Node[ComputeTextOut] = b
    as_typed: TypedNode[ComputeTextOut] = a
    as_like: NodeLike = custom
    assert_type(a.output_type, type[ComputeTextOut])
    assert_type(custom, Node[Any])
    assert_type(stream.pipe(typed(a)), Observable[ComputeTextOut])
    assert_type(stream.pipe(typed(generic)), Observable[ComputeTextOut])
    assert_type(stream.pipe(typed(as_typed)), Observable[ComputeTextOut])
    assert_type(stream.pipe(for_node(m), typed(m)), Observable[MultiComputeTextOut])
    assert_type(stream.pipe(typed(j)), Observable[ComputeJSONOut])
    assert_type(stream.pipe(typed(box)), Observable[BoxOut])
    assert_type(stream.pipe(typed(custom)), Observable[Any])
    assert_type(stream.pipe(for_node(a, m, "id", as_like), text(m, choice=1)), Observable[str])
    assert_type(stream.pipe(raise_on_error(a, m)), Observable[Event])


def check_merge(a: Observable[Event], b: Observable[Event]) -> None:
    assert_type(merge_runs({"a": a, "b": b}), Observable[RunEvent[str]])
    assert_type(merge_runs({"a": a, "b": b}), Observable[RunEvent[str, Event]])
    # Piped streams: the event type says what the operators emit.
    assert_type(merge_runs({"a": a.pipe(text())}), Observable[RunEvent[str, str]])
    assert_type(
        merge_runs(a.pipe(assemble()), b.pipe(assemble())), Observable[RunEvent[int, NodeOutput]]
    )
    assert_type(stream_many({"x": a.pipe(snapshots())}), Observable[RunEvent[str, Snapshot]])
    assert_type(stream_many([a.pipe(text())], 2), Observable[RunEvent[int, str]])
    assert_type(RunEvent("a", "chunk").event, str)
    assert_type(merge_runs(a, b), Observable[RunEvent[int]])
    assert_type(merge_runs(a, b, fail_fast=True), Observable[RunEvent[int]])
    assert_type(stream_many([a, b], max_concurrency=2), Observable[RunEvent[int]])
    assert_type(stream_many({1.5: a}, 2), Observable[RunEvent[float]])
    assert_type(RunEvent("a", NodeResult("n", {})).run, str)


def test_typing_module_imports() -> None:
    assert callable(check_ops)
    assert callable(check_merge)
    assert callable(check_node_classes)
