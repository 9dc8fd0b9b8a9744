"""Where a client's runs go: the backend its arguments (and the environment) name."""

from __future__ import annotations

from typing import Any

import pytest

from rxsubstrate import ComputeText, EmbeddedEngine, RemoteServer, Substrate
from rxsubstrate.engine import Engine


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)


def backend_of(**kwargs: Any) -> Any:
    client = Substrate(**kwargs)
    client.close()
    return client.backend


def test_nothing_given_is_the_embedded_engine() -> None:
    assert isinstance(backend_of(), EmbeddedEngine)


def test_a_key_alone_is_the_hosted_api() -> None:
    backend = backend_of(api_key="sk-1")
    assert isinstance(backend, RemoteServer)
    assert backend.address().base_url == "https://api.substrate.run"
    assert "sk-1" not in repr(backend) + repr(backend.address())


def test_the_environment_names_a_remote_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBSTRATE_BASE_URL", "http://127.0.0.1:8787")
    monkeypatch.setenv("SUBSTRATE_API_KEY", "sk-env")
    address = backend_of().address()
    assert (address.base_url, address.api_key) == ("http://127.0.0.1:8787", "sk-env")


def test_an_engine_is_embedded_even_with_a_server_url_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUBSTRATE_BASE_URL", "http://127.0.0.1:8787")
    assert isinstance(backend_of(engine=Engine()), EmbeddedEngine)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"engine": Engine(), "base_url": "http://127.0.0.1:8787"},
        {"backend": EmbeddedEngine(), "base_url": "http://127.0.0.1:8787"},
        {"backend": EmbeddedEngine(), "engine": Engine()},
        {"backend": RemoteServer("http://127.0.0.1:8787"), "api_key": "sk-2"},
    ],
)
def test_naming_two_places_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not"):
        Substrate(**kwargs)


def test_a_remote_server_checks_what_it_is_given() -> None:
    with pytest.raises(ValueError, match="http"):
        RemoteServer("ftp://example.org")
    with pytest.raises(ValueError, match="key") as refused:
        RemoteServer("http://127.0.0.1:8787", "sk-3\n")
    assert "sk-3" not in str(refused.value)


def test_the_embedded_engine_starts_on_the_first_run_and_stops_with_its_client() -> None:
    backend = EmbeddedEngine()
    with Substrate(backend=backend) as client:
        assert backend.server is None
        result = client.run(ComputeText(prompt="windmills", max_tokens=3))
        server = backend.server
        assert server is not None
        assert server.url is not None
        assert result.outputs
    assert server.url is None  # closed with the client
