"""The official ``substrate`` SDK, unchanged, against this server on a loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from substrate import ComputeText, GenerateImage, MultiComputeText, Substrate, sb

import rxsubstrate
from rxsubstrate import Event, GraphResult, UnknownEvent
from rxsubstrate._events import encode_event
from rxsubstrate.engine import Engine
from rxsubstrate.server import EmbeddedServer
from tests.replay_server import ReplayServer, Reply, sse
from tests.test_events import events as any_event
from tests.test_events import json_values


@pytest.fixture
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(Engine()) as server:
        yield server


@pytest.fixture
def client(server: EmbeddedServer) -> Substrate:
    return Substrate(api_key=server.api_key, base_url=server.start(), timeout=10)


def two_nodes() -> tuple[Any, Any]:
    a = ComputeText(prompt="tell me about windmills", max_tokens=10)
    b = ComputeText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)
    return a, b


def check_stream(messages: list[dict[str, Any]], a: Any, b: Any) -> None:
    assert messages[-1]["object"] == "graph.result"
    outputs = messages[-1]["data"]["data"]
    for n in (a, b):
        mine = [m for m in messages if m.get("node_id") == n.id]
        deltas = [m["data"]["text"] for m in mine if m["object"] == "node.delta"]
        assert deltas
        assert mine[-1] == {"object": "node.result", "node_id": n.id, "data": outputs[n.id]}
        assert "".join(deltas) == outputs[n.id]["text"]
    # b's prompt needs a's text, so a finishes before b starts
    first_b = next(i for i, m in enumerate(messages) if m.get("node_id") == b.id)
    result_a = next(
        i for i, m in enumerate(messages) if m["object"] == "node.result" and m["node_id"] == a.id
    )
    assert result_a < first_b


def test_stream_iter_yields_both_nodes_and_the_graph_result(client: Substrate) -> None:
    a, b = two_nodes()

    messages = [event.data for event in client.stream(a, b).iter()]

    check_stream(messages, a, b)


def test_iter_events_yields_sse_text(client: Substrate) -> None:
    a, b = two_nodes()

    texts = list(client.stream(a, b).iter_events())

    assert all("data: {" in t and t.endswith("\n\n") for t in texts)
    assert '"graph.result"' in texts[-1]


def both_iter_events(url: str) -> tuple[list[str], list[str], list[str]]:
    """What the SDK's ``iter_events()``, and rxsubstrate's ``iter_events()`` and
    ``async_iter_events()``, yield for the stream at ``url``."""
    graph = {"nodes": [], "edges": [], "initial_args": {}, "futures": []}
    any_node = ComputeText(prompt="the server replays its stream whatever it is sent")
    sdk = list(Substrate(api_key="local", base_url=url, timeout=10).stream(any_node).iter_events())
    with rxsubstrate.Substrate(api_key="local", base_url=url) as client:
        mine = list(client.stream(graph).iter_events())

        async def read() -> list[str]:
            return [text async for text in client.stream(graph).async_iter_events()]

        mine_async = asyncio.run(read())
    return sdk, mine, mine_async


def test_iter_events_are_the_sdks_bytes_for_a_real_run(client: Substrate) -> None:
    a, b = two_nodes()
    m = MultiComputeText(prompt="three ideas, naïvely – 🙂", num_choices=2, max_tokens=4)
    recorded = [e.data for e in client.stream(a, b, m).iter()]
    with ReplayServer(Reply([sse(*(msgspec.json.encode(e) for e in recorded))])) as server:
        sdk, mine, mine_async = both_iter_events(server.url)
    assert mine == sdk
    assert mine_async == sdk
    assert len(sdk) == len(recorded)


NOT_LAST = any_event.filter(lambda e: not isinstance(e, GraphResult))
LAST = st.builds(
    GraphResult,
    st.builds(lambda d: {"data": d}, st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
)
UNKNOWN = st.builds(UnknownEvent, st.just("node.progress"), st.just(b'{"object":"node.progress"}'))


def test_iter_events_are_the_sdks_bytes_for_any_events() -> None:
    with ReplayServer(Reply()) as server:

        @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(NOT_LAST | UNKNOWN, max_size=6), LAST)
        def check(stream: list[Event], last: GraphResult) -> None:
            # rxsubstrate ends a stream at its graph.result and fails one that has none.
            raws = [encode_event(e) for e in [*stream, last]]
            server.reply = Reply([sse(*raws)])
            sdk, mine, mine_async = both_iter_events(server.url)
            assert mine == sdk
            assert mine_async == sdk

        check()


def test_run_and_get(client: Substrate) -> None:
    a, b = two_nodes()

    response = client.run(a, b)

    assert response.api_response.status_code == 200
    assert response.request_id
    assert response.get(b).text
    assert response.get(a).text == response.json["data"][a.id]["text"]


def test_multi_compute_text_streams_array_items_for_each_choice(client: Substrate) -> None:
    m = MultiComputeText(prompt="three ideas", num_choices=3, max_tokens=4)

    messages = [event.data for event in client.stream(m).iter()]

    items = [x["data"]["choices"] for x in messages if x["object"] == "node.delta"]
    assert all(item["object"] == "array.item" for item in items)
    assert {item["index"] for item in items} == {0, 1, 2}
    result = messages[-1]["data"]["data"][m.id]
    assert len(result["choices"]) == 3
    for index, choice in enumerate(result["choices"]):
        text = "".join(i["item"]["text"] for i in items if i["index"] == index)
        assert choice["text"] == text
    assert client.run(m).get(m).choices[2].text == result["choices"][2]["text"]


async def test_async_stream_and_async_run(client: Substrate) -> None:
    a, b = two_nodes()

    response = await client.async_stream(a, b)
    messages = [event.data async for event in response.async_iter()]
    result = await client.async_run(a, b)

    check_stream(messages, a, b)
    assert result.json == messages[-1]["data"]


def test_an_invalid_graph_is_a_400_the_sdk_can_read(client: Substrate) -> None:
    no_local_impl = GenerateImage(prompt="a windmill")

    response = client.run(no_local_impl)

    assert response.api_response.status_code == 400
    assert response.json["type"] == "invalid_request_error"
    assert "GenerateImage" in response.json["message"]


def test_the_sdk_authenticates_with_its_key() -> None:
    a, _ = two_nodes()
    with EmbeddedServer(Engine(), api_key="local-secret") as server:
        wrong = Substrate(api_key="other", base_url=server.start(), timeout=10).run(a)
        right = Substrate(api_key="local-secret", base_url=server.start(), timeout=10).run(a)

    assert wrong.api_response.status_code == 401
    assert wrong.json["type"] == "authentication_error"
    assert right.get(a).text
