"""Engine.prepare rejects each kind of bad graph with GraphInvalid, before anything runs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from substrate import Box, ComputeText, GenerateImage, sb

from rxsubstrate import ErrorData, NodeError, SubstrateError
from rxsubstrate.engine import Engine, GraphInvalid
from rxsubstrate.engine._openapi import input_schema, known_kinds, load_openapi
from rxsubstrate.engine._schema import resolve_ref
from tests.wire import graph, node, ref, trace

from .graphs import json_values, run, serialize


def rejected(dag: Any, engine: Engine | None = None) -> str:
    with pytest.raises(GraphInvalid) as caught:
        (engine or Engine()).prepare(dag)
    assert str(caught.value) == caught.value.message
    return caught.value.message


def test_graph_invalid_is_a_substrate_error_and_a_value_error() -> None:
    with pytest.raises(SubstrateError):
        Engine().prepare([])
    with pytest.raises(ValueError, match="JSON object"):
        Engine().prepare("nodes")


def test_not_an_object() -> None:
    assert rejected([]) == "the graph must be a JSON object, got list"


def test_missing_nodes() -> None:
    assert rejected({"edges": []}) == "the graph must have a 'nodes' list"


def test_malformed_node_names_the_json_path() -> None:
    message = rejected({"nodes": [{"id": "a", "args": {}}]})
    assert message.startswith("malformed graph:")
    assert "`node`" in message
    assert "$.nodes[0]" in message


def test_unknown_directive_type() -> None:
    dag = graph(futures=({"id": "f", "directive": {"type": "eval"}},))
    assert "$.futures[0].directive.type" in rejected(dag)


def test_duplicate_node_ids() -> None:
    dag = graph(node("a", "Box", value=1), node("a", "Box", value=2))
    assert rejected(dag) == "duplicate node id 'a'"


def test_duplicate_future_ids() -> None:
    dag = graph(node("a", "Box", value=1), futures=(trace("f", "a"), trace("f", "a")))
    assert rejected(dag) == "duplicate future id 'f'"


def test_cycle_through_futures_names_its_nodes() -> None:
    dag = graph(
        node("a", "Box", value=ref("fb")),
        node("b", "Box", value=ref("fa")),
        futures=(trace("fa", "a", ("attr", "value")), trace("fb", "b", ("attr", "value"))),
    )
    message = rejected(dag)
    assert message.startswith("the graph has a cycle: ")
    assert message.endswith(("a -> b -> a", "b -> a -> b"))


def test_cycle_through_explicit_edges() -> None:
    dag = graph(
        node("a", "Box", value=1),
        node("b", "Box", value=2),
        node("c", "Box", value=3),
        edges=(("a", "b"), ("b", "c"), ("c", "a")),
    )
    message = rejected(dag)
    assert message.startswith("the graph has a cycle: ")
    assert all(name in message for name in "abc")


def test_node_depending_on_itself() -> None:
    dag = graph(node("a", "Box", value=ref("fa")), futures=(trace("fa", "a"),))
    assert rejected(dag) == "the graph has a cycle: a -> future fa -> a"


def test_cycle_among_futures() -> None:
    concat = {"type": "string-concat", "items": [{"future_id": "g", "val": None}]}
    dag = graph(
        node("a", "Box", value=ref("f")),
        futures=(
            {"id": "f", "directive": concat},
            {"id": "g", "directive": {**concat, "items": [{"future_id": "f", "val": None}]}},
        ),
    )
    assert rejected(dag).startswith("the graph has a cycle: future ")


def test_trace_of_a_missing_node() -> None:
    dag = graph(node("a", "Box", value=ref("f")), futures=(trace("f", "ghost"),))
    assert rejected(dag) == "future f traces a missing node 'ghost'"


def test_argument_naming_a_missing_future() -> None:
    dag = graph(node("a", "Box", value=ref("nowhere")))
    assert rejected(dag) == "a: an argument refers to a missing future nowhere"


def test_future_naming_a_missing_future() -> None:
    concat = {"type": "string-concat", "items": [{"future_id": "nowhere", "val": None}]}
    dag = graph(node("a", "Box", value=ref("f")), futures=({"id": "f", "directive": concat},))
    assert rejected(dag) == "future f refers to a missing future nowhere"


def test_edge_to_a_missing_node() -> None:
    dag = graph(node("a", "Box", value=1), edges=(("a", "ghost"),))
    assert rejected(dag) == "edge #0 names a missing node 'ghost'"


def test_unknown_node_kind() -> None:
    message = rejected(graph(node("x", "ComputeTxt", prompt="hi")))
    assert message.startswith("x: unknown node kind 'ComputeTxt'")
    assert 'engine.register("ComputeTxt", impl)' in message


def test_argument_above_maximum() -> None:
    text = ComputeText(prompt="hi", temperature=3)
    assert rejected(serialize(text)) == f"{text.id}: argument 'temperature' must be <= 1, got 3"


def test_argument_below_minimum() -> None:
    dag = graph(node("m", "MultiComputeText", prompt="hi", num_choices=0))
    assert rejected(dag) == "m: argument 'num_choices' must be >= 1, got 0"


def test_missing_required_argument() -> None:
    assert rejected(graph(node("t", "ComputeText", temperature=0.5))) == (
        "t: argument 'prompt' is required"
    )


def test_required_argument_given_as_null() -> None:
    assert rejected(graph(node("t", "ComputeText", prompt=None))) == (
        "t: argument 'prompt' is required"
    )


def test_argument_of_the_wrong_type() -> None:
    assert rejected(graph(node("t", "ComputeText", prompt=3))) == (
        "t: argument 'prompt' must be a string, got 3"
    )


def test_argument_item_of_the_wrong_type() -> None:
    dag = graph(node("t", "ComputeText", prompt="hi", image_uris=["ok", 7]))
    assert rejected(dag) == "t: argument 'image_uris[1]' must be a string, got 7"


def test_argument_outside_its_enum() -> None:
    message = rejected(graph(node("t", "ComputeText", prompt="hi", model="gpt-2")))
    assert message.startswith("t: argument 'model' must be one of ")
    assert '"Llama3Instruct8B"' in message
    assert message.endswith('got "gpt-2"')


def test_unknown_arguments_are_ignored_with_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    # The reference's input schemas allow more properties, and the SDK sends more (its own
    # mixture-of-agents example passes cache_age= with the arguments); the node runs without.
    engine = Engine()
    with caplog.at_level(logging.DEBUG, logger="rxsubstrate.engine"):
        plan = engine.prepare(graph(node("t", "ComputeText", prompt="hi", temprature=0.1)))
    assert "temprature" not in plan.nodes["t"].args
    (record,) = [r for r in caplog.records if "temprature" in r.getMessage()]
    assert record.name == "rxsubstrate.engine"
    assert record.levelno == logging.DEBUG
    assert record.getMessage() == (
        "t: ignoring 1 argument(s) ComputeText does not take: 'temprature'"
    )


BIG = 2.0**53


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"temperature": BIG}, "argument 'temperature' must be <= 1, got 9007199254740992.0"),
        ({"temperature": -1e300}, "argument 'temperature' must be >= 0, got -1e300"),
        ({"max_tokens": 1e300}, None),
        ({"max_tokens": BIG}, None),
        ({"max_tokens": 10**30}, None),
        ({"max_tokens": 0}, "argument 'max_tokens' must be >= 1, got 0"),
        ({"max_tokens": -5}, "argument 'max_tokens' must be >= 1, got -5"),
        ({"max_tokens": 1.5}, "argument 'max_tokens' must be an integer, got 1.5"),
    ],
)
def test_numbers_at_the_edge_of_json(args: dict[str, Any], message: str | None) -> None:
    # Before, any float of 2**53 or more gave KeyError: 'exclusiveMinimum' (a 500).
    dag = graph(node("t", "ComputeText", prompt="hi", **args))
    if message is None:
        Engine().prepare(dag)
    else:
        assert rejected(dag) == f"t: {message}"


async def test_max_tokens_below_one_from_a_future_fails_the_node() -> None:
    dag = graph(
        node("zero", "Box", value=0),
        node("t", "ComputeText", prompt="hi", max_tokens=ref("f")),
        futures=(trace("f", "zero", ("attr", "value")),),
    )
    events = await run(Engine(), dag)
    (error,) = [e for e in events if isinstance(e, NodeError)]
    assert error.node_id == "t"
    assert error.data == ErrorData(
        "invalid_request_error",
        "argument 'max_tokens' must be >= 1, got 0 (once its futures were resolved)",
    )


@st.composite
def _node_args(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(known_kinds())))
    schema = input_schema(kind)
    assert schema is not None
    names = sorted(resolve_ref(load_openapi(), schema).get("properties", {}))
    keys = st.sampled_from(names) | st.text(max_size=4) if names else st.text(max_size=4)
    return kind, draw(st.dictionaries(keys, json_values, max_size=5))


@settings(max_examples=300, deadline=None)
@given(kind_and_args=_node_args())
def test_any_arguments_to_any_node_give_a_plan_or_graph_invalid(
    kind_and_args: tuple[str, dict[str, Any]],
) -> None:
    kind, args = kind_and_args
    try:
        Engine().prepare(graph(node("n", kind, **args)))
    except GraphInvalid as exc:
        message = exc.message
    else:
        return
    assert message.startswith("n: ")
    assert len(message) < 400


def test_sdk_nulls_for_unset_optional_arguments_are_accepted() -> None:
    dag = serialize(ComputeText(prompt="hi"))
    assert dag["nodes"][0]["args"]["max_tokens"] is None
    Engine().prepare(dag)


def test_futures_are_not_checked_until_they_resolve() -> None:
    box = Box(value=3)
    Engine().prepare(serialize(ComputeText(prompt=box.future.value, max_tokens=box.future.value)))
    Engine().prepare(serialize(ComputeText(prompt=sb.concat("a", box.future.value))))


def test_kind_without_local_implementation() -> None:
    image = GenerateImage(prompt="a windmill")
    assert rejected(serialize(image)) == (
        f"{image.id}: node kind 'GenerateImage' has no local implementation; register one with"
        ' engine.register("GenerateImage", impl)'
    )


def test_registering_an_implementation_makes_the_kind_runnable() -> None:
    engine = Engine()

    @engine.node("GenerateImage")
    async def image(args: dict[str, Any], context: object) -> dict[str, Any]:
        return {"image_uri": "data:,"}

    engine.prepare(serialize(GenerateImage(prompt="a windmill")))


def test_arguments_of_registered_reference_kinds_are_still_checked() -> None:
    engine = Engine()
    engine.register("GenerateImage", _returns_empty)
    assert rejected(graph(node("g", "GenerateImage", prompt=5)), engine) == (
        "g: argument 'prompt' must be a string, got 5"
    )


def test_own_kinds_accept_any_arguments() -> None:
    engine = Engine()
    engine.register("Mine", _returns_empty)
    engine.prepare(graph(node("m", "Mine", anything=[1, {"x": None}])))


def test_jq_query_that_does_not_compile() -> None:
    message = rejected(serialize(Box(value=sb.jq({"a": 1}, ".["))))
    assert message.startswith("future ")
    assert "the jq directive does not compile" in message


def test_jinja_template_that_does_not_compile() -> None:
    message = rejected(serialize(Box(value=sb.jinja("{{ x ", x=1))))
    assert "the jinja directive does not compile" in message


def test_format_string_that_does_not_compile() -> None:
    message = rejected(serialize(Box(value=sb.format("{x", x=1))))
    assert "the format directive does not compile: expected '}' before end of string" in message


def test_register_rejects_what_cannot_be_called() -> None:
    with pytest.raises(TypeError, match="async function"):
        Engine().register("Mine", "not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty string"):
        Engine().register("", _returns_empty)


def test_negative_chunk_delay() -> None:
    with pytest.raises(ValueError, match="chunk_delay"):
        Engine(chunk_delay=-1)


async def _returns_empty(args: dict[str, Any], context: object) -> dict[str, Any]:
    return {}
