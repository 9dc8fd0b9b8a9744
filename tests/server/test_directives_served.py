"""Directives on a served engine: no secret in any answer, bombs answered per node, and the
server's loop free for everyone else while a bomb is being evaluated."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from rxsubstrate import (
    Box,
    ComputeText,
    Event,
    GraphResult,
    NodeError,
    NodeResult,
    SSEDecoder,
    sb,
    serialize,
)
from rxsubstrate._events import decode_event
from rxsubstrate.engine import DirectiveLimits, Engine
from rxsubstrate.server import create_app
from tests.engine.processes import NewProcesses

from .conftest import Serve

SECRET = "rx-served-secret-41f0"
STREAM = {"Accept": "text/event-stream"}


async def post(session: aiohttp.ClientSession, url: str, *nodes: Box) -> tuple[int, Any]:
    async with session.post(f"{url}/compose", json={"dag": serialize(*nodes)}) as response:
        return response.status, await response.json()


async def test_the_servers_environment_stays_out_of_every_answer(
    serve: Serve, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RXSUBSTRATE_API_KEY", SECRET)
    monkeypatch.setenv("RXSUBSTRATE_TEXT_BACKEND_KEY", SECRET)
    url = await serve(Engine())
    env, everything = Box(value=sb.jq({"x": 1}, "$ENV")), Box(value=sb.jq(1, "env | tostring"))
    status, body = await post(session, url, env, everything)
    assert status == 200
    assert SECRET not in str(body)
    assert body["data"] == {env.id: {"value": {}}, everything.id: {"value": "{}"}}


async def test_a_template_too_deep_to_compile_is_a_400_not_a_500(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    deep = Box(value=sb.jinja("{{" + "(" * 1000 + "1" + ")" * 1000 + "}}"))
    status, body = await post(session, url, deep)
    assert status == 400
    assert body["type"] == "invalid_request_error"
    assert "over budget (depth)" in body["message"]


async def read_to_first_result(response: aiohttp.ClientResponse) -> tuple[SSEDecoder, list[Event]]:
    decoder = SSEDecoder()
    events: list[Event] = []
    while not any(isinstance(e, NodeResult) for e in events):
        chunk = await response.content.readany()
        assert chunk, "the stream ended before its first node.result"
        events.extend(map(decode_event, decoder.feed_data(chunk)))
    return decoder, events


async def read_rest(response: aiohttp.ClientResponse, decoder: SSEDecoder) -> list[Event]:
    events: list[Event] = []
    async for chunk in response.content.iter_any():
        events.extend(map(decode_event, decoder.feed_data(chunk)))
    return events


@pytest.mark.timeout(30)
async def test_an_honest_run_streams_and_finishes_while_directive_bombs_run(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    """Quick: about one sandbox timeout (2 s). Each bomb's first node streams its result, so its
    bomb directive is on its way to the sandbox when the honest run starts; before, the bomb ran
    on the server's loop and froze it (and this test) for good."""
    url = await serve(Engine(directive_limits=DirectiveLimits(timeout=2.0, workers=2)))
    bombs = []
    for make in (
        lambda value: sb.jq(value, "def f: f; f"),
        lambda value: sb.jinja(
            "{% for i in range(100000) %}{% for j in range(x) %}{% endfor %}{% endfor %}",
            x=value,
        ),
    ):
        first = Box(value=100000)
        bomb = Box(value=make(first.future.value))
        response = await session.post(
            f"{url}/compose", json={"dag": serialize(bomb)}, headers=STREAM
        )
        decoder, _ = await read_to_first_result(response)
        bombs.append((bomb, response, decoder))

    text = ComputeText(prompt="windmills", max_tokens=20)
    honest = Box(value=sb.concat("said: ", text.future.text))
    async with session.post(
        f"{url}/compose", json={"dag": serialize(honest)}, headers=STREAM
    ) as response:
        events = await read_rest(response, SSEDecoder())
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs[honest.id]["value"].startswith("said: ")
    assert sum(1 for e in events if getattr(e, "node_id", None) == text.id) == 21

    for bomb, response, decoder in bombs:
        assert not response.content.at_eof(), "a bomb finished before the honest run"
        rest = await read_rest(response, decoder)
        response.release()
        (failure,) = [e for e in rest if isinstance(e, NodeError)]
        assert failure.node_id == bomb.id
        assert failure.data.type == "invalid_request_error"
        assert "over budget (time)" in failure.data.message


async def test_the_apps_cleanup_stops_the_sandbox_processes(
    session: aiohttp.ClientSession,
) -> None:
    started = NewProcesses()
    server = TestServer(create_app(Engine()), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        counted = Box(value=sb.jq([1, 2, 3], "length"))
        assert (await post(session, url, counted))[1]["data"] == {counted.id: {"value": 3}}
        assert started() != set()
    finally:
        await server.close()
    assert started() == set()
