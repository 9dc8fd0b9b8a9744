"""Non-streaming runs: ``run()`` and ``async_run()`` against a loopback server."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from rxsubstrate import APIStatusError, NodeFailed, Substrate, UnexpectedContentType
from tests.replay_server import ReplayServer, Reply

DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
ANSWER = {
    "data": {
        "a": {"text": "Windmills turn."},
        "b": {"type": "api_error", "message": "model overloaded"},
    }
}


class FakeNode:
    """Anything with an id can be looked up; typed nodes also carry an output_type."""

    def __init__(self, id: str) -> None:
        self.id = id


def json_reply(body: Any, status: int = 200) -> Reply:
    return Reply(
        [msgspec.json.encode(body)],
        status=status,
        headers={"Content-Type": "application/json", "x-substrate-request-id": "r-1"},
    )


@pytest.mark.parametrize("sync", [True, False])
async def test_run_gives_json_and_outputs(sync: bool) -> None:
    with ReplayServer(json_reply(ANSWER)) as server:
        client = Substrate(api_key="k", base_url=server.url)
        result = client.run(DAG) if sync else await client.async_run(DAG)
        await client.aclose()
    assert result.json == ANSWER
    assert result.request_id == "r-1"
    assert result.get(FakeNode("a")) == {"text": "Windmills turn."}  # type: ignore[arg-type]
    with pytest.raises(NodeFailed, match="model overloaded"):
        result.get(FakeNode("b"))  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="hidden"):
        result.get(FakeNode("c"))  # type: ignore[arg-type]
    seen = server.requests[0]
    assert seen.headers["Accept"] == "application/json"
    assert "X-Substrate-Streaming" not in seen.headers


@pytest.mark.parametrize("sync", [True, False])
async def test_run_http_error(sync: bool) -> None:
    with ReplayServer(json_reply({"message": "dag too large"}, status=413)) as server:
        client = Substrate(api_key="k", base_url=server.url)
        with pytest.raises(APIStatusError, match="dag too large") as info:
            client.run(DAG) if sync else await client.async_run(DAG)
        await client.aclose()
    assert info.value.status == 413


def test_run_with_a_body_that_is_not_json() -> None:
    reply = Reply([b"<html>"], headers={"Content-Type": "text/html"})
    with (
        ReplayServer(reply) as server,
        Substrate(api_key="k", base_url=server.url) as client,
        pytest.raises(UnexpectedContentType, match="text/html, not application/json"),
    ):
        client.run(DAG)
