"""EmbeddedServer: the app on a loopback port from a daemon thread, started and stopped at will."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from rxsubstrate import ServerClosed
from rxsubstrate.engine import Engine
from rxsubstrate.server import EmbeddedServer
from tests.wire import graph, node

from .conftest import Hang

TIMEOUT = 10.0


def post(server: EmbeddedServer, wire_graph: Any) -> Any:
    request = urllib.request.Request(
        f"{server.start()}/compose",
        data=json.dumps({"dag": wire_graph}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {server.api_key}",
        },
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return json.loads(response.read())


def server_threads() -> int:
    return sum(t.name == "rxsubstrate-embedded-server" for t in threading.enumerate())


def test_start_serves_on_loopback_and_close_joins_the_thread() -> None:
    before = server_threads()
    server = EmbeddedServer()
    assert server_threads() == before  # lazy: nothing runs until start()

    url = server.start()

    assert url.startswith("http://127.0.0.1:")
    assert server.start() == url
    assert post(server, graph(node("a")))["data"]["a"]["text"]
    server.close()
    server.close()
    assert server_threads() == before
    with pytest.raises(ServerClosed, match="closed"):
        server.start()


def test_two_servers_run_side_by_side() -> None:
    with EmbeddedServer() as one, EmbeddedServer(Engine()) as two:
        assert one.start() != two.start()
        assert one.api_key != two.api_key
        assert post(one, graph(node("a"))) == post(two, graph(node("a")))


def test_close_without_start_is_fine() -> None:
    EmbeddedServer().close()


def test_close_cancels_a_run_in_flight() -> None:
    hang = Hang(threading.Event)
    engine = Engine()
    engine.register("Hang", hang)
    server = EmbeddedServer(engine)
    where = urlsplit(server.start())
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=TIMEOUT)
    try:
        body = json.dumps({"dag": graph(node("h", "Hang", x=1))})
        headers = {
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {server.api_key}",
        }
        connection.request("POST", "/compose", body, headers)
        response = connection.getresponse()
        assert b'"first"' in response.readline()
        assert hang.started.wait(TIMEOUT)

        server.close()

        assert hang.cancelled.is_set()
        try:
            rest = response.read()
        except http.client.IncompleteRead as exc:
            rest = exc.partial
        assert b"graph.result" not in rest
    finally:
        connection.close()
        server.close()


def test_the_server_package_exports_exactly_its_api() -> None:
    import rxsubstrate.server

    assert rxsubstrate.server.__all__ == [
        "EmbeddedServer",
        "ServerLimits",
        "create_app",
        "serve_on",
    ]
    assert EmbeddedServer.__module__ == "rxsubstrate.server"
