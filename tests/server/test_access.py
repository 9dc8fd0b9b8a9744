"""Who may talk to the server: the embedded key, Content-Type, Host on loopback, auth everywhere."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from rxsubstrate import EmbeddedEngine, Substrate
from rxsubstrate.engine import Engine
from rxsubstrate.server import EmbeddedServer
from tests.wire import graph, node

from .conftest import Serve

TIMEOUT = 10.0
GRAPH = json.dumps({"dag": graph(node("a"))}).encode()
JSON = {"Content-Type": "application/json"}


def raw_post(url: str, headers: dict[str, str], path: str = "/compose") -> tuple[int, Any, Any]:
    """POST with exactly these headers (http.client adds only Host, unless given, and length)."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=TIMEOUT)
    try:
        connection.putrequest("POST", path, skip_host="Host" in headers)
        for name, value in {**headers, "Content-Length": str(len(GRAPH))}.items():
            connection.putheader(name, value)
        connection.endheaders(GRAPH)
        response = connection.getresponse()
        body = response.read()
        return response.status, response.headers, json.loads(body)
    finally:
        connection.close()


def test_the_embedded_server_refuses_a_request_without_its_key() -> None:
    with EmbeddedServer(Engine()) as server:
        url = server.start()

        status, headers, body = raw_post(url, JSON)
        wrong_status, _, _ = raw_post(url, {**JSON, "Authorization": "Bearer guessed"})
        right_status, _, _ = raw_post(url, {**JSON, "Authorization": f"Bearer {server.api_key}"})

    assert status == wrong_status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert body["type"] == "authentication_error"
    assert right_status == 200


def test_substrate_sends_its_embedded_servers_key_and_shows_it_nowhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)
    with Substrate() as client:
        result = client.run(graph(node("a")))
        assert isinstance(client.backend, EmbeddedEngine)
        embedded = client.backend.server
        assert embedded is not None
        key = embedded.api_key
        shown = [repr(client), str(client), repr(embedded), repr(client._transport())]

    assert result.outputs["a"]["text"]
    assert len(key) >= 32
    assert not any(key in text for text in shown)
    other = EmbeddedServer()
    assert other.api_key != key  # each server makes its own


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_compose_takes_only_json(serve: Serve, content_type: str | None) -> None:
    url = await serve(Engine())
    headers = {"Content-Type": content_type} if content_type else {}

    status, _, body = await asyncio.to_thread(raw_post, url, headers)

    assert status == 415
    assert body["type"] == "invalid_request_error"
    assert "application/json" in body["message"]


async def test_json_with_a_charset_is_json(serve: Serve) -> None:
    url = await serve(Engine())
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert (await asyncio.to_thread(raw_post, url, headers))[0] == 200


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:{port}",
        "127.0.0.1.evil.example:{port}",
        "localhost.evil.example",
        "127.0.0.2:{port}",
        "127.0.0.1:{port}x",
        "[::1",
        "",
    ],
)
async def test_a_loopback_connection_must_name_a_loopback_host(serve: Serve, host: str) -> None:
    url = await serve(Engine())
    port = urlsplit(url).port

    status, _, body = await asyncio.to_thread(
        raw_post, url, {**JSON, "Host": host.format(port=port)}
    )

    assert status == 421
    assert body["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:{port}", "localhost:{port}", "LocalHost", "[::1]:{port}"]
)
async def test_loopback_hosts_are_let_in(serve: Serve, host: str) -> None:
    url = await serve(Engine())
    port = urlsplit(url).port
    status, _, _ = await asyncio.to_thread(raw_post, url, {**JSON, "Host": host.format(port=port)})
    assert status == 200


async def test_allowed_hosts_adds_a_name(serve: Serve) -> None:
    url = await serve(Engine(), allowed_hosts=["api.example.com"])
    headers = {**JSON, "Host": "api.example.com:443"}
    assert (await asyncio.to_thread(raw_post, url, headers))[0] == 200
    headers = {**JSON, "Host": "other.example.com"}
    assert (await asyncio.to_thread(raw_post, url, headers))[0] == 421


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/compose", 405), ("POST", "/other", 404), ("GET", "/", 404), ("PUT", "/x", 404)],
)
async def test_every_route_asks_for_the_key_then_answers_in_json(
    serve: Serve, session: aiohttp.ClientSession, method: str, path: str, status: int
) -> None:
    url = await serve(Engine(), api_key="secret-key")

    async with session.request(method, f"{url}{path}") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        refused = await response.json()
    headers = {"Authorization": "Bearer secret-key"}
    async with session.request(method, f"{url}{path}", headers=headers) as response:
        assert response.status == status
        assert response.content_type == "application/json"
        answered = await response.json()
        if status == 405:
            assert response.headers["Allow"] == "POST"

    assert refused["type"] == "authentication_error"
    assert answered["type"] == "invalid_request_error"
    assert path in answered["message"]
    assert "secret-key" not in json.dumps([refused, answered])
