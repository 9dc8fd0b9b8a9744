"""What a user reads when a server, a proxy or the configuration is wrong: rxsubstrate's own
typed errors in plain words, never aiohttp's raw exceptions or texts (a made-up "400", a class
name, a UnicodeError), and never a key."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rxsubstrate import ProtocolError, StreamInterrupted, Substrate, TransportError
from tests.fault_server import FaultServer, answer, raw
from tests.replay_server import ReplayServer, Reply, seed_events, sse
from tests.server_thread import ServerThread

DAG: dict[str, Any] = {"nodes": [], "edges": [], "initial_args": {}, "futures": [], "id": "g"}
SECRET = "sk-very-secret-key"
RAW_WORDS = ("ClientResponseError", "400, message", "Error:", "aiohttp", "\n")


def fail(url: str, mode: str) -> Exception:
    """The error a run against ``url`` ends with, streamed or not."""
    with Substrate(api_key=SECRET, base_url=url, retry=None) as client:
        try:
            if mode == "stream":
                list(client.stream(DAG).iter())
            else:
                client.run(DAG)
        except Exception as exc:
            return exc
    raise AssertionError("the run did not fail")


def assert_plain(error: Exception) -> None:
    message = str(error)
    for word in RAW_WORDS:
        assert word not in message, f"{word!r} in {message!r}"
    assert SECRET not in message


@pytest.mark.parametrize("mode", ["stream", "run"])
@pytest.mark.parametrize(
    ("data", "detail"),
    [
        # aiohttp's own words differ across versions; the bytes it quotes do not.
        (b"HTTP/1.1 abc\r\n\r\n", "Invalid status code: b'HTTP/1.1 abc'"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "b'SSH-2.0-OpenSSH_9.2'"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", "Got more than 8190 bytes"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: x\r\n\r\n",
            "Invalid character in Content-Length",
        ),
    ],
    ids=["status-line", "not-http", "huge-header", "content-length"],
)
def test_an_answer_that_is_not_http_is_a_protocol_error(
    mode: str, data: bytes, detail: str
) -> None:
    with FaultServer(raw(data)) as server:
        error = fail(server.url, mode)
    assert isinstance(error, ProtocolError)
    assert str(error).startswith("the server's answer is not valid HTTP: ")
    assert detail in str(error)
    assert_plain(error)


def test_a_body_that_does_not_decode_names_the_encoding() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
    data = head + b"\r\nnot gzip"
    with FaultServer(raw(data)) as server:
        error = fail(server.url, "stream")
    assert isinstance(error, StreamInterrupted)
    assert str(error).endswith("after 0 event(s): Can not decode content-encoding: gzip")
    assert_plain(error)


@pytest.mark.parametrize("mode", ["stream", "run"])
@pytest.mark.parametrize(
    ("location", "message"),
    [
        (
            f"ftp://example.com/{SECRET}",
            "redirected to ftp://example.com/<redacted>, which is not an http(s) URL",
        ),
        ("http://[::1/compose", "redirected to http://[::1/compose, which is not a URL"),
        ("/compose", "the server redirected 10 times, last to http://127.0.0.1:"),
    ],
    ids=["not-http", "not-a-url", "loop"],
)
def test_redirects_that_cannot_be_followed_say_where_to(
    mode: str, location: str, message: str
) -> None:
    with FaultServer(answer(307, headers={"Location": location}, content_type=None)) as server:
        error = fail(server.url, mode)
    assert type(error) is TransportError
    assert message in str(error)
    assert_plain(error)


class TLSServer(ServerThread):
    """A loopback TLS server with a self-signed certificate: no client trusts it."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert, key)
        self._server: asyncio.Server | None = None

    async def _start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context)
        return f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test with")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.mark.parametrize("mode", ["stream", "run"])
def test_a_refused_certificate_says_why(self_signed: tuple[Path, Path], mode: str) -> None:
    with TLSServer(*self_signed) as server:
        error = fail(server.url, mode)
    assert type(error) is TransportError
    assert (
        str(error)
        == "the server's TLS certificate was refused (127.0.0.1): self-signed certificate"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://a..b", "base_url's host is not a valid name"),
        ("http://256.1.1.1:8787", "base_url's host is not an IPv4 address"),
        ("http://127.1:8787", "base_url's host is not an IPv4 address"),
    ],
)
def test_a_host_no_request_could_reach_is_refused_when_the_client_is_made(
    url: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Substrate(base_url=url)


def test_credentials_in_the_url_and_a_key_are_refused_together() -> None:
    with pytest.raises(
        ValueError, match=r"credentials \(user:password@\) and an API key"
    ) as caught:
        Substrate(api_key=SECRET, base_url="http://user:hunter2@127.0.0.1:8787")
    assert "hunter2" not in str(caught.value)


def test_credentials_in_the_url_alone_are_sent_as_basic_auth() -> None:
    body = sse(*(msgspec.json.encode(e) for e in seed_events()))
    with ReplayServer(Reply([body])) as server:
        url = server.url.replace("http://", "http://user:pw@")
        with Substrate(base_url=url) as client:
            assert len(list(client.stream(DAG).iter())) == len(seed_events())
        assert server.requests[0].headers["Authorization"] == "Basic dXNlcjpwdw=="


def test_a_password_in_the_url_is_in_no_error() -> None:
    with FaultServer(
        answer(307, headers={"Location": "ftp://x/hunter2"}, content_type=None)
    ) as server:
        url = server.url.replace("http://", "http://user:hunter2@")
        with Substrate(base_url=url, retry=None) as client, pytest.raises(TransportError) as caught:
            list(client.stream(DAG).iter())
    assert "hunter2" not in str(caught.value)
    assert "<redacted>" in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Team": f"{SECRET}\n"}, r"additional_headers\['X-Team'\] must be a string without"),
        ({"X Team": "a"}, "'X Team' is not a valid HTTP header name"),
        ({"X-Team": 7}, r"additional_headers\['X-Team'\] must be a string"),
    ],
)
def test_headers_http_cannot_carry_are_refused_when_the_client_is_made(
    headers: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Substrate(additional_headers=headers)
    assert SECRET not in str(caught.value)
