"""Futures: tracing into outputs, sb directives, and no silent use as client values."""

from __future__ import annotations

from typing import Any

import pytest

from rxsubstrate import (
    Box,
    ComputeText,
    FetchVectors,
    Future,
    MultiComputeText,
    Node,
    sb,
    serialize,
)
from rxsubstrate._wire import PLACEHOLDER


def futures_by_type(dag: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    grouped: dict[str, list[dict[str, object]]] = {}
    for future in dag["futures"]:  # type: ignore[attr-defined]
        grouped.setdefault(future["directive"]["type"], []).append(future)
    return grouped


def test_a_trace_records_attributes_and_items_and_only_the_end_is_sent() -> None:
    m = MultiComputeText(prompt="p", num_choices=2)
    text = m.future.choices[1].text
    dag = serialize(ComputeText(prompt=text))
    (future,) = dag["futures"]
    assert future["directive"] == {
        "op_stack": [
            {"future_id": None, "key": "choices", "accessor": "attr"},
            {"future_id": None, "key": 1, "accessor": "item"},
            {"future_id": None, "key": "text", "accessor": "attr"},
        ],
        "origin_node_id": m.id,
        "type": "trace",
    }
    assert dag["nodes"][1]["args"]["prompt"] == {PLACEHOLDER: future["id"]}


def test_an_item_key_can_be_a_future() -> None:
    box = Box(value={"key": "b", "b": "chosen"})
    dag = serialize(Box(value=box.future.value[box.future.value["key"]]))
    (key, picked) = dag["futures"]
    assert picked["directive"]["op_stack"][1] == {
        "future_id": key["id"],
        "key": None,
        "accessor": "item",
    }


def test_an_output_field_named_id_can_be_traced() -> None:
    fetched = FetchVectors(collection_name="c", model="jina-v2", ids=["a"])
    dag = serialize(Box(value=fetched.future.vectors[0].id))
    assert dag["futures"][0]["directive"]["op_stack"][-1]["key"] == "id"


def test_a_future_used_twice_is_sent_once() -> None:
    a = ComputeText(prompt="p")
    text = a.future.text
    b = ComputeText(prompt=sb.concat(text, text))
    c = Box(value=[text, sb.format("{t}", t=text), b.future.text])
    dag = serialize(b, c)
    ids = [future["id"] for future in dag["futures"]]
    assert len(ids) == len(set(ids)) == 4  # text, concat, format, b's text
    assert len(futures_by_type(dag)["trace"]) == 2


def test_futures_inside_sb_operands_are_collected() -> None:
    a = ComputeText(prompt="p")
    text = a.future.text
    jinja = sb.jinja("{{ x.y }}", x={"y": text})
    jq = sb.jq({"list": [text]}, ".list[0]")
    dag = serialize(Box(value=[jinja, jq]))
    assert {f["directive"]["type"] for f in dag["futures"]} == {"trace", "jinja", "jq"}
    assert len(dag["futures"]) == 3  # one trace, shared by both


@pytest.mark.parametrize(
    "use", [list, lambda f: "x" in f, lambda f: [*f]], ids=["list", "in", "unpack"]
)
def test_using_a_future_as_a_client_value_is_a_type_error(use: object) -> None:
    future = ComputeText(prompt="p").future.text
    with pytest.raises(TypeError, match="resolved on the server"):
        use(future)  # type: ignore[operator]


def test_a_future_is_truthy_as_in_the_official_sdk() -> None:
    # The SDK's own examples choose a prompt with `... if prev else ...`, prev a future or None.
    a = ComputeText(prompt="p")
    for future in (a.future.text, sb.concat("x", a.future.text), sb.jq(a.future, ".text")):
        assert bool(future) is True
        picked = sb.concat("previous: ", future) if future else "first"
        assert isinstance(picked, Future)
    nothing = None
    assert (sb.concat("previous: ", nothing) if nothing else "first") == "first"


@pytest.mark.parametrize(
    "as_text",
    [
        str,
        lambda f: f"story: {f}",
        lambda f: f"{f:>10}",
        lambda f: f"{f!s}",
        lambda f: "story: {}".format(f),  # noqa: UP032 - the str.format path is the point
        lambda f: "story: %s" % f,  # noqa: UP031 - the % path is the point
        lambda f: "story: " + f,
        lambda f: f + " (end)",
        print,
    ],
    ids=["str", "f-string", "format-spec", "!s", "str.format", "percent", "radd", "add", "print"],
)
def test_a_future_formatted_into_a_string_says_to_use_sb(as_text: Any) -> None:
    future = ComputeText(prompt="p").future.text
    with pytest.raises(TypeError, match=r"sb\.concat\(.*sb\.format\(") as info:
        as_text(future)
    assert "not a string" in str(info.value)


def test_a_future_still_has_a_repr_for_debugging() -> None:
    future = sb.concat("a", ComputeText(prompt="p").future.text)
    assert isinstance(future, Future)
    assert repr(future) == f"Future({future._id})"
    assert f"{future!r}" == repr(future)
    assert "%r" % (future,) == repr(future)  # noqa: UP031


def test_private_names_are_not_traced() -> None:
    future = ComputeText(prompt="p").future
    with pytest.raises(AttributeError):
        future._repr_html_  # noqa: B018
    with pytest.raises(TypeError, match="item key"):
        future[1.5]  # type: ignore[index]


def test_concat_of_zero_or_one_part_is_not_a_future() -> None:
    a = ComputeText(prompt="p")
    assert sb.concat() == ""
    assert sb.concat("x") == "x"
    assert sb.concat(None) == ""
    text = a.future.text
    assert sb.concat(text) is text


def test_bad_operands_fail_where_they_are_made() -> None:
    with pytest.raises(TypeError, match=r"sb\.concat"):
        sb.concat("a", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sb\.format"):
        sb.format("{x}", x=object())
    with pytest.raises(TypeError, match="query"):
        sb.jq({}, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="namespace"):
        sb()


def test_a_node_where_its_future_was_meant_is_a_type_error() -> None:
    a = ComputeText(prompt="p")
    with pytest.raises(TypeError, match=r"\.future"):
        ComputeText(prompt=a)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "where"),
    [({"a": {1: "x"}}, r"Box\['value'\]\['a'\]"), ({"s": {1, 2}}, "set"), ([object()], "object")],
)
def test_args_must_be_json_data(value: object, where: str) -> None:
    with pytest.raises(TypeError, match=where):
        Node("Box", value=value)
