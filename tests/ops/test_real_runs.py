"""Each operator on real runs of the embedded engine (a loopback server per test, closed by it).

Graphs are built with the node classes, as users build them; each test's assertions compare what
an operator gives with what the same run's ``node.result`` events say.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import reactivex
from reactivex import Observable
from reactivex import operators as rx

from rxsubstrate import (
    APIStatusError,
    Box,
    ComputeJSON,
    ComputeText,
    Event,
    GraphResult,
    MultiComputeText,
    Node,
    NodeError,
    NodeFailed,
    NodeResult,
    RunEvent,
    RunsFailed,
    SSEDecoder,
    Substrate,
    merge_runs,
    sb,
)
from rxsubstrate._events import decode_event
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
    typed,
)
from rxsubstrate.outputs import ComputeJSONOut, ComputeTextOut, MultiComputeTextOut

WAIT = 20.0

STORY = ComputeText(prompt="tell me about windmills", max_tokens=30)
CHECK = ComputeText(prompt=sb.concat("is this true? ", STORY.future.text), max_tokens=8)
TITLES = MultiComputeText(
    prompt=sb.concat("three titles for: ", STORY.future.text), num_choices=3, max_tokens=10
)
PERSON = ComputeJSON(
    prompt="a name and some tags",
    json_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    },
)
BOX = Box(value={"n": 1, "tags": ["x", "y"], "person": PERSON.future.json_object})
GRAPH: tuple[Node[Any], ...] = (STORY, CHECK, TITLES, PERSON, BOX)
IDS = {node.id for node in GRAPH}

OK = ComputeText(prompt="hi")
BAD = Node("Explode")  # a custom kind: the fixture's engine makes it fail


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


def one_run(client: Substrate, *readers: Any) -> tuple[Any, ...]:
    """What each reader (an operator chain ending in one value) makes of one and the same run.

    ``publish`` subscribes every reader before the run starts, so they all see every event.
    """
    shared = client.stream(*GRAPH).pipe(
        rx.publish(lambda run: reactivex.zip(*(run.pipe(reader) for reader in readers)))
    )
    (values,) = collect(shared)
    assert isinstance(values, tuple)
    return values


def node_results() -> Any:
    """Reader: the run's ``node.result`` data, by node id."""
    return rx.compose(results(), rx.to_dict(lambda r: r.node_id, lambda r: r.data))


def outputs(client: Substrate) -> dict[str, Any]:
    (final,) = collect(client.stream(*GRAPH).pipe(graph_result()))
    assert isinstance(final, dict)
    return final


def test_typed_gives_each_node_its_output_struct(client: Substrate) -> None:
    story, titles, person, box, by_node = one_run(
        client,
        typed(STORY),
        rx.compose(for_node(TITLES), typed(TITLES)),
        typed(PERSON),
        typed(BOX),
        node_results(),
    )
    assert isinstance(story, ComputeTextOut)
    assert story.text == by_node[STORY.id]["text"] != ""
    assert isinstance(titles, MultiComputeTextOut)
    assert len(titles.choices) == 3
    assert [c.text for c in titles.choices] == [c["text"] for c in by_node[TITLES.id]["choices"]]
    assert titles.choices[1].text != titles.choices[0].text
    assert isinstance(person, ComputeJSONOut)
    assert person.json_object == by_node[PERSON.id]["json_object"]
    assert box.value == {"n": 1, "tags": ["x", "y"], "person": person.json_object}


def test_typed_fails_with_the_node_that_failed(client: Substrate) -> None:
    with pytest.raises(NodeFailed) as failed:
        collect(client.stream(OK, BAD).pipe(typed(BAD)))
    assert failed.value.node_id == BAD.id
    (ok,) = collect(client.stream(OK, BAD).pipe(typed(OK)))
    assert isinstance(ok, ComputeTextOut)


def test_text_adds_up_to_the_result_text(client: Substrate) -> None:
    chunks, checked, boxed, by_node = one_run(
        client,
        rx.compose(for_node(STORY), text(), rx.to_list()),
        rx.compose(text(CHECK), rx.to_list()),
        rx.compose(text(BOX), rx.to_list()),
        node_results(),
    )
    assert len(chunks) > 3
    assert "".join(chunks) == by_node[STORY.id]["text"]
    assert "".join(checked) == by_node[CHECK.id]["text"]
    assert boxed == []


def test_text_reads_exactly_the_chosen_choice(client: Substrate) -> None:
    first, second, third, beyond, titles = one_run(
        client,
        rx.compose(text(TITLES), rx.to_list()),
        rx.compose(text(TITLES, choice=1), rx.to_list()),
        rx.compose(for_node(TITLES), text(choice=2), rx.to_list()),
        rx.compose(text(TITLES, choice=3), rx.to_list()),
        typed(TITLES),
    )
    assert len(second) > 1  # streamed from choice 1's deltas, not read off the result at the end
    assert "".join(first) == titles.choices[0].text
    assert "".join(second) == titles.choices[1].text
    assert "".join(third) == titles.choices[2].text
    assert len({"".join(first), "".join(second), "".join(third)}) == 3
    assert beyond == []


