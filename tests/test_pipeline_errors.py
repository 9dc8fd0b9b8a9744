"""A pipeline of a run that gives no value says why, from ``run()`` and ``await`` alike: the node
failed (``NodeFailed``), is not in the graph, is hidden, or its events were filtered out
(``NoValue``, still reactivex's ``SequenceContainsNoElementsError``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from reactivex import Observable
from reactivex import operators as rx
from reactivex.internal.exceptions import SequenceContainsNoElementsError

from rxsubstrate import (
    ComputeText,
    GraphResult,
    NodeFailed,
    NodeOutput,
    NoValue,
    Substrate,
    WouldDeadlock,
    ops,
    record,
    replay,
)
from rxsubstrate._wire import VISIBLE
from tests.replay_server import ReplayServer, Reply, sse

# a streams and finishes, b fails, h is hidden and (as the hosted service may) sends nothing.
DAG: dict[str, Any] = {
    "nodes": [
        {"id": "a", "node": "ComputeText", "args": {}, VISIBLE: True},
        {"id": "b", "node": "ComputeText", "args": {}, VISIBLE: True},
        {"id": "h", "node": "ComputeText", "args": {}},
    ],
    "edges": [],
    "initial_args": {},
    "futures": [],
    "id": "g",
}
EVENTS = [
    {"object": "node.delta", "node_id": "a", "data": {"text": "Hi"}},
    {"object": "node.result", "node_id": "a", "data": {"text": "Hi"}},
    {"object": "node.error", "node_id": "b", "data": {"type": "api_error", "message": "kaboom"}},
    {
        "object": "graph.result",
        "data": {"data": {"a": {"text": "Hi"}, "b": {"type": "api_error", "message": "kaboom"}}},
    },
]
Pipeline = Callable[[Any], Observable[Any]]


@pytest.fixture(scope="module")
def client() -> Iterator[Substrate]:
    with (
        ReplayServer(Reply([sse(*(msgspec.json.encode(e) for e in EVENTS))])) as server,
        Substrate(base_url=server.url) as substrate,
    ):
        yield substrate


def outcome(client: Substrate, pipe: Pipeline, how: str) -> Any:
    """What ``run()`` (or ``await``) of the pipeline gives or raises."""
    pipeline = pipe(client.stream(DAG))
    if how == "run":
        return pipeline.run()

    async def awaited() -> Any:
        return await pipeline

    return asyncio.run(awaited())


HOW = ["run", "await"]


@pytest.mark.parametrize("how", HOW)
def test_a_failed_node_raises_its_node_failed(client: Substrate, how: str) -> None:
    with pytest.raises(NodeFailed, match="node b failed with api_error: kaboom") as caught:
        outcome(client, lambda s: s.pipe(ops.for_node("b"), ops.assemble()), how)
    assert caught.value.node_id == "b"


@pytest.mark.parametrize("how", HOW)
def test_a_node_not_in_the_graph_is_named_with_the_graphs_nodes(
    client: Substrate, how: str
) -> None:
    other = ComputeText(prompt="elsewhere", id="other")
    with pytest.raises(
        NoValue, match=r"node other is not part of this graph \(its nodes: a, b, h\)"
    ):
        outcome(client, lambda s: s.pipe(ops.typed(other)), how)


@pytest.mark.parametrize("how", HOW)
def test_a_hidden_node_that_sent_nothing_says_so(client: Substrate, how: str) -> None:
    with pytest.raises(NoValue, match=r"node h is hidden \(hide=True\)") as caught:
        outcome(client, lambda s: s.pipe(ops.text("h")), how)
    assert caught.value.node_ids == ("h",)
    assert isinstance(caught.value, SequenceContainsNoElementsError)  # as before, for except


@pytest.mark.parametrize("how", HOW)
def test_events_filtered_out_by_the_pipeline_say_so(client: Substrate, how: str) -> None:
    def pipe(stream: Observable[Any]) -> Observable[Any]:
        # A reactivex operator, and then the fluent style: the explanation follows both.
        return stream.pipe(ops.for_node("a"), rx.filter(lambda _: False)).skip(1)

    with pytest.raises(NoValue, match="node a finished, but the pipeline's operators let nothing"):
        outcome(client, pipe, how)


def test_operators_that_select_no_common_node_say_so(client: Substrate) -> None:
    with pytest.raises(NoValue, match="select no node in common"):
        client.stream(DAG).pipe(ops.for_node("a"), ops.text("b")).run()


def test_with_no_node_selected_every_node_is_accounted_for(client: Substrate) -> None:
    # Not one NodeOutput: a is filtered out, b failed, h sent nothing.
    with pytest.raises(NoValue) as caught:
        client.stream(DAG).pipe(ops.assemble(), rx.filter(lambda o: o.node_id != "a")).run()
    message = str(caught.value)
    assert "node a finished" in message
    assert "node b failed with api_error: kaboom" in message
    assert "node h is hidden" in message


def test_pipes_chained_one_after_another_are_explained_too(client: Substrate) -> None:
    with pytest.raises(NodeFailed):
        client.stream(DAG).pipe(ops.for_node("b")).pipe(ops.assemble()).run()


@pytest.mark.parametrize("how", HOW)
def test_a_pipeline_with_a_value_gives_its_last_value(client: Substrate, how: str) -> None:
    output = outcome(client, lambda s: s.pipe(ops.for_node("a"), ops.assemble()), how)
    assert output == NodeOutput("a", {"text": "Hi"})
    assert isinstance(outcome(client, lambda s: s, how), GraphResult)


async def test_run_inside_a_running_loop_is_refused_not_a_deadlock(client: Substrate) -> None:
    # The run would be delivered on this very loop, which run() would block for ever.
    with pytest.raises(WouldDeadlock, match="await"):
        client.stream(DAG).pipe(ops.results()).run()
    with pytest.raises(WouldDeadlock):
        client.stream(DAG).run()
    last = await client.stream(DAG).pipe(ops.results())
    assert last.node_id == "a"


def test_the_wrapper_is_transparent_to_subscribers(client: Substrate) -> None:
    texts = client.stream(DAG).pipe(ops.text("a"), rx.to_list()).run()
    assert texts == ["Hi"]


def test_a_replay_says_what_it_cannot_know(client: Substrate, tmp_path: Any) -> None:
    # A recording keeps no dag: a node it has nothing of may be hidden or not in the graph.
    path = tmp_path / "run.sse"
    record(client.stream(DAG), path)
    with pytest.raises(NoValue, match=r"node h sent no result \(a recording does not say"):
        replay(path, speed=None).pipe(ops.text("h")).run()
    with pytest.raises(NodeFailed, match="kaboom"):
        replay(path, speed=None).pipe(ops.for_node("b"), ops.assemble()).run()
