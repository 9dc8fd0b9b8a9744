"""The official SDK's streaming announcement examples, run on rxsubstrate as written.

Only the first lines differ: the imports, and a ``substrate`` client that runs on the embedded
engine instead of the hosted API. The FastAPI example is served by a real uvicorn server on a
loopback port and read back over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from rxsubstrate import (
    GenerateText,
    GraphResult,
    Llama3Instruct8B,
    NodeDelta,
    NodeResult,
    SSEDecoder,
    Substrate,
    sb,
)
from rxsubstrate._events import decode_event
from tests.uvicorn_server import serve_on_loopback


@pytest.fixture
def substrate() -> Iterator[Substrate]:
    with Substrate() as client:
        yield client


def test_sync_and_async_examples_as_written(
    substrate: Substrate, capsys: pytest.CaptureFixture[str]
) -> None:
    # --- from the announcement, unchanged ---
    a = GenerateText(prompt="tell me about windmills", max_tokens=10)
    b = GenerateText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)

    # async interface
    async def amain():  # type: ignore[no-untyped-def]
        response = await substrate.async_stream(a, b)
        async for event in response.async_iter():
            print(event)

    asyncio.run(amain())

    # sync interface
    def main():  # type: ignore[no-untyped-def]
        response = substrate.stream(a, b)
        for event in response.iter():
            print(event)

    main()
    # --- end ---
    lines = capsys.readouterr().out.splitlines()
    half = len(lines) // 2
    assert lines[:half] == lines[half:]  # the same deterministic run, twice
    assert any(line.startswith(f"NodeDelta(node_id='{a.id}'") for line in lines)
    assert any(line.startswith(f"NodeDelta(node_id='{b.id}'") for line in lines)
    assert lines[half - 1].startswith("GraphResult(")


def test_nodes_of_the_seed_example_stream_in_dependency_order(substrate: Substrate) -> None:
    a = GenerateText(prompt="tell me about windmills", max_tokens=10)
    b = GenerateText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)
    events = list(substrate.stream(a, b).iter())
    kinds = [(type(e).__name__, getattr(e, "node_id", None)) for e in events]
    assert kinds.index(("NodeResult", a.id)) < kinds.index(("NodeDelta", b.id))
    texts = {e.node_id: e.data["text"] for e in events if isinstance(e, NodeResult)}
    streamed = "".join(
        e.data["text"] for e in events if isinstance(e, NodeDelta) and e.node_id == a.id
    )
    assert streamed == texts[a.id]
    assert len(texts[a.id].split()) <= 10
    assert isinstance(events[-1], GraphResult)
    assert set(events[-1].outputs) == {a.id, b.id}


def test_fastapi_proxy_example_as_written(substrate: Substrate) -> None:
    app = FastAPI()

    # --- from the announcement, unchanged ---
    @app.get("/qotd")
    def quote_of_the_day():  # type: ignore[no-untyped-def]
        quote = Llama3Instruct8B(prompt="What's an inspirational quote of the day?")
        response = substrate.stream(quote)
        return StreamingResponse(response.iter_events(), media_type="text/event-stream")

    # --- end ---
    async def fetch(url: str) -> list[Any]:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/qotd") as reply:
            assert reply.headers["content-type"].startswith("text/event-stream")
            decoder = SSEDecoder()
            return [decode_event(d) for d in decoder.feed_data(await reply.read())]

    with serve_on_loopback(app) as url:
        events = asyncio.run(fetch(url))
    assert any(isinstance(e, NodeDelta) for e in events)
    final = events[-1]
    assert isinstance(final, GraphResult)
    (output,) = final.outputs.values()
    assert output["choices"][0]["text"]
