"""Futures resolve at run time: trace, string-concat, format, jinja and jq, as the SDK sends."""

from __future__ import annotations

from typing import Any

import pytest
from substrate import Box, ComputeJSON, ComputeText, sb

from rxsubstrate import ErrorData, Event, GraphResult, NodeError, NodeResult
from rxsubstrate.engine import Engine, GraphInvalid
from tests.wire import graph, node, ref, trace

from .graphs import run, serialize

LIST_SCHEMA = {
    "type": "object",
    "properties": {"names": {"type": "array", "items": {"type": "string"}, "minItems": 3}},
    "required": ["names"],
}


def results(events: list[Event]) -> dict[str, dict[str, Any]]:
    return {e.node_id: e.data for e in events if isinstance(e, NodeResult)}


def errors(events: list[Event]) -> dict[str, ErrorData]:
    return {e.node_id: e.data for e in events if isinstance(e, NodeError)}


async def test_trace_attr_and_item() -> None:
    story = ComputeJSON(prompt="names", json_schema=LIST_SCHEMA)
    second = Box(value=story.future.json_object["names"][1])
    last = Box(value=story.future.json_object["names"][-1])
    out = results(await run(Engine(), serialize(second, last)))
    names = out[story.id]["json_object"]["names"]
    assert out[second.id] == {"value": names[1]}
    assert out[last.id] == {"value": names[-1]}


async def test_trace_key_that_is_itself_a_future() -> None:
    story = ComputeJSON(prompt="names", json_schema=LIST_SCHEMA)
    index = Box(value=2)
    field = Box(value="names")
    picked = Box(value=story.future.json_object[field.future.value][index.future.value])
    out = results(await run(Engine(), serialize(picked)))
    assert out[picked.id] == {"value": out[story.id]["json_object"]["names"][2]}


async def test_trace_of_a_whole_output() -> None:
    dag = graph(
        node("a", "Box", value={"x": [1, 2]}),
        node("b", "Box", value=ref("whole")),
        futures=(trace("whole", "a"),),
    )
    assert results(await run(Engine(), dag))["b"] == {"value": {"value": {"x": [1, 2]}}}


async def test_string_concat_joins_literals_and_futures() -> None:
    text = ComputeText(prompt="hi", max_tokens=4)
    number = Box(value=7)
    joined = Box(value=sb.concat("said: ", text.future.text, " / ", number.future.value, None))
    out = results(await run(Engine(), serialize(joined)))
    assert out[joined.id] == {"value": f"said: {out[text.id]['text']} / 7"}


async def test_format_fills_variables_from_futures() -> None:
    text = ComputeText(prompt="hi", max_tokens=3)
    listing = Box(value={"items": ["x", "y"]})
    shown = Box(
        value=sb.format(
            "{t}! {l[items][1]} {n:>3}", t=text.future.text, l=listing.future.value, n=5
        )
    )
    out = results(await run(Engine(), serialize(shown)))
    assert out[shown.id] == {"value": f"{out[text.id]['text']}! y   5"}


async def test_format_string_that_is_a_future() -> None:
    template = Box(value="<{word}>")
    shown = Box(value=sb.format(template.future.value, word="hi"))
    assert results(await run(Engine(), serialize(shown)))[shown.id] == {"value": "<hi>"}


def test_format_refuses_attribute_access_before_running() -> None:
    shown = Box(value=sb.format("{x.__class__}", x=1))
    with pytest.raises(GraphInvalid, match="attribute access"):
        Engine().prepare(serialize(shown))


async def test_format_refuses_attribute_access_in_a_format_string_from_a_future() -> None:
    template = Box(value="{x.__class__}")
    shown = Box(value=sb.format(template.future.value, x=1))
    failure = errors(await run(Engine(), serialize(shown)))[shown.id]
    assert failure.type == "invalid_request_error"
    assert "attribute access" in failure.message


async def test_jinja_renders_with_futures() -> None:
    listing = Box(value=["a", "b", "c"])
    text = ComputeText(prompt="hi", max_tokens=2)
    shown = Box(
        value=sb.jinja(
            "{{ t }}:{% for x in xs %}[{{ x | upper }}]{% endfor %}",
            t=text.future.text,
            xs=listing.future.value,
        )
    )
    out = results(await run(Engine(), serialize(shown)))
    assert out[shown.id] == {"value": f"{out[text.id]['text']}:[A][B][C]"}


