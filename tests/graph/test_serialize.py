"""serialize(): what reaches the graph, in what order, with which options."""

from __future__ import annotations

from types import ModuleType

import pytest

from rxsubstrate import Box, ComputeText, Node, sb, serialize

from ._normalize import sdk_serialize


def ids(dag: dict[str, list[dict[str, str]]]) -> list[str]:
    return [node["id"] for node in dag["nodes"]]


def test_nodes_reached_through_futures_come_first() -> None:
    a = ComputeText(prompt="a")
    b = ComputeText(prompt=a.future.text)
    c = Box(value=sb.concat(a.future.text, b.future.text))
    assert ids(serialize(c)) == [a.id, b.id, c.id]


def test_depends_are_followed_all_the_way_unlike_the_sdk(sdk: ModuleType) -> None:
    a, b, c = (Node("Box", value=i, id=f"n{i}") for i in range(3))
    b = Node("Box", value=1, id="n1", depends=[a])
    c = Node("Box", value=2, id="n2", depends=[b])
    dag = serialize(c)
    assert ids(dag) == ["n0", "n1", "n2"]
    assert dag["edges"] == [["n0", "n1", {}], ["n1", "n2", {}]]
    # The official SDK adds c's direct dependency but not what that one depends on: its graph
    # would name an edge's node that it does not send. Ours is the whole graph.
    sa = sdk.Box(value=0)
    sb_ = sdk.Box(value=1, _depends=[sa])
    sc = sdk.Box(value=2, _depends=[sb_])
    theirs = sdk_serialize(sc)
    assert {n["id"] for n in theirs["nodes"]} == {sb_.id, sc.id}


def test_depends_and_the_sdk_spelling_are_the_same() -> None:
    a = Box(value=1)
    plain = serialize(Box(value=2, id="x", depends=[a], cache_age=5, max_retries=1))
    sdk_style = serialize(Box(value=2, id="x", _depends=[a], _cache_age=5, _max_retries=1))
    for dag in (plain, sdk_style):
        del dag["id"]
    assert plain == sdk_style
    assert plain["nodes"][1]["_cache_age"] == 5
    assert plain["nodes"][1]["_max_retries"] == 1


def test_both_spellings_at_once_is_a_type_error() -> None:
    a = Box(value=1)
    with pytest.raises(TypeError, match="depends"):
        Box(value=2, depends=[a], _depends=[a])


def test_options_and_output_flag_appear_only_when_set() -> None:
    hidden = Box(value=1, hide=True)
    shown = Box(value=1, cache_keys=["value"])
    (h,) = serialize(hidden)["nodes"]
    (s,) = serialize(shown)["nodes"]
    assert h == {"id": hidden.id, "node": "Box", "args": {"value": 1}}
    assert s == {
        "id": shown.id,
        "node": "Box",
        "args": {"value": 1},
        "_should_output_globally": True,
        "_cache_keys": ["value"],
    }


def test_defaults_are_sent_as_the_sdk_sends_them() -> None:
    (node,) = serialize(ComputeText(prompt="hi"))["nodes"]
    assert node["args"] == {
        "prompt": "hi",
        "image_uris": None,
        "temperature": 0.4,
        "max_tokens": None,
        "model": "Llama3Instruct8B",
    }


def test_a_node_given_twice_is_sent_once() -> None:
    a = Box(value=1)
    b = Box(value=a.future.value)
    assert ids(serialize(a, b, a)) == [a.id, b.id]


def test_two_nodes_with_one_id_are_refused() -> None:
    with pytest.raises(ValueError, match="share the id"):
        serialize(Box(value=1, id="same"), Box(value=2, id="same"))


def test_serialize_needs_nodes() -> None:
    with pytest.raises(ValueError, match="at least one"):
        serialize()
    with pytest.raises(TypeError, match="takes nodes"):
        serialize({"nodes": []})  # type: ignore[arg-type]


def test_a_cycle_made_by_changing_depends_is_refused() -> None:
    a = Box(value=1)
    b = Box(value=2, depends=[a])
    a.depends = (b,)
    with pytest.raises(ValueError, match="cycle"):
        serialize(b)


def test_a_long_chain_does_not_exhaust_the_stack() -> None:
    node = Box(value=0)
    for _ in range(5000):
        node = Box(value=node.future.value)
    dag = serialize(node)
    assert len(dag["nodes"]) == len(dag["futures"]) + 1 == 5001


def test_the_arguments_are_captured_and_read_only() -> None:
    node = Node("Box", value=[1])
    assert node.args == {"value": [1]}
    with pytest.raises(TypeError):
        node.args["value"] = 2  # type: ignore[index]
