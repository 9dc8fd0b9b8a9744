"""The OpenAI-compatible text backend against a loopback server speaking that streaming protocol."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from rxsubstrate import GraphResult, NodeDelta, NodeError, NodeResult, Timeout
from rxsubstrate.engine import Engine, OpenAITextBackend
from tests.engine.graphs import run
from tests.wire import graph, node


class Upstream:
    """A chat-completions server: it streams the prompt's words back, or fails on request.

    A prompt of ``fail``, ``break``, ``garbage``, ``truncated`` or ``midstream-error`` makes it
    answer 500, cut the connection mid-stream, send a chunk that is not JSON, end the body without
    ``[DONE]``, or report an error inside the stream.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.peers: list[Any] = []  # the client's address of each request's connection
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.complete)

    async def complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((dict(request.headers), body))
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername"))
        content = body["messages"][-1]["content"]
        prompt = content if isinstance(content, str) else content[0]["text"]
        if prompt == "fail":
            return web.json_response({"error": {"message": "model crashed"}}, status=500)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(chunk: Any) -> None:
            data = chunk if isinstance(chunk, str) else json.dumps(chunk)
            await response.write(f"data: {data}\n\n".encode())

        def delta(**fields: Any) -> dict[str, Any]:
            return {"object": "chat.completion.chunk", "choices": [{"index": 0, **fields}]}

        await send(delta(delta={"role": "assistant"}))
        if prompt == "garbage":
            await send("{not json")
        elif prompt == "midstream-error":
            await send({"error": {"message": "out of memory", "code": 503}})
        for word in prompt.split():
            await send(delta(delta={"content": word + "|"}, finish_reason=None))
            if prompt.startswith("break"):
                assert request.transport is not None
                request.transport.close()  # the connection drops mid-stream
                return response
        if prompt != "truncated":
            await send(delta(delta={}, finish_reason="stop"))
            await send("[DONE]")
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/v1"))
    await server.close()


Make = Callable[..., Engine]


@pytest.fixture
async def make_engine(upstream: tuple[Upstream, str]) -> AsyncIterator[Make]:
    engines: list[Engine] = []

    def make(**kwargs: Any) -> Engine:
        engine = Engine()
        OpenAITextBackend(upstream[1], "local-model", **kwargs).install(engine)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


async def test_runs_share_one_pooled_connection_until_the_engine_closes(
    upstream: tuple[Upstream, str], make_engine: Make
) -> None:
    engine = make_engine()
    wire_graph = graph(node("a", prompt="one"))

    await run(engine, wire_graph)
    await run(engine, wire_graph)
    await engine.aclose()
    await run(engine, wire_graph)

    first, second, after_close = upstream[0].peers
    assert first == second  # kept alive and reused, not a new session per node
    assert after_close != first


async def test_compute_text_streams_the_upstreams_chunks(
    upstream: tuple[Upstream, str], make_engine: Make
) -> None:
    engine = make_engine(api_key="upstream-key")
    wire_graph = graph(node("a", prompt="tell me about windmills", temperature=0.2, max_tokens=9))

    events = await run(engine, wire_graph)

    deltas = [e.data for e in events if isinstance(e, NodeDelta)]
    assert deltas == [
        {"text": "tell|"},
        {"text": "me|"},
        {"text": "about|"},
        {"text": "windmills|"},
    ]
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs["a"] == {"text": "tell|me|about|windmills|"}
    headers, body = upstream[0].requests[0]
    assert headers["Authorization"] == "Bearer upstream-key"
    assert body["model"] == "local-model"
    assert body["stream"] is True
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 9
    assert body["messages"] == [{"role": "user", "content": "tell me about windmills"}]


async def test_multi_compute_text_streams_each_choice_as_array_items(
    upstream: tuple[Upstream, str], make_engine: Make
) -> None:
    wire_graph = graph(node("m", "MultiComputeText", prompt="one two", num_choices=3))

    events = await run(make_engine(), wire_graph)

    items = [e.data["choices"] for e in events if isinstance(e, NodeDelta)]
    assert {item["index"] for item in items} == {0, 1, 2}
    assert all(item["object"] == "array.item" for item in items)
    result = next(e for e in events if isinstance(e, NodeResult))
    assert result.data == {"choices": [{"text": "one|two|"}] * 3}
    assert len(upstream[0].requests) == 3


async def test_model_named_nodes_send_the_system_prompt(
    upstream: tuple[Upstream, str], make_engine: Make
) -> None:
    wire_graph = graph(node("l", "Llama3Instruct8B", prompt="hi there", system_prompt="be brief"))

    events = await run(make_engine(), wire_graph)

    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs["l"] == {"choices": [{"text": "hi|there|"}]}
    messages = upstream[0].requests[0][1]["messages"]
    assert messages[0] == {"role": "system", "content": "be brief"}


async def test_batch_compute_text_answers_every_prompt(make_engine: Make) -> None:
    wire_graph = graph(node("b", "BatchComputeText", prompts=["a b", "c"]))

    events = await run(make_engine(), wire_graph)

    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs["b"] == {"outputs": [{"text": "a|b|"}, {"text": "c|"}]}


FAILURES = {
    "fail": ("HTTP 500", "model crashed"),
    "break into pieces": ("stream broke", ""),
    "garbage": ("not JSON", ""),
    "truncated": ("before [DONE]", ""),
    "midstream-error": ("HTTP 503", "out of memory"),
}


@pytest.mark.parametrize(("prompt", "expected"), FAILURES.items(), ids=FAILURES.keys())
async def test_an_upstream_failure_is_the_nodes_api_error(
    make_engine: Make, prompt: str, expected: tuple[str, str]
) -> None:
    wire_graph = graph(node("a", prompt=prompt), node("ok", prompt="fine"))

    events = await run(make_engine(api_key="upstream-key"), wire_graph)

    errors = [e for e in events if isinstance(e, NodeError)]
    assert [e.node_id for e in errors] == ["a"]
    assert errors[0].data.type == "api_error"
    for part in expected:
        assert part in errors[0].data.message
    assert "upstream-key" not in errors[0].data.message
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs["ok"] == {"text": "fine|"}  # the other branch goes on


async def test_an_unreachable_backend_is_the_nodes_api_error() -> None:
    engine = Engine()
    OpenAITextBackend("http://127.0.0.1:9/v1", "m", timeout=Timeout(connect=5)).install(engine)

    events = await run(engine, graph(node("a")))
    await engine.aclose()

    error = next(e for e in events if isinstance(e, NodeError))
    assert error.data.type == "api_error"
    assert "cannot reach the text backend" in error.data.message


def test_the_key_stays_out_of_the_repr() -> None:
    backend = OpenAITextBackend("http://127.0.0.1:1/v1", "m", api_key="sk-secret")
    assert "sk-secret" not in repr(backend)
