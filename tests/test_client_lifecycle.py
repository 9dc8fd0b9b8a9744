"""A client's lifetime: scripts that never close it, ``close()`` at any moment and from anywhere,
errors raised by subscribers, iterators that are dropped instead of closed."""

from __future__ import annotations

from rxsubstrate import ClientClosed, SubstrateError


def test_client_closed_is_a_substrate_error_and_misuse() -> None:
    assert issubclass(ClientClosed, SubstrateError)
    assert issubclass(ClientClosed, RuntimeError)