def test_assemble_matches_every_node_result(client: Substrate) -> None:
    assembled, by_node, streamed, final = one_run(
        client,
        rx.compose(assemble(), rx.to_list()),
        node_results(),
        rx.compose(deltas(), rx.map(lambda d: d.node_id), rx.distinct(), rx.to_list()),
        graph_result(),
    )
    assert {STORY.id, CHECK.id, TITLES.id, PERSON.id} <= set(streamed)  # deltas were assembled
    assert set(by_node) == IDS
    assert {o.node_id: o.data for o in assembled} == by_node == final
    assert [o.node_id for o in assembled if o.mismatch or not o.from_result] == []
    assert len(assembled) == len(IDS)


def test_snapshots_grow_to_each_result(client: Substrate) -> None:
    snaps, by_node = one_run(client, rx.compose(snapshots(), rx.to_list()), node_results())
    last = {s.node_id: s for s in snaps}
    assert all(s.final for s in last.values())
    assert {k: s.to_builtins() for k, s in last.items()} == by_node
    texts = [s.output["text"] for s in snaps if s.node_id == STORY.id]
    assert len(texts) > 3
    assert all(by_node[STORY.id]["text"].startswith(t) for t in texts)
    choices = [s.output["choices"] for s in snaps if s.node_id == TITLES.id]
    seconds = [c[1]["text"] for c in choices if len(c) > 1]
    assert len(seconds) > 3
    assert all(by_node[TITLES.id]["choices"][1]["text"].startswith(t) for t in seconds)


def test_results_deltas_errors_and_raise_on_error(client: Substrate) -> None:
    kinds = collect(client.stream(OK, BAD).pipe(results(), rx.map(lambda r: r.node_id)))
    assert kinds == [OK.id]
    assert all(d.node_id == OK.id for d in collect(client.stream(OK, BAD).pipe(deltas())))
    (error,) = collect(client.stream(OK, BAD).pipe(errors()))
    assert isinstance(error, NodeError)
    assert (error.node_id, error.data.type) == (BAD.id, "api_error")
    with pytest.raises(NodeFailed) as failed:
        collect(client.stream(OK, BAD).pipe(raise_on_error()))
    assert failed.value.node_id == BAD.id
    assert "blew up" in failed.value.message
    ok = collect(client.stream(OK, BAD).pipe(raise_on_error(OK), graph_result()))
    assert ok[0][OK.id]["text"]


def test_group_by_node_groups_every_node(client: Substrate) -> None:
    grouped = client.stream(*GRAPH).pipe(
        group_by_node(),
        rx.flat_map(lambda group: group.pipe(rx.to_list(), rx.map(lambda es: (group.key, es)))),
    )
    groups = dict(collect(grouped))
    assert set(groups) == IDS
    for node_id, events in groups.items():
        assert all(e.node_id == node_id for e in events)
        assert isinstance(events[-1], NodeResult)


def test_to_sse_reencodes_the_run(client: Substrate) -> None:
    chunks, by_node = one_run(client, rx.compose(to_sse(), rx.to_list()), node_results())
    assert all(c.startswith("data: {") and c.endswith("}\n\n") for c in chunks)
    events: list[Event] = [
        decode_event(raw) for raw in SSEDecoder().feed_data("".join(chunks).encode())
    ]
    assert len(events) == len(chunks)
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs == by_node


def test_three_runs_merged(client: Substrate) -> None:
    merged = collect(merge_runs({name: client.stream(*GRAPH) for name in ("x", "y", "z")}))
    finals = [m for m in merged if isinstance(m.event, GraphResult)]
    assert sorted(m.run for m in finals) == ["x", "y", "z"]
    assert all(isinstance(m, RunEvent) for m in merged)
    assert all(set(m.event.outputs) == IDS for m in finals)


def test_stream_many_one_at_a_time_runs_in_order(client: Substrate) -> None:
    merged = collect(client.stream_many({"one": GRAPH, "two": GRAPH, "three": GRAPH}, 1))
    labels = [m.run for m in merged]
    assert labels == sorted(labels, key=["one", "two", "three"].index)
    assert labels.count("two") == len(labels) // 3


def test_a_failed_run_is_reported_after_the_others_end(client: Substrate) -> None:
    # Node classes cannot build a malformed graph, so the bad run sends one by hand.
    runs = {"good": client.stream(*GRAPH), "bad": client.stream({"nodes": "not a list"})}
    seen: list[RunEvent[str]] = []
    with pytest.raises(RunsFailed) as failed:
        collect(merge_runs(runs).pipe(rx.do_action(seen.append)))
    assert set(failed.value.failures) == {"bad"}
    assert isinstance(failed.value.failures["bad"], APIStatusError)
    assert isinstance(seen[-1].event, GraphResult)
    assert {m.run for m in seen} == {"good"}
