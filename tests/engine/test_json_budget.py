"""The built-in JSON and batch nodes on a budget: a schema no finite value satisfies is a 400,
shared definitions are flattened once, output and work are bounded while they are built, and
the loop gets a turn every few hundred steps."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import rxsubstrate.engine
from rxsubstrate import ErrorData, Event, GraphResult, NodeDelta, NodeError, NodeResult
from rxsubstrate.engine import Engine, EngineLimits, GraphInvalid, generate_text
from rxsubstrate.engine._budget import Budget, finish
from rxsubstrate.engine._jsongen import JsonGenerator
from rxsubstrate.engine._schema import SchemaChecker
from rxsubstrate.engine._text import seed_of
from tests.wire import graph, node, ref, trace

from .graphs import engine_lines, run

UNSATISFIABLE = "json_schema is recursive: no finite value satisfies it"


def allof_chain(levels: int) -> dict[str, Any]:
    """Each definition is allOf two references to the one before: 2**levels paths to d0."""
    defs: dict[str, Any] = {
        "d0": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
    }
    for level in range(1, levels + 1):
        previous = {"$ref": f"#/$defs/d{level - 1}"}
        defs[f"d{level}"] = {"allOf": [previous, dict(previous)]}
    return {"$ref": f"#/$defs/d{levels}", "$defs": defs}


def json_node(schema: Any, kind: str = "ComputeJSON", **args: Any) -> dict[str, Any]:
    return node("j", kind, prompt="p", json_schema=schema, **args)


def failure(events: list[Event]) -> ErrorData:
    (error,) = [e.data for e in events if isinstance(e, NodeError)]
    return error


def test_shared_definitions_are_flattened_once_not_once_per_path() -> None:
    # Before: flattening followed every path, twice the work per level (minutes at 25 levels).
    engine = Engine()
    small_graph, large_graph = graph(json_node(allof_chain(8))), graph(json_node(allof_chain(12)))
    small = engine_lines(lambda: asyncio.run(run(engine, small_graph)))
    large = engine_lines(lambda: asyncio.run(run(engine, large_graph)))
    assert large / small < 1.5, (small, large)  # per path, it would be 16 times


async def test_the_25_level_chain_from_the_issue_runs_on_a_small_budget() -> None:
    engine = Engine(limits=EngineLimits(json_steps=2_000))
    events = await run(engine, graph(json_node(allof_chain(25))))
    output = [e.data for e in events if isinstance(e, NodeResult)]
    assert list(output[0]["json_object"]) == ["x"]


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"$ref": "#"}]},
        {
            "$ref": "#/$defs/a",
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#"}]}},
        },
        {"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]},
        {"type": "array", "items": {"$ref": "#"}, "minItems": 1},
        {"oneOf": [{"$ref": "#"}, False]},
    ],
    ids=["anyOf itself", "ref loop", "required self", "non-empty array of self", "oneOf"],
)
async def test_a_schema_no_finite_value_satisfies(schema: dict[str, Any]) -> None:
    # Given literally, it is refused before the run; given through a future, the node fails
    # with invalid_request_error. Before: RecursionError as api_error, or "nests deeper".
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(graph(json_node(schema)))
    assert caught.value.message.startswith(f"j: {UNSATISFIABLE}")
    later = graph(
        node("s", "Box", value=schema),
        json_node(ref("f")),
        futures=(trace("f", "s", ("attr", "value")),),
    )
    error = failure(await run(Engine(), later))
    assert error.type == "invalid_request_error"
    assert error.message.startswith(UNSATISFIABLE)


@pytest.mark.parametrize(
    "schema",
    [
        {  # a linked list: next is required, but may be null
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
            },
            "required": ["value", "next"],
        },
        {  # a tree: children may be empty
            "type": "object",
            "properties": {"name": {"type": "string"}, "children": {"items": {"$ref": "#"}}},
            "required": ["name", "children"],
        },
        {  # optional recursion
            "type": "object",
            "properties": {"child": {"$ref": "#"}, "label": {"type": "string"}},
        },
        {  # recursion through a definition, with a way out in anyOf
            "$ref": "#/$defs/a",
            "$defs": {
                "a": {
                    "type": "object",
                    "properties": {"b": {"$ref": "#/$defs/b"}},
                    "required": ["b"],
                },
                "b": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "string"}]},
            },
        },
    ],
    ids=["list", "tree", "optional", "anyOf way out"],
)
async def test_a_recursive_schema_with_a_way_out_is_generated(schema: dict[str, Any]) -> None:
    events = await run(Engine(), graph(json_node(schema)))
    (output,) = [e.data for e in events if isinstance(e, NodeResult)]
    assert SchemaChecker(schema).problem(output["json_object"], schema) is None


async def test_output_over_the_budget_fails_before_a_delta_is_sent() -> None:
    # The issue's case: 99 x 100 strings of 10,000 characters, 8 choices (1.5 GB, 2.6e8 deltas).
    row = {"type": "array", "minItems": 100, "items": {"type": "string", "minLength": 10_000}}
    schema = {"type": "array", "minItems": 99, "items": row}
    events = await run(Engine(), graph(json_node(schema, "MultiComputeJSON", num_choices=8)))
    error = failure(events)
    assert error.type == "invalid_request_error"
    assert "over budget" in error.message
    assert error.message == (
        "json_schema is over budget: its output would pass 1,000,000 characters"
    )
    assert not [e for e in events if isinstance(e, NodeDelta)]


async def test_work_over_the_budget_fails_the_node() -> None:
    wide = {"type": "object", "properties": {f"p{i}": {"type": "boolean"} for i in range(50)}}
    schema = {"type": "array", "minItems": 100, "items": wide}
    error = failure(
        await run(Engine(limits=EngineLimits(json_steps=1_000)), graph(json_node(schema)))
    )
    assert error == ErrorData(
        "invalid_request_error", "json_schema is over budget: more than 1,000 work steps"
    )


async def turns_while(engine: Engine, dag: dict[str, Any]) -> tuple[int, list[Event]]:
    """How many turns another task gets on the loop while the graph runs."""
    turns = 0
    done = asyncio.Event()

    async def count() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    counter = asyncio.create_task(count())
    try:
        events = await asyncio.wait_for(run(engine, dag), 30)
    finally:
        done.set()
        await counter
    return turns, events


async def test_json_generation_gives_the_loop_turns() -> None:
    # A batch node answers whole, with no deltas: before, its values were built in one go and
    # nothing else ran meanwhile. Now the walk pauses every 256 steps.
    item = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(40)}}
    schema = {"type": "array", "minItems": 100, "items": item}
    dag = graph(node("b", "BatchComputeJSON", prompts=["a", "b", "c"], json_schema=schema))
    turns, events = await turns_while(Engine(), dag)
    assert isinstance(events[-1], GraphResult)
    assert len(events[-1].outputs["b"]["outputs"]) == 3
    assert turns >= 40, turns  # 3 x 100 x 41 values: 16 pauses a prompt


async def test_batch_text_gives_the_loop_a_turn_between_prompts() -> None:
    dag = graph(node("b", "BatchComputeText", prompts=[f"p{i}" for i in range(100)]))
    turns, events = await turns_while(Engine(), dag)
    assert len(next(e for e in events if isinstance(e, NodeResult)).data["outputs"]) == 100
    assert turns >= 100, turns


@pytest.mark.parametrize("kind", ["BatchComputeText", "BatchComputeJSON"])
async def test_batch_prompts_are_capped(kind: str) -> None:
    # The reference sets no maxItems on prompts; before, 2,000 froze the server for minutes.
    args: dict[str, Any] = {"json_schema": {"type": "object"}} if kind == "BatchComputeJSON" else {}
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(graph(node("b", kind, prompts=["p"] * 101, **args)))
    assert caught.value.message == "b: argument 'prompts' must have at most 100 items, got 101"
    small = Engine(limits=EngineLimits(max_batch_prompts=3))
    with pytest.raises(GraphInvalid, match="at most 3 items, got 4"):
        small.prepare(graph(node("b", kind, prompts=["p"] * 4, **args)))
    later = graph(
        node("s", "Box", value=["p"] * 4),
        node("b", kind, prompts=ref("f"), **args),
        futures=(trace("f", "s", ("attr", "value")),),
    )
    error = failure(await run(small, later))
    assert error == ErrorData(
        "invalid_request_error",
        "argument 'prompts' must have at most 3 items, got 4 (once its futures were resolved)",
    )


_number_bounds = st.fixed_dictionaries(
    {},
    optional={
        "minimum": st.integers(-(2**70), 2**70) | st.floats(-1e300, 1e300),
        "exclusiveMaximum": st.integers(-(2**70), 2**70) | st.floats(-1e300, 1e300),
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bounds=_number_bounds, kind=st.sampled_from(["integer", "number"]))
@example(bounds={"minimum": -5e-324, "exclusiveMaximum": 0}, kind="number")  # one subnormal wide
def test_numbers_far_from_zero_are_generated_within_their_bounds(
    bounds: dict[str, Any], kind: str
) -> None:
    schema = {"type": kind, **bounds}
    generator = JsonGenerator(schema, generate_text, Budget("json_schema", steps=100, size=100))
    try:
        value = finish(generator.value("p", seed_of(str(bounds))))
    except rxsubstrate.engine.InvalidNodeArgs as exc:
        refusal = exc.message
    else:
        assert SchemaChecker(schema).problem(value, schema) is None
        return
    assert refusal == "json_schema at '$': no number satisfies its bounds"
    low, high = bounds.get("minimum"), bounds.get("exclusiveMaximum")
    assert low is not None
    assert high is not None
    assert low >= high or (kind == "integer" and math.ceil(low) >= high)
