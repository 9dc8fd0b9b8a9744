"""The same graph code, run with the official SDK and with rxsubstrate, sends the same graph."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from rxsubstrate import serialize

from ._normalize import normalise, sdk_serialize


def seed_example(lib: ModuleType) -> list[Any]:
    a = lib.ComputeText(prompt="tell me about windmills", max_tokens=10)
    b = lib.ComputeText(prompt=lib.sb.concat("is this true? ", a.future.text), max_tokens=10)
    return [a, b]


def rich_graph(lib: ModuleType) -> list[Any]:
    sb = lib.sb
    a = lib.ComputeText(prompt="tell me about windmills", max_tokens=10, _cache_age=60)
    m = lib.MultiComputeText(prompt="two ideas", num_choices=2, hide=True, _max_retries=2)
    box = lib.Box(
        value={
            "summary": sb.format("{x} / {y}", x=a.future.text, y=m.future.choices[1].text),
            "lengths": sb.jq(m.future, "[.choices[].text | length]"),
            "x": True,
            "key": "summary",
        },
        _cache_keys=["value"],
    )
    picked = box.future.value[box.future.value["key"]]  # an item key that is a future too
    cond = lib.If(
        condition=box.future.value["x"],
        value_if_true=picked,
        value_if_false=sb.jinja("{{ t }} ({{ n }})", t=a.future.text, n=m.future.choices[0].text),
    )
    image = lib.GenerateImage(prompt="a windmill", hide=True)
    last = lib.ComputeJSON(
        prompt=sb.concat("check: ", cond.future.result, " ", None),
        json_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}},
        _depends=[image],
    )
    return [a, m, box, cond, last]


def test_seed_example_matches_the_sdk(sdk: ModuleType, rx: ModuleType) -> None:
    ours = serialize(*seed_example(rx))
    assert normalise(ours) == normalise(sdk_serialize(*seed_example(sdk)))
    assert ours["futures"][-1]["directive"]["type"] == "string-concat"


def test_rich_graph_matches_the_sdk(sdk: ModuleType, rx: ModuleType) -> None:
    ours = serialize(*rich_graph(rx))
    theirs = sdk_serialize(*rich_graph(sdk))
    assert normalise(ours) == normalise(theirs)
    # The comparison is not vacuous: every kind of directive and option is in there.
    text = json.dumps(ours)
    for marker in ('"jq"', '"jinja"', '"format"', '"string-concat"', '"trace"', "_cache_keys"):
        assert marker in text
    assert len(ours["edges"]) == 1


def double_all(values: list[float]) -> list[float]:
    return [2 * v for v in values]


def run_python_graph(lib: ModuleType) -> list[Any]:
    a = lib.ComputeText(prompt="some numbers", max_tokens=10)
    first = lib.RunPython(function=double_all, kwargs={"values": [1, 2]})
    second = lib.RunPython(
        double_all,
        {"values": first.future.output, "note": a.future.text},
        ["numpy"],
        _depends=[first],
    )
    return [a, first, second]


def test_run_python_pickles_the_function_byte_for_byte_as_the_sdk(
    sdk: ModuleType, rx: ModuleType
) -> None:
    ours = serialize(*run_python_graph(rx))
    assert normalise(ours) == normalise(sdk_serialize(*run_python_graph(sdk)))
    assert {n["node"] for n in ours["nodes"]} == {"ComputeText", "RunPython"}


def test_the_clients_serialize_is_the_sdks(sdk: ModuleType, rx: ModuleType) -> None:
    # The official SDK's static Substrate.serialize, called on the class or on a client.
    theirs = normalise(sdk_serialize(*rich_graph(sdk)))
    assert normalise(rx.Substrate.serialize(*rich_graph(rx))) == theirs
    client = rx.Substrate(base_url="http://127.0.0.1:9")  # made, never connected
    try:
        assert normalise(client.serialize(*rich_graph(rx))) == theirs
    finally:
        client.close()


def test_serializing_only_the_last_node_reaches_the_same_graph(rx: ModuleType) -> None:
    nodes = rich_graph(rx)
    assert normalise(serialize(nodes[-1])) == normalise(serialize(*nodes))


def test_the_comparison_sees_a_difference(rx: ModuleType) -> None:
    shown = rx.ComputeText(prompt="p")
    hidden = rx.ComputeText(prompt="p", hide=True)
    assert normalise(serialize(shown)) != normalise(serialize(hidden))
    other = rx.ComputeText(prompt=rx.sb.concat("a", shown.future.text))
    swapped = rx.ComputeText(prompt=rx.sb.concat(shown.future.text, "a"))
    assert normalise(serialize(other)) != normalise(serialize(swapped))


def test_our_output_is_json_data_already(rx: ModuleType) -> None:
    ours = serialize(*rich_graph(rx))
    assert json.loads(json.dumps(ours)) == ours


# A random graph program: each step makes one node from earlier nodes' futures.
_step = st.tuples(
    st.sampled_from(["text", "box", "multi", "if"]),
    st.lists(st.integers(min_value=0, max_value=50), max_size=3),
    st.sampled_from(["trace", "concat", "format", "jinja", "jq"]),
    st.booleans(),
)


def run_program(lib: ModuleType, steps: list[tuple[str, list[int], str, bool]]) -> list[Any]:
    sb = lib.sb
    made: list[tuple[str, Any]] = []
    for kind, picks, combine, hide in steps:
        used = [made[i % len(made)] for i in picks] if made else []
        futures = [
            n.future.text
            if k == "text"
            else n.future.choices[0].text
            if k == "multi"
            else n.future.value["v"]
            if k == "box"
            else n.future.result
            for k, n in used
        ]
        if not futures:
            value: Any = "plain"
        elif combine == "trace":
            value = futures[0]
        elif combine == "concat":
            value = sb.concat("<", *futures, ">")
        elif combine == "format":
            value = sb.format(
                "-".join(f"{{v{i}}}" for i in range(len(futures))),
                **{f"v{i}": f for i, f in enumerate(futures)},
            )
        elif combine == "jinja":
            value = sb.jinja("{{ v }}", v=futures)
        else:
            value = sb.jq(futures[0], ".")
        if kind == "text":
            node = lib.ComputeText(prompt=value, hide=hide)
        elif kind == "multi":
            node = lib.MultiComputeText(prompt=value, num_choices=2, hide=hide)
        elif kind == "box":
            node = lib.Box(value={"v": value, "all": futures}, hide=hide)
        else:
            node = lib.If(condition=True, value_if_true=value, hide=hide)
        made.append((kind, node))
    return [node for _, node in made]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_step, min_size=1, max_size=8))
def test_random_graphs_match_the_sdk(
    sdk: ModuleType, rx: ModuleType, steps: list[tuple[str, list[int], str, bool]]
) -> None:
    ours = serialize(run_program(rx, steps)[-1])
    theirs = sdk_serialize(run_program(sdk, steps)[-1])
    assert normalise(ours) == normalise(theirs)
