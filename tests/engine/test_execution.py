"""Running a plan: concurrency, failures and their dependents, visibility, plugins, cancellation."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from substrate import Box, ComputeText

from rxsubstrate import ErrorData, Event, GraphResult, NodeDelta, NodeError, NodeResult
from rxsubstrate.engine import Engine, EngineLimits, InvalidNodeArgs, NodeContext
from tests.wire import graph, node, ref, trace

from .graphs import run, serialize

WAIT = 5.0  # seconds a test waits for something that should happen at once


def by_kind(events: list[Event], kind: type[Any]) -> dict[str, Any]:
    return {e.node_id: e.data for e in events if isinstance(e, kind)}


async def test_graph_result_comes_last_and_holds_visible_nodes_only() -> None:
    shown = ComputeText(prompt="hi", max_tokens=3)
    hidden = ComputeText(prompt=shown.future.text, max_tokens=3, hide=True)
    events = await run(Engine(), serialize(hidden))
    results = by_kind(events, NodeResult)
    assert set(results) == {shown.id, hidden.id}
    final = events[-1]
    assert isinstance(final, GraphResult)
    assert [e for e in events if isinstance(e, GraphResult)] == [final]
    assert final.data == {"data": {shown.id: results[shown.id]}}


async def test_independent_nodes_run_at_the_same_time() -> None:
    engine = Engine()
    both_started = asyncio.Barrier(2)

    @engine.node("Meet")
    async def meet(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        # Returns only once the other node has started too: a sequential engine would time out.
        await asyncio.wait_for(both_started.wait(), WAIT)
        return {"met": context.node_id}

    events = await run(engine, graph(node("a", "Meet"), node("b", "Meet")))
    assert by_kind(events, NodeResult) == {"a": {"met": "a"}, "b": {"met": "b"}}


async def test_execute_batches_hands_over_the_same_events_in_lists() -> None:
    """The server's way of reading a run: the lists, joined, are ``execute``'s events, and
    ``graph.result`` comes alone, last."""
    story = ComputeText(prompt="hi", max_tokens=40)
    boxed = Box(value=story.future.text)  # a node that starts when another one ends
    dag = serialize(boxed)
    dag["nodes"] += [
        node(f"t{i}", "MultiComputeText", prompt=f"p{i}", num_choices=4) for i in range(6)
    ]
    engine = Engine()
    batches = [batch async for batch in engine.execute_batches(engine.prepare(dag))]
    assert await run(engine, dag) == [event for batch in batches for event in batch]
    assert all(batches)
    assert len(batches) < sum(len(batch) for batch in batches) / 8  # many events per list
    assert len(batches[-1]) == 1
    assert isinstance(batches[-1][0], GraphResult)


async def test_a_fast_stream_leaves_the_loop_to_others_at_least_every_queue_full() -> None:
    """A node whose deltas come without a wait (the built-in text, chunk_delay 0) still lets
    other tasks run: at least once per queue of deltas (64), not only at its end."""
    engine = Engine()
    deltas = 2_000

    @engine.node("Burst")
    async def burst(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        for i in range(deltas):
            yield {"text": f"{i} "}

    turns = 0
    done = False

    async def other_task() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    counting = asyncio.create_task(other_task())
    await asyncio.sleep(0)
    try:
        events = await run(engine, graph(node("a", "Burst")))
    finally:
        done = True
        await counting
    assert len([e for e in events if isinstance(e, NodeDelta)]) == deltas
    assert turns >= deltas // 64


async def test_streams_of_independent_nodes_interleave() -> None:
    engine = Engine()
    turns: dict[str, asyncio.Event] = {"a": asyncio.Event(), "b": asyncio.Event()}

    @engine.node("PingPong")
    async def ping_pong(
        args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[dict[str, Any]]:
        me, other = context.node_id, args["other"]
        for index in range(3):
            if me == "b" or index > 0:
                await asyncio.wait_for(turns[me].wait(), WAIT)
                turns[me].clear()
            yield {"text": f"{me}{index} "}
            turns[other].set()

    dag = graph(node("a", "PingPong", other="b"), node("b", "PingPong", other="a"))
    deltas = [e.data["text"] for e in await run(engine, dag) if isinstance(e, NodeDelta)]
    assert deltas == ["a0 ", "b0 ", "a1 ", "b1 ", "a2 ", "b2 "]


async def test_a_node_starts_only_after_its_dependencies() -> None:
    engine = Engine()
    finished: list[str] = []

    @engine.node("Step")
    async def step(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        finished.append(context.node_id)
        return {"done": list(finished)}

    dag = graph(
        node("c", "Step", after=ref("fb")),
        node("b", "Step", after=ref("fa")),
        node("a", "Step"),
        node("d", "Step"),
        futures=(trace("fa", "a"), trace("fb", "b")),
        edges=(("c", "d"),),
    )
    await run(engine, dag)
    assert finished.index("a") < finished.index("b") < finished.index("c") < finished.index("d")


async def test_failure_fails_dependents_transitively_and_spares_the_rest() -> None:
    engine = Engine()

    @engine.node("Explode")
    async def explode(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        raise RuntimeError("boom")

    dag = graph(
        node("bad", "Explode"),
        node("child", "Box", value=ref("f_bad")),
        node("grandchild", "Box", value=ref("f_child"), visible=False),
        node("after", "Box", value=1),
        node("other", "ComputeText", prompt="independent", max_tokens=4),
        futures=(trace("f_bad", "bad"), trace("f_child", "child")),
        edges=(("bad", "after"),),
    )
    events = await run(engine, dag)
    failed = by_kind(events, NodeError)
    assert failed == {
        "bad": ErrorData("api_error", "boom"),
        "child": ErrorData("dependency_error", "dependency 'bad' failed: boom"),
        "after": ErrorData("dependency_error", "dependency 'bad' failed: boom"),
        "grandchild": ErrorData(
            "dependency_error", "dependency 'child' did not run because 'bad' failed: boom"
        ),
    }
    assert set(by_kind(events, NodeResult)) == {"other"}
    final = events[-1]
    assert isinstance(final, GraphResult)
    assert final.outputs["bad"] == {"type": "api_error", "message": "boom"}
    assert final.outputs["child"]["type"] == "dependency_error"
    assert "grandchild" not in final.outputs
    assert final.outputs["other"] == by_kind(events, NodeResult)["other"]


async def test_dependency_errors_arrive_while_other_nodes_still_run() -> None:
    engine = Engine()
    release = asyncio.Event()

    @engine.node("Explode")
    async def explode(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        raise RuntimeError("boom")

    @engine.node("Gate")
    async def gate(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        await asyncio.wait_for(release.wait(), WAIT)
        return {"open": True}

    dag = graph(
        node("bad", "Explode"),
        node("child", "Box", value=ref("f_bad")),
        node("slow", "Gate"),
        futures=(trace("f_bad", "bad"),),
    )
    seen: list[str] = []
    async for event in engine.execute(engine.prepare(dag)):
        if isinstance(event, NodeError | NodeResult):
            seen.append(event.node_id)
            if event.node_id == "child":
                release.set()
    assert seen == ["bad", "child", "slow"]


async def test_invalid_node_args_is_an_invalid_request_error() -> None:
    engine = Engine()

    @engine.node("Picky")
    async def picky(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        raise InvalidNodeArgs("'size' must be even")

    failed = by_kind(await run(engine, graph(node("p", "Picky", size=3))), NodeError)
    assert failed == {"p": ErrorData("invalid_request_error", "'size' must be even")}


async def test_registered_streaming_implementation() -> None:
    engine = Engine()
    contexts: list[NodeContext] = []

    @engine.node("Spell")
    async def spell(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        contexts.append(context)
        for index, letter in enumerate(args["word"]):
            yield {
                "letters": {"object": "array.item", "index": index, "item": letter},
                "word": letter,
            }
        yield {"length": len(args["word"])}

    source = Box(value="sky")
    dag = serialize(source)
    dag["nodes"].append(node("s", "Spell", word=ref("w")))
    dag["futures"].append(trace("w", source.id, ("attr", "value")))
    events = await run(engine, dag)
    deltas = [e.data for e in events if isinstance(e, NodeDelta) and e.node_id == "s"]
    assert deltas[0] == {"letters": {"object": "array.item", "index": 0, "item": "s"}, "word": "s"}
    assert len(deltas) == 4
    assert by_kind(events, NodeResult)["s"] == {
        "letters": ["s", "k", "y"],
        "word": "sky",
        "length": 3,
    }
    assert contexts == [NodeContext(node_id="s", kind="Spell")]


async def test_registered_function_implementation_replacing_a_builtin() -> None:
    engine = Engine()

    async def echo(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        return {"text": args["prompt"].upper()}

    engine.register("ComputeText", echo)
    text = ComputeText(prompt="hello")
    events = await run(engine, serialize(text))
    assert [e for e in events if isinstance(e, NodeDelta)] == []
    assert by_kind(events, NodeResult) == {text.id: {"text": "HELLO"}}


async def test_implementations_receive_defaults_for_unset_arguments() -> None:
    engine = Engine()
    seen: list[dict[str, Any]] = []

    @engine.node("ComputeText")
    async def record(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        seen.append(args)
        return {"text": ""}

    await run(engine, serialize(ComputeText(prompt="hi")))
    assert seen == [
        {
            "prompt": "hi",
            "image_uris": None,
            "temperature": 0.4,
            "max_tokens": None,
            "model": "Llama3Instruct8B",
        }
    ]


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (["not", "a", "dict"], "gave list as its output, expected a dict"),
        ({"when": object()}, "gave its output that is not JSON"),
    ],
)
async def test_implementation_returning_a_bad_output(output: Any, message: str) -> None:
    engine = Engine()

    @engine.node("Bad")
    async def bad(args: dict[str, Any], context: NodeContext) -> Any:
        return output

    failure = by_kind(await run(engine, graph(node("b", "Bad"))), NodeError)["b"]
    assert failure.type == "api_error"
    assert message in failure.message


async def test_implementation_that_is_not_async() -> None:
    engine = Engine()
    engine.register("Sync", lambda args, context: {"x": 1})  # type: ignore[arg-type]
    failure = by_kind(await run(engine, graph(node("s", "Sync"))), NodeError)["s"]
    assert failure.type == "api_error"
    assert "async generator function (streaming) or an async function" in failure.message


async def test_a_plan_keeps_the_implementations_it_was_prepared_with() -> None:
    engine = Engine()
    plan = engine.prepare(graph(node("b", "Box", value=1)))

    async def other(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        return {"value": "replaced"}

    engine.register("Box", other)
    first = [e async for e in engine.execute(plan)]
    second = [e async for e in engine.execute(plan)]
    assert by_kind(first, NodeResult) == by_kind(second, NodeResult) == {"b": {"value": 1}}


def _engine_with_hanging_node() -> tuple[Engine, asyncio.Event, list[str]]:
    engine = Engine()
    started = asyncio.Event()
    log: list[str] = []

    @engine.node("Hang")
    async def hang(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {"text": "first"}
            started.set()
            await asyncio.Event().wait()
            yield {"text": "never"}
        finally:
            log.append(f"closed {context.node_id}")

    return engine, started, log


def _node_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("rxsubstrate node")]


async def test_aclose_cancels_running_nodes() -> None:
    engine, started, log = _engine_with_hanging_node()
    dag = graph(node("h1", "Hang"), node("h2", "Hang"), node("box", "Box", value=1))
    events = engine.execute(engine.prepare(dag))
    first = await anext(events)
    assert isinstance(first, NodeDelta | NodeResult)
    await asyncio.wait_for(started.wait(), WAIT)
    assert len(_node_tasks()) >= 1
    await events.aclose()
    assert _node_tasks() == []
    assert sorted(log) == ["closed h1", "closed h2"]


async def test_cancelling_the_consumer_cancels_running_nodes() -> None:
    engine, started, log = _engine_with_hanging_node()
    received: list[Event] = []

    async def consume() -> None:
        async for event in engine.execute(engine.prepare(graph(node("h", "Hang")))):
            received.append(event)

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), WAIT)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert _node_tasks() == []
    assert log == ["closed h"]
    assert [e.data for e in received if isinstance(e, NodeDelta)] == [{"text": "first"}]


async def test_the_custom_node_example_runs() -> None:
    spec = importlib.util.spec_from_file_location(
        "custom_node_example", Path(__file__).parents[2] / "examples" / "custom_node.py"
    )
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    engine = Engine()  # the example's own engine paces its stream; this one does not wait
    engine.register("Shout", example.shout)
    engine.register("GenerateImage", example.fake_image)
    final = (await run(engine, example.DAG))[-1]
    assert isinstance(final, GraphResult)
    loud = final.outputs["loud"]
    assert loud["text"] == loud["text"].upper()
    assert loud["words"] == len(loud["text"].split())
    assert final.outputs["picture"]["image_uri"].startswith("data:text/plain,picture: A painting")


async def test_a_node_with_one_failed_and_one_later_dependency_fails_once() -> None:
    engine = Engine()
    release = asyncio.Event()

    @engine.node("Explode")
    async def explode(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        raise RuntimeError("boom")

    @engine.node("Gate")
    async def gate(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        await asyncio.wait_for(release.wait(), WAIT)
        return {"open": True}

    dag = graph(
        node("bad", "Explode"),
        node("slow", "Gate"),
        node("both", "Box", value=[ref("f_bad"), ref("f_slow")]),
        futures=(trace("f_bad", "bad"), trace("f_slow", "slow")),
    )
    events = []
    async for event in engine.execute(engine.prepare(dag)):
        events.append(event)
        if isinstance(event, NodeError) and event.node_id == "both":
            release.set()  # the other dependency finishes after its dependent already failed
    assert [(type(e).__name__, getattr(e, "node_id", None)) for e in events] == [
        ("NodeError", "bad"),
        ("NodeError", "both"),
        ("NodeResult", "slow"),
        ("GraphResult", None),
    ]


async def test_a_run_keeps_at_most_max_running_nodes_and_starts_more_as_they_finish() -> None:
    # Before, every ready node started at once (30 clients x 1000 nodes: 30,000 tasks).
    engine = Engine(limits=EngineLimits(max_running_nodes=3))
    batch = asyncio.Barrier(3)  # three at once must run together, or this times out
    running: list[str] = []
    peak = 0

    @engine.node("Hold")
    async def hold(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        nonlocal peak
        running.append(context.node_id)
        peak = max(peak, len(running))
        await asyncio.wait_for(batch.wait(), WAIT)
        running.remove(context.node_id)
        return {"held": True}

    dag = graph(*[node(f"h{i}", "Hold") for i in range(9)])
    events = await run(engine, dag)
    assert set(by_kind(events, NodeResult)) == {f"h{i}" for i in range(9)}
    assert peak == 3


async def test_the_default_bound_on_running_nodes() -> None:
    engine = Engine()
    running = 0
    peak = 0
    release = asyncio.Event()

    @engine.node("Hold")
    async def hold(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if peak == engine.limits.max_running_nodes:
            release.set()
        await asyncio.wait_for(release.wait(), WAIT)
        running -= 1
        return {}

    await run(engine, graph(*[node(f"h{i}", "Hold") for i in range(100)]))
    assert peak == engine.limits.max_running_nodes == 32


async def test_ready_nodes_start_in_graph_order_as_room_frees() -> None:
    engine = Engine(limits=EngineLimits(max_running_nodes=1))
    started: list[str] = []

    @engine.node("Note")
    async def note(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        started.append(context.node_id)
        return {}

    dag = graph(
        node("c", "Note", after=ref("fa")),
        node("a", "Note"),
        node("b", "Note"),
        futures=(trace("fa", "a"),),
    )
    await run(engine, dag)
    assert started == ["a", "b", "c"]
