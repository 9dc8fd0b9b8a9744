"""``visualize``: the graph as Mermaid text, read back here by a small parser of its own."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rxsubstrate import Box, ComputeText, If, MultiComputeText, Substrate, sb, visualize

_NODE = re.compile(r'^    (n\d+)\["([^"]*)"\]$')
_EDGE = re.compile(r"^    (n\d+) (-->|-\.->) (n\d+)$")


def read_mermaid(text: str) -> tuple[dict[str, list[str]], set[tuple[str, str, str]]]:
    """The boxes (label lines by node id) and arrows (source id, kind, target id) of ``text``.

    Every line must be the header, a box or an arrow: anything else fails the test.
    """
    lines = text.split("\n")
    assert lines[0] == "flowchart TD"
    boxes: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    arrows: set[tuple[str, str, str]] = set()
    for line in lines[1:]:
        if box := _NODE.match(line):
            label = [
                re.sub(r"#(\d+);", lambda m: chr(int(m[1])), part) for part in box[2].split("<br/>")
            ]
            names[box[1]] = label[1]
            boxes[label[1]] = label
        elif arrow := _EDGE.match(line):
            kind = "data" if arrow[2] == "-->" else "depends"
            arrows.add((names[arrow[1]], kind, names[arrow[3]]))
        else:
            pytest.fail(f"not a Mermaid line of ours: {line!r}")
    return boxes, arrows


def test_each_node_is_a_box_and_each_use_an_arrow() -> None:
    a = ComputeText(prompt="windmills")
    m = MultiComputeText(prompt=sb.concat("about ", a.future.text), num_choices=2, hide=True)
    first = ComputeText(prompt="first")
    box = Box(
        value={"both": sb.format("{x} {y}", x=a.future.text, y=sb.jq(m.future, ".choices[0]"))},
        depends=[first],
    )
    branch = If(condition=True, value_if_true=box.future.value["both"])
    boxes, arrows = read_mermaid(visualize(branch))
    assert boxes == {
        a.id: ["ComputeText", a.id],
        m.id: ["MultiComputeText", m.id, "(hidden)"],
        first.id: ["ComputeText", first.id],
        box.id: ["Box", box.id],
        branch.id: ["If", branch.id],
    }
    assert arrows == {
        (a.id, "data", m.id),
        (a.id, "data", box.id),  # through sb.format
        (m.id, "data", box.id),  # through sb.jq inside sb.format
        (first.id, "depends", box.id),
        (box.id, "data", branch.id),
    }


def test_a_future_used_as_an_item_key_draws_an_arrow_from_its_node() -> None:
    keys = Box(value={"key": "x"})
    values = Box(value={"x": 1})
    picked = Box(value=values.future.value[keys.future.value["key"]])
    _, arrows = read_mermaid(visualize(picked))
    assert arrows == {(keys.id, "data", picked.id), (values.id, "data", picked.id)}


@pytest.mark.parametrize(
    "hostile_id",
    ['a"]\n    n9 --> n0', "<b>bold</b>", "#35;", "semi;colon %% comment", "ünïcode"],
)
def test_an_id_cannot_break_out_of_its_label(hostile_id: str) -> None:
    a = ComputeText(prompt="p", id=hostile_id)
    b = ComputeText(prompt=a.future.text)
    boxes, arrows = read_mermaid(visualize(b))
    assert boxes[hostile_id] == ["ComputeText", hostile_id]
    assert arrows == {(hostile_id, "data", b.id)}


def test_the_client_offers_it_as_the_official_sdk_does() -> None:
    a = ComputeText(prompt="p")
    assert Substrate.visualize(a) == visualize(a)
    client = Substrate(base_url="http://127.0.0.1:9")  # made, never connected
    try:
        assert client.visualize(a) == visualize(a)
    finally:
        client.close()


def test_visualize_refuses_what_serialize_refuses() -> None:
    not_a_node: Any = "ComputeText"
    with pytest.raises(TypeError, match="takes nodes"):
        visualize(not_a_node)
    with pytest.raises(ValueError, match="at least one node"):
        visualize()
