"""The /compose app over a real loopback socket: streams, JSON, refusals, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from rxsubstrate import Event, GraphResult, NodeDelta, NodeResult, SSEDecoder
from rxsubstrate._events import decode_event
from rxsubstrate.engine import Engine, EngineLimits, NodeContext, Plan
from rxsubstrate.server import ServerLimits, create_app
from tests.wire import graph, node

from .conftest import Hang, Serve

STREAM = {"Accept": "text/event-stream"}


async def read_events(response: aiohttp.ClientResponse) -> list[Event]:
    decoder = SSEDecoder()
    events: list[Event] = []
    async for chunk in response.content.iter_any():
        events.extend(map(decode_event, decoder.feed_data(chunk)))
    return events


async def stream(session: aiohttp.ClientSession, url: str, wire_graph: Any) -> list[Event]:
    async with session.post(f"{url}/compose", json={"dag": wire_graph}, headers=STREAM) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        return await read_events(response)


async def test_stream_sends_each_nodes_deltas_and_result_then_graph_result(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    events = await stream(session, url, graph(node("a"), node("b", prompt="mills", max_tokens=3)))

    assert isinstance(events[-1], GraphResult)
    for node_id, tokens in (("a", 4), ("b", 3)):
        mine = [e for e in events if getattr(e, "node_id", None) == node_id]
        deltas = [e for e in mine if isinstance(e, NodeDelta)]
        assert len(deltas) == tokens
        assert isinstance(mine[-1], NodeResult)
        assert mine[-1].data["text"] == "".join(d.data["text"] for d in deltas)
        assert events[-1].outputs[node_id] == mine[-1].data


async def test_streaming_header_alone_asks_for_a_stream(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    headers = {"Accept": "application/json", "X-Substrate-Streaming": "1"}
    async with session.post(
        f"{url}/compose", json={"dag": graph(node("a"))}, headers=headers
    ) as response:
        assert response.content_type == "text/event-stream"
        assert isinstance((await read_events(response))[-1], GraphResult)


async def test_json_answer_is_the_graph_results_data(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    wire_graph = graph(node("a"), node("b", prompt="other", max_tokens=2))
    async with session.post(f"{url}/compose", json={"dag": wire_graph}) as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        body = await response.json()
    streamed = await stream(session, url, wire_graph)
    assert isinstance(streamed[-1], GraphResult)
    assert body == streamed[-1].data
    assert set(body["data"]) == {"a", "b"}


async def test_a_fast_run_arrives_whole_and_in_order(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    count = 20_000

    async def counter(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        for i in range(count):
            yield {"text": f"{i},"}

    engine = Engine()
    engine.register("Counter", counter)
    events = await stream(session, await serve(engine), graph(node("c", "Counter", n=1)))

    deltas = [e.data["text"] for e in events if isinstance(e, NodeDelta)]
    assert deltas == [f"{i}," for i in range(count)]
    assert isinstance(events[-2], NodeResult)
    assert isinstance(events[-1], GraphResult)


@pytest.mark.parametrize("path", ["/compose", "/other"])
async def test_every_answer_carries_a_request_id(
    serve: Serve, session: aiohttp.ClientSession, path: str
) -> None:
    url = await serve(Engine())
    async with session.post(f"{url}{path}", json={"dag": graph(node("a"))}) as response:
        generated = response.headers["x-substrate-request-id"]
    assert len(generated) >= 16
    headers = {"X-Substrate-Request-Id": "req-from-client_1"}
    async with session.post(f"{url}{path}", json={"dag": graph()}, headers=headers) as response:
        assert response.headers["x-substrate-request-id"] == "req-from-client_1"
    headers = {"X-Substrate-Request-Id": "not ok\tat all"}
    async with session.post(f"{url}{path}", json={"dag": graph()}, headers=headers) as response:
        assert response.headers["x-substrate-request-id"] != "not ok\tat all"


BAD_REQUESTS = {
    "not json": b"{dag:",
    "not an object": b"[1, 2]",
    "no dag": b'{"graph": {}}',
    "dag not an object": b'{"dag": 3}',
    "unknown node kind": b'{"dag": {"nodes": [{"id": "a", "node": "NoSuchNode", "args": {}}]}}',
    "bad argument": b'{"dag": {"nodes": [{"id": "a", "node": "ComputeText", "args": {}}]}}',
    "too many nodes": b'{"dag": {"nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}}',
}


@pytest.mark.parametrize("body", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "json"])
async def test_a_bad_request_is_refused_as_json_before_anything_streams(
    serve: Serve, session: aiohttp.ClientSession, body: bytes, streaming: bool
) -> None:
    url = await serve(Engine(limits=EngineLimits(max_nodes=2)))
    headers = {"Content-Type": "application/json", **(STREAM if streaming else {})}
    async with session.post(f"{url}/compose", data=body, headers=headers) as response:
        assert response.status == 400
        assert response.content_type == "application/json"
        error = await response.json()
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str)
    assert error["message"]


async def test_an_engine_refusal_names_the_problem(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    async with session.post(
        f"{url}/compose", json={"dag": graph(node("a", "NoSuchNode", x=1))}
    ) as response:
        error = await response.json()
    assert "NoSuchNode" in error["message"]


async def test_a_body_over_the_limit_gets_413(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Engine(), limits=ServerLimits(max_body_size=1000))
    big = {"dag": graph(node("a", prompt="x" * 2000))}
    async with session.post(f"{url}/compose", json=big) as response:
        assert response.status == 413
        assert (await response.json())["type"] == "invalid_request_error"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds as it reads
        for _ in range(20):
            yield b" " * 100

    headers = {"Content-Type": "application/json"}
    async with session.post(f"{url}/compose", data=chunks(), headers=headers) as response:
        assert response.status == 413
        assert (await response.json())["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "secret-key", "Bearer secret-keyX", "bearer secret-key"],
)
async def test_a_missing_or_wrong_key_gets_401(
    serve: Serve, session: aiohttp.ClientSession, authorization: str | None
) -> None:
    url = await serve(Engine(), api_key="secret-key")
    headers = {"Authorization": authorization} if authorization else {}
    async with session.post(
        f"{url}/compose", json={"dag": graph(node("a"))}, headers={**headers, **STREAM}
    ) as response:
        assert response.status == 401
        assert response.content_type == "application/json"
        text = await response.text()
    assert "secret-key" not in text
    assert "authentication_error" in text


async def test_the_right_key_is_let_in(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Engine(), api_key="secret-key")
    headers = {"Authorization": "Bearer secret-key"}
    async with session.post(
        f"{url}/compose", json={"dag": graph(node("a"))}, headers=headers
    ) as response:
        assert response.status == 200


async def test_other_routes_and_methods_are_refused(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    async with session.get(f"{url}/compose") as response:
        assert response.status == 405
    async with session.post(f"{url}/nothing", json={}) as response:
        assert response.status == 404


async def test_a_client_going_away_cancels_its_run(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    hang = Hang()
    engine = Engine()
    engine.register("Hang", hang)
    url = await serve(engine)
    response = await session.post(
        f"{url}/compose", json={"dag": graph(node("h", "Hang", x=1))}, headers=STREAM
    )
    first = await response.content.readuntil(b"\n\n")
    assert b'"first"' in first
    await asyncio.wait_for(hang.started.wait(), 5)

    response.close()  # drops the connection mid-stream

    await asyncio.wait_for(hang.cancelled.wait(), 5)


async def test_shutdown_cancels_runs_in_flight(session: aiohttp.ClientSession) -> None:
    hang = Hang()
    engine = Engine()
    engine.register("Hang", hang)
    server = TestServer(create_app(engine), host="127.0.0.1")
    await server.start_server()
    try:
        response = await session.post(
            server.make_url("/compose"), json={"dag": graph(node("h", "Hang", x=1))}, headers=STREAM
        )
        await asyncio.wait_for(hang.started.wait(), 5)
    finally:
        await server.close()
    assert hang.cancelled.is_set()
    events = await read_events(response)
    assert events
    assert not any(isinstance(e, GraphResult) for e in events)  # the client sees it cut short
    response.close()


async def test_a_client_going_away_cancels_its_json_run(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    hang = Hang()
    engine = Engine()
    engine.register("Hang", hang)
    url = await serve(engine)
    request = asyncio.ensure_future(
        session.post(f"{url}/compose", json={"dag": graph(node("h", "Hang", x=1))})
    )
    await asyncio.wait_for(hang.started.wait(), 5)

    request.cancel()  # the client gives up waiting: its connection closes

    await asyncio.wait_for(hang.cancelled.wait(), 5)
    with pytest.raises(asyncio.CancelledError):
        await request


class FailingEngine(Engine):
    """An engine with a bug: every run fails before its first event."""

    def execute(self, plan: Plan) -> AsyncGenerator[Event, None]:
        raise RuntimeError("a bug, with a secret path /home/user/.env in it")

    def execute_batches(self, plan: Plan) -> AsyncGenerator[list[Event], None]:
        raise RuntimeError("a bug, with a secret path /home/user/.env in it")


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "json"])
async def test_a_server_bug_is_a_json_500_without_its_details(
    serve: Serve, session: aiohttp.ClientSession, streaming: bool
) -> None:
    url = await serve(FailingEngine())
    headers = STREAM if streaming else {}
    async with session.post(
        f"{url}/compose", json={"dag": graph(node("a"))}, headers=headers
    ) as response:
        assert response.status == 500
        assert response.content_type == "application/json"
        error = await response.json()
    assert error["type"] == "api_error"
    assert ".env" not in error["message"]
