"""Static checks of the client's typed surface: mypy runs this file in CI (pytest runs it too)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, assert_type

from reactivex import Observable

from rxsubstrate import Event, RunStream, Substrate


def check_client(client: Substrate, dag: dict[str, Any]) -> None:
    stream = client.stream(dag)
    assert_type(stream, RunStream)
    observable: Observable[Event] = stream
    assert observable is stream
    assert_type(stream.iter(), Iterator[Event])
    assert_type(stream.async_iter(), AsyncIterator[Event])
    assert_type(stream.iter_events(), Iterator[str])
    assert_type(stream.async_iter_events(), AsyncIterator[str])


def test_typing_module_imports() -> None:
    assert callable(check_client)