async def test_jinja_is_sandboxed() -> None:
    shown = Box(value=sb.jinja("{{ x.__class__.__mro__ }}", x=1))
    failure = errors(await run(Engine(), serialize(shown)))[shown.id]
    assert failure.type == "invalid_request_error"
    assert failure.message.startswith("future ")


async def test_jinja_refuses_huge_repetition() -> None:
    shown = Box(value=sb.jinja("{{ 'x' * n }}", n=10**9))
    failure = errors(await run(Engine(), serialize(shown)))[shown.id]
    assert "too long" in failure.message


async def test_jq_over_a_future_and_over_a_literal() -> None:
    story = ComputeJSON(prompt="names", json_schema=LIST_SCHEMA)
    count = Box(value=sb.jq(story.future.json_object, ".names | length"))
    firsts = Box(value=sb.jq(story.future.json_object, ".names[:2][]"))
    literal = Box(value=sb.jq({"a": {"b": 3}}, ".a.b"))
    nothing = Box(value=sb.jq([1], ".[] | select(. > 5)"))
    out = results(await run(Engine(), serialize(count, firsts, literal, nothing)))
    names = out[story.id]["json_object"]["names"]
    assert out[count.id] == {"value": len(names)}
    assert out[firsts.id] == {"value": names[:2]}
    assert out[literal.id] == {"value": 3}
    assert out[nothing.id] == {"value": None}


async def test_nested_directives() -> None:
    text = ComputeText(prompt="hi", max_tokens=2)
    inner = sb.format("({x})", x=text.future.text)
    outer = Box(value=sb.concat("<", sb.jinja("{{ y }}", y=inner), ">"))
    out = results(await run(Engine(), serialize(outer)))
    assert out[outer.id] == {"value": f"<({out[text.id]['text']})>"}


async def test_futures_inside_nested_arguments() -> None:
    a = Box(value=1)
    b = Box(value={"list": [a.future.value, {"deep": a.future.value}], "plain": "x"})
    assert results(await run(Engine(), serialize(b)))[b.id] == {
        "value": {"list": [1, {"deep": 1}], "plain": "x"}
    }


async def test_index_out_of_range_fails_the_consuming_node_only() -> None:
    story = ComputeJSON(prompt="names", json_schema=LIST_SCHEMA)
    missing = Box(value=story.future.json_object["names"][10])
    after = Box(value=missing.future.value)
    fine = Box(value=story.future.json_object["names"][0])
    events = await run(Engine(), serialize(after, fine))
    failed = errors(events)
    assert failed[missing.id].type == "invalid_request_error"
    assert "index 10 is out of range" in failed[missing.id].message
    assert f"for {story.id}.json_object['names'] (a list of 3 items)" in failed[missing.id].message
    assert failed[after.id].type == "dependency_error"
    assert fine.id in results(events)
    assert isinstance(events[-1], GraphResult)


async def test_missing_attribute_fails_with_the_keys_there_are() -> None:
    text = ComputeText(prompt="hi", max_tokens=2)
    wrong = Box(value=text.future.choices)
    failure = errors(await run(Engine(), serialize(wrong)))[wrong.id]
    assert failure.type == "invalid_request_error"
    assert f'{text.id} has no attribute "choices" (an object with keys: text)' in failure.message


async def test_resolved_argument_of_the_wrong_type() -> None:
    number = Box(value=3)
    text = ComputeText(prompt=number.future.value)
    failure = errors(await run(Engine(), serialize(text)))[text.id]
    assert failure == ErrorData(
        type="invalid_request_error",
        message="argument 'prompt' must be a string, got 3 (once its futures were resolved)",
    )


async def test_a_node_cannot_change_another_nodes_output_through_its_arguments() -> None:
    engine = Engine()

    @engine.node("Mutate")
    async def mutate(args: dict[str, Any], context: object) -> dict[str, Any]:
        args["target"]["x"].append(99)
        return {}

    source = {"x": [1]}
    dag = graph(
        node("a", "Box", value=source),
        node("m", "Mutate", target=ref("v")),
        node("b", "Box", value=ref("v2")),
        futures=(trace("v", "a", ("attr", "value")), trace("v2", "a", ("attr", "value"))),
        edges=(("m", "b"),),
    )
    out = results(await run(engine, dag))
    assert out["a"] == {"value": {"x": [1]}}
    assert out["b"] == {"value": {"x": [1]}}
