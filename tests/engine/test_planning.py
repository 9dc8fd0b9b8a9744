"""Planning is linear in the graph's size, and a graph larger than the engine's limits is refused.

Work is counted, not timed: the Python lines the engine executes while it prepares a graph (a
tracer sees every line of ``rxsubstrate/engine``). Doubling a graph must about double them.
"""

from __future__ import annotations

from typing import Any

import pytest

from rxsubstrate import GraphResult, NodeError
from rxsubstrate.engine import Engine, EngineLimits, GraphInvalid
from tests.wire import PLACEHOLDER, graph, node, ref, trace

from .graphs import engine_lines, run


def concat(future_id: str, *reads: str) -> dict[str, Any]:
    items = [{"future_id": read, "val": None} for read in reads]
    return {"id": future_id, "directive": {"type": "string-concat", "items": items}}


def fan_in(nodes: int, futures: int) -> dict[str, Any]:
    """``nodes`` nodes that all read one future, the root of a binary tree of ``futures``
    concat futures whose leaves trace a first node: shallow, but every node stands on all of
    it. An engine that looks through the futures for each node does nodes x futures work."""
    tree = [
        concat(f"f{i}", *[f"f{c}" for c in (2 * i, 2 * i + 1) if c <= futures])
        if 2 * i <= futures
        else trace(f"f{i}", "source", ("attr", "value"))
        for i in range(1, futures + 1)
    ]
    readers = [node(f"n{i}", "Box", visible=False, value=ref("f1")) for i in range(nodes)]
    return graph(node("source", "Box", value="x"), *readers, futures=tuple(tree))


def test_planning_work_grows_linearly_with_nodes_and_futures() -> None:
    engine = Engine()
    engine.prepare(fan_in(4, 8))  # first use: the reference is loaded, outside the count
    small_graph, large_graph = fan_in(40, 400), fan_in(80, 800)
    small = engine_lines(lambda: engine.prepare(small_graph))
    large = engine_lines(lambda: engine.prepare(large_graph))
    # Linear work doubles; work per node through every future (the old way) quadruples.
    assert large / small < 2.5, (small, large)


async def test_a_wide_graph_still_runs_each_node_after_what_it_reads() -> None:
    events = await run(Engine(), fan_in(20, 63))
    final = events[-1]
    assert isinstance(final, GraphResult)
    assert not [e for e in events if isinstance(e, NodeError)]
    assert final.outputs["source"] == {"value": "x"}


@pytest.mark.parametrize(
    ("what", "limits", "dag"),
    [
        (
            "nodes",
            EngineLimits(max_nodes=2),
            graph(*[node(f"n{i}", "Box", value=i) for i in range(3)]),
        ),
        (
            "futures",
            EngineLimits(max_futures=1),
            graph(
                node("a", "Box", value=1),
                futures=(trace("f", "a"), trace("g", "a")),
            ),
        ),
        (
            "edges",
            EngineLimits(max_edges=1),
            graph(
                node("a", "Box", value=1),
                node("b", "Box", value=1),
                node("c", "Box", value=1),
                edges=(("a", "b"), ("b", "c")),
            ),
        ),
    ],
)
def test_a_graph_over_a_count_limit_is_refused(what: str, limits: EngineLimits, dag: Any) -> None:
    with pytest.raises(GraphInvalid) as caught:
        Engine(limits=limits).prepare(dag)
    count = len(dag[what])
    most = getattr(limits, f"max_{what}")
    assert caught.value.message == (
        f"the graph has {count} {what}; this engine runs at most {most}"
    )


def test_the_default_node_limit_is_the_servers() -> None:
    nodes = [node(f"n{i}", "Box", visible=False, value=i) for i in range(1001)]
    with pytest.raises(GraphInvalid, match="the graph has 1,001 nodes; this engine runs at most"):
        Engine().prepare(graph(*nodes))
    Engine().prepare(graph(*nodes[:1000]))


def test_limits_must_be_positive_whole_numbers() -> None:
    with pytest.raises(ValueError, match=r"EngineLimits\.max_nodes must be a positive integer"):
        EngineLimits(max_nodes=0)
    with pytest.raises(ValueError, match=r"EngineLimits\.json_steps must be a positive integer"):
        EngineLimits(json_steps=1.5)  # type: ignore[arg-type]


def chain(depth: int) -> dict[str, Any]:
    """A node reading the last of ``depth`` futures, each a concat of the one before."""
    futures = [trace("f0", "a", ("attr", "value"))]
    futures += [concat(f"f{i}", f"f{i - 1}") for i in range(1, depth)]
    return graph(
        node("a", "Box", value="x"),
        node("b", "Box", value=ref(f"f{depth - 1}")),
        futures=tuple(futures),
    )


async def test_a_chain_of_futures_as_deep_as_the_limit_runs() -> None:
    final = (await run(Engine(), chain(100)))[-1]
    assert isinstance(final, GraphResult)
    assert final.outputs["b"] == {"value": "x"}


def test_a_chain_of_futures_deeper_than_the_limit_is_refused_before_it_runs() -> None:
    # Before, 300 nested futures passed validation and failed mid-run ("futures nest too deeply").
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(chain(300))
    assert caught.value.message.startswith("future f100 reads a chain of more than 100 futures")
    Engine(limits=EngineLimits(max_future_depth=300)).prepare(chain(300))


def test_a_cycle_is_found_among_many_vertices() -> None:
    dag = chain(50)
    dag["futures"][0] = concat("f0", "f49")  # the chain now feeds itself
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(dag)
    message = caught.value.message
    assert message.startswith("the graph has a cycle: future f")
    assert message.endswith("-> ... (51 steps)")


HUGE = "x" * 5_000_000


@pytest.mark.parametrize(
    "dag",
    [
        graph(node(HUGE, "Box", value=1), node(HUGE, "Box", value=2)),
        graph(node(HUGE, "NoSuchKind")),
        graph(node("a", "Box", value=ref(HUGE))),
        graph(node("a", "Box", value=1), futures=(trace("f", HUGE),)),
        graph(node("a", "Box", value=1), edges=(("a", HUGE),)),
        graph(node(HUGE, "Box", value=ref("f")), futures=(trace("f", HUGE),)),
        graph(node("a", "ComputeText", prompt=HUGE, temperature=HUGE)),
        graph(node("a", "ComputeText", prompt="x", model=HUGE)),
        {"nodes": [{"id": "a", "node": "Box", "args": {"value": {PLACEHOLDER: [HUGE]}}}]},
    ],
    ids=[
        "duplicate",
        "kind",
        "missing future",
        "missing node",
        "edge",
        "cycle",
        "value",
        "enum",
        "placeholder",
    ],
)
def test_messages_quote_client_input_cut_short(dag: dict[str, Any]) -> None:
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(dag)
    assert "xxxxxxxxxx" in caught.value.message
    assert len(caught.value.message) < 500, caught.value.message[:200]
