"""Every mistake in a graph is the client's to hear about: refused at ``prepare`` with a message
that names the node or future, or failed as that node's ``invalid_request_error``; never an
``api_error`` made of a raw ``KeyError``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from substrate import Box, sb

from rxsubstrate import ErrorData, GraphResult, NodeError
from rxsubstrate.engine import Engine, GraphInvalid
from tests.wire import PLACEHOLDER, graph, node, ref, trace

from .graphs import run, serialize


def concat_of(future_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"id": future_id, "directive": {"type": "string-concat", "items": list(items)}}


def test_the_sdk_puts_literal_text_in_a_concat_items_val() -> None:
    # What treating `val` as the SDK does means: futures travel in future_id, text in val.
    box = Box(value="b")
    dag = serialize(Box(value=sb.concat("a", box.future.value, None)))
    (concat,) = [f for f in dag["futures"] if f["directive"]["type"] == "string-concat"]
    items = concat["directive"]["items"]
    assert [item["val"] for item in items] == ["a", None, ""]
    assert items[1]["future_id"] is not None


def test_a_future_inside_a_concat_val_is_refused_naming_it() -> None:
    # Before: accepted, then the run failed with api_error "'missing'" (a KeyError).
    dag = graph(
        node("a", "Box", value=ref("joined")),
        futures=(concat_of("joined", {"future_id": None, "val": ref("missing")}),),
    )
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(dag)
    assert caught.value.message == (
        "future joined: string-concat item #0 has future missing inside its 'val'; a future"
        " goes in the item's 'future_id'"
    )


def test_a_cycle_through_a_concat_val_is_refused() -> None:
    dag = graph(
        node("a", "Box", value=ref("joined")),
        futures=(
            trace("t", "a", ("attr", "value")),
            concat_of("joined", {"future_id": None, "val": ["x", ref("t")]}),
        ),
    )
    with pytest.raises(GraphInvalid, match="future joined: string-concat item #0 has future t"):
        Engine().prepare(dag)


async def test_a_format_variable_missing_is_named_not_a_key_error() -> None:
    dag = graph(
        node("a", "Box", value=ref("f")),
        futures=(
            {
                "id": "f",
                "directive": {
                    "type": "format",
                    "f_string": {"future_id": None, "val": "{name} is {age}"},
                    "variables": {"name": "Ada"},
                },
            },
        ),
    )
    (error,) = [e for e in await run(Engine(), dag) if isinstance(e, NodeError)]
    assert error.data.type == "invalid_request_error"
    assert error.data.message == 'future f (format): no value for "age"'


_IDS = ["n0", "n1", "n2", "ghost"]
_FUTURES = ["f0", "f1", "f2", "nowhere"]
_literal = st.none() | st.integers(-3, 3) | st.sampled_from(["", "x", "value", "0"])
_future_ref = st.sampled_from(_FUTURES).map(ref)
_arg = st.recursive(
    _literal | _future_ref,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xy"), inner),
    max_leaves=4,
)
_op = st.builds(
    lambda accessor, key, future: {
        "accessor": accessor,
        "key": None if future else key,
        "future_id": future,
    },
    st.sampled_from(["attr", "item"]),
    st.sampled_from(["value", "x", 0, -1, 5]),
    st.none() | st.sampled_from(_FUTURES),
)
_directive = st.one_of(
    st.builds(
        lambda ops, origin: {"type": "trace", "op_stack": ops, "origin_node_id": origin},
        st.lists(_op, max_size=3),
        st.sampled_from(_IDS),
    ),
    st.builds(
        lambda items: {"type": "string-concat", "items": items},
        st.lists(
            st.builds(
                lambda future, val: {"future_id": future, "val": None if future else val},
                st.none() | st.sampled_from(_FUTURES),
                _arg,
            ),
            max_size=3,
        ),
    ),
    st.builds(
        lambda text, variables: {
            "type": "format",
            "f_string": {"future_id": None, "val": text},
            "variables": variables,
        },
        st.sampled_from(["{x}", "{y[0]}", "{x}{y}", "plain"]),
        st.dictionaries(st.sampled_from("xy"), _arg, max_size=2),
    ),
)


@st.composite
def _graphs(draw: st.DrawFn) -> dict[str, Any]:
    nodes = [node(node_id, "Box", value=draw(_arg)) for node_id in _IDS[: draw(st.integers(1, 3))]]
    futures = [
        {"id": future_id, "directive": draw(_directive)}
        for future_id in _FUTURES[: draw(st.integers(0, 3))]
    ]
    edges = draw(st.lists(st.tuples(st.sampled_from(_IDS), st.sampled_from(_IDS)), max_size=2))
    return {
        "nodes": nodes,
        "futures": futures,
        "edges": [[source, target, {}] for source, target in edges],
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag=_graphs())
async def test_a_graph_of_boxes_is_refused_or_fails_only_as_the_clients_mistake(
    dag: dict[str, Any],
) -> None:
    # A Box cannot fail by itself: whatever goes wrong is in the graph, so it is either a
    # GraphInvalid now or an invalid_request_error (and its dependency_errors) in the run.
    try:
        events = await run(Engine(), dag)
    except GraphInvalid as exc:
        events = [NodeError("(prepare)", ErrorData("invalid_request_error", exc.message))]
    else:
        assert isinstance(events[-1], GraphResult)
    for event in events:
        if isinstance(event, NodeError):
            assert event.data.type in ("invalid_request_error", "dependency_error"), event
            assert "KeyError" not in event.data.message
            assert not event.data.message.startswith("'"), event


def test_placeholder_shape_is_exactly_one_key() -> None:
    # A dict that merely contains the placeholder key among others is plain data.
    dag = graph(node("a", "Box", value={PLACEHOLDER: "f", "other": 1}))
    Engine().prepare(dag)
