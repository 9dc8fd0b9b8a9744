"""Each operator on real runs of the embedded engine (a loopback server per test, closed by it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from reactivex import Observable
from reactivex import operators as rx

from rxsubstrate import (
    APIStatusError,
    Event,
    GraphResult,
    NodeError,
    NodeFailed,
    NodeResult,
    Substrate,
)
from rxsubstrate._events import decode_event
from rxsubstrate._merge import RunEvent, RunsFailed, merge_runs
from rxsubstrate._sse import SSEDecoder
from rxsubstrate.engine import Engine, NodeContext
from rxsubstrate.ops import (
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
)

WAIT = 20.0


def node(node_id: str, kind: str, **args: Any) -> dict[str, Any]:
    return {"id": node_id, "node": kind, "args": args, "_should_output_globally": True}


DAG = {
    "nodes": [
        node("a", "ComputeText", prompt="tell me about windmills", max_tokens=30),
        node("m", "MultiComputeText", prompt="two titles", num_choices=2, max_tokens=10),
        node(
            "j",
            "ComputeJSON",
            prompt="a name",
            json_schema={"type": "object", "properties": {"name": {"type": "string"}}},
        ),
        node("box", "Box", value={"n": 1, "tags": ["x", "y"]}),
    ],
    "futures": [],
    "edges": [],
}
FAILING = {"nodes": [node("ok", "ComputeText", prompt="hi"), node("bad", "Explode")]}
FAILING |= {"futures": [], "edges": []}


@pytest.fixture
def client() -> Iterator[Substrate]:
    engine = Engine()

    @engine.node("Explode")
    async def explode(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        raise RuntimeError("it blew up")

    with Substrate(engine=engine) as client:
        yield client


def collect(observable: Observable[Any]) -> list[Any]:
    """Every item, waiting at most WAIT seconds; an error is raised here."""
    items: list[Any] = []
    failure: list[Exception] = []
    done = threading.Event()

    def on_error(exc: Exception) -> None:
        failure.append(exc)
        done.set()

    subscription = observable.subscribe(items.append, on_error, done.set)
    try:
        assert done.wait(WAIT), "the stream did not end in time"
    finally:
        subscription.dispose()
    if failure:
        raise failure[0]
    return items


def outputs(client: Substrate) -> dict[str, Any]:
    (final,) = collect(client.stream(DAG).pipe(graph_result()))
    assert isinstance(final, dict)
    return final


def test_text_adds_up_to_the_result_text(client: Substrate) -> None:
    final = outputs(client)
    chunks = collect(client.stream(DAG).pipe(for_node("a"), text()))
    assert len(chunks) > 3
    assert "".join(chunks) == final["a"]["text"]
    second = collect(client.stream(DAG).pipe(text("m", choice=1)))
    assert "".join(second) == final["m"]["choices"][1]["text"]
    boxed = collect(client.stream(DAG).pipe(text("box")))
    assert boxed == []


def test_assemble_matches_every_result(client: Substrate) -> None:
    final = outputs(client)
    assembled = collect(client.stream(DAG).pipe(assemble()))
    assert {o.node_id: o.data for o in assembled} == final
    assert all(o.from_result and not o.mismatch for o in assembled)


def test_snapshots_grow_to_each_result(client: Substrate) -> None:
    final = outputs(client)
    snaps = collect(client.stream(DAG).pipe(snapshots()))
    last = {s.node_id: s for s in snaps}
    assert all(s.final for s in last.values())
    assert {k: s.to_builtins() for k, s in last.items()} == final
    texts = [s.output["text"] for s in snaps if s.node_id == "a"]
    assert len(texts) > 3
    assert all(final["a"]["text"].startswith(t) for t in texts)


def test_results_deltas_errors_and_raise_on_error(client: Substrate) -> None:
    kinds = collect(client.stream(FAILING).pipe(results(), rx.map(lambda r: r.node_id)))
    assert kinds == ["ok"]
    assert all(d.node_id == "ok" for d in collect(client.stream(FAILING).pipe(deltas())))
    (error,) = collect(client.stream(FAILING).pipe(errors()))
    assert isinstance(error, NodeError)
    assert (error.node_id, error.data.type) == ("bad", "api_error")
    with pytest.raises(NodeFailed) as failed:
        collect(client.stream(FAILING).pipe(raise_on_error()))
    assert failed.value.node_id == "bad"
    assert "blew up" in failed.value.message
    ok = collect(client.stream(FAILING).pipe(raise_on_error("ok"), graph_result()))
    assert ok[0]["ok"]["text"]


def test_group_by_node_groups_every_node(client: Substrate) -> None:
    final = outputs(client)
    grouped = client.stream(DAG).pipe(
        group_by_node(),
        rx.flat_map(lambda group: group.pipe(rx.to_list(), rx.map(lambda es: (group.key, es)))),
    )
    groups = dict(collect(grouped))
    assert set(groups) == set(final)
    for node_id, events in groups.items():
        assert all(e.node_id == node_id for e in events)
        assert isinstance(events[-1], NodeResult)


def test_to_sse_reencodes_the_run(client: Substrate) -> None:
    chunks = collect(client.stream(DAG).pipe(to_sse()))
    assert all(c.startswith("data: {") and c.endswith("}\n\n") for c in chunks)
    events: list[Event] = [
        decode_event(raw) for raw in SSEDecoder().feed_data("".join(chunks).encode())
    ]
    assert len(events) == len(chunks)
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs == outputs(client)


def test_three_runs_merged(client: Substrate) -> None:
    merged = collect(merge_runs({name: client.stream(DAG) for name in ("x", "y", "z")}))
    finals = [m for m in merged if isinstance(m.event, GraphResult)]
    assert sorted(m.run for m in finals) == ["x", "y", "z"]
    assert all(isinstance(m, RunEvent) for m in merged)


def test_stream_many_one_at_a_time_runs_in_order(client: Substrate) -> None:
    graphs: Any = {"one": DAG, "two": DAG, "three": DAG}
    merged = collect(client.stream_many(graphs, max_concurrency=1))
    labels = [m.run for m in merged]
    assert labels == sorted(labels, key=["one", "two", "three"].index)
    assert labels.count("two") == len(labels) // 3


def test_a_failed_run_is_reported_after_the_others_end(client: Substrate) -> None:
    runs = {"good": client.stream(DAG), "bad": client.stream({"nodes": "not a list"})}
    seen: list[RunEvent[str]] = []
    with pytest.raises(RunsFailed) as failed:
        collect(merge_runs(runs).pipe(rx.do_action(seen.append)))
    assert set(failed.value.failures) == {"bad"}
    assert isinstance(failed.value.failures["bad"], APIStatusError)
    assert isinstance(seen[-1].event, GraphResult)
    assert {m.run for m in seen} == {"good"}
