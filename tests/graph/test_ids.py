"""Node, future and graph ids take the official SDK's form."""

from __future__ import annotations

import re

import pytest

from rxsubstrate import ComputeText, GenerateText, Node, sb, serialize
from rxsubstrate._graph._ids import ALPHABET

SUFFIX = f"[{re.escape(ALPHABET)}]{{8}}"


def counter(node_id: str) -> int:
    match = re.fullmatch(rf"[A-Za-z0-9]+?(\d+)_{SUFFIX}", node_id)
    assert match, node_id
    return int(match.group(1))


def test_node_ids_are_kind_counter_and_eight_random_characters() -> None:
    first, second = ComputeText(prompt="a"), ComputeText(prompt="b")
    assert re.fullmatch(rf"ComputeText\d+_{SUFFIX}", first.id)
    assert counter(second.id) == counter(first.id) + 1
    assert first.id[-8:] != second.id[-8:]


def test_the_alphabet_is_the_sdks() -> None:
    from substrate.core.id_generator import IDGenerator

    assert set(IDGenerator.random_string(2000)) <= set(ALPHABET)


def test_each_kind_counts_on_its_own() -> None:
    text = ComputeText(prompt="a")
    box = Node("Box", value=1)
    more_text = ComputeText(prompt="b")
    assert box.id.startswith("Box")
    assert counter(more_text.id) == counter(text.id) + 1


def test_generate_text_is_compute_text_on_the_wire() -> None:
    node = GenerateText(prompt="hi")
    assert node.id.startswith("ComputeText")
    assert node.kind == "ComputeText"
    assert serialize(node)["nodes"][0]["node"] == "ComputeText"


def test_an_explicit_id_is_kept() -> None:
    node = ComputeText(prompt="hi", id="mine")
    assert node.id == "mine"
    assert serialize(node)["nodes"][0]["id"] == "mine"


@pytest.mark.parametrize("bad", ["", 3])
def test_an_id_must_be_a_non_empty_string(bad: object) -> None:
    with pytest.raises(TypeError, match="id"):
        Node("Box", id=bad, value=1)  # type: ignore[arg-type]


def test_future_and_graph_ids() -> None:
    node = ComputeText(prompt="hi")
    dag = serialize(ComputeText(prompt=sb.concat("x", node.future.text)))
    assert re.fullmatch(r"graph_[0-9a-f]{32}", dag["id"])
    for future in dag["futures"]:
        assert re.fullmatch(rf"future\d+_{SUFFIX}", future["id"])
    assert serialize(node)["id"] != serialize(node)["id"]
