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


def check_iteration(client: Substrate, dag: dict[str, Any]) -> None:
    from rxsubstrate import NodeOutput, RunEvent, aiterate, iterate, merge_runs, ops

    stream = client.stream(dag)
    assert_type(iterate(stream.pipe(ops.text())), Iterator[str])
    assert_type(stream.pipe(ops.text(), iterate), Iterator[str])
    assert_type(aiterate(stream.pipe(ops.assemble())), AsyncIterator[NodeOutput])
    assert_type(iterate(merge_runs({"a": stream.pipe(ops.text())})), Iterator[RunEvent[str, str]])
    assert_type(client.stream_many({"a": []}), Observable[RunEvent[str, Event]])
    assert_type(client.stream_many([[]]), Observable[RunEvent[int, Event]])
    assert_type(stream.run(), Event)
    assert_type(stream.pipe(ops.assemble()).run(), NodeOutput)


async def check_await(client: Substrate, dag: dict[str, Any]) -> None:
    from rxsubstrate import NodeOutput, ops

    assert_type(await client.stream(dag), Event)
    assert_type(await client.stream(dag).pipe(ops.assemble()), NodeOutput)


def test_typing_module_imports() -> None:
    assert callable(check_client)
    assert callable(check_iteration)
    assert callable(check_await)


def check_typed_nodes(client: Substrate) -> None:
    from rxsubstrate import ComputeText, MultiComputeText, ops
    from rxsubstrate.outputs import ComputeTextOut, MultiComputeTextOut

    a = ComputeText(prompt="p")
    m = MultiComputeText(prompt="p", num_choices=2)
    assert_type(client.stream(a).pipe(ops.typed(a)), Observable[ComputeTextOut])
    assert_type(
        client.stream(a, m).pipe(ops.for_node(m), ops.typed(m)), Observable[MultiComputeTextOut]
    )
    assert_type(client.run(a).get(a), ComputeTextOut)
    assert_type(client.stream(a).pipe(ops.for_node(a), ops.text()), Observable[str])


def check_sdk_spellings(client: Substrate) -> None:
    # Code written against the official SDK type-checks with only the import changed.
    from rxsubstrate import RunPython, Secrets
    from rxsubstrate.nodes import ComputeText, ComputeTextOut, RunPythonOut

    a = ComputeText(prompt="p")
    code = RunPython(function=lambda obj: obj.upper(), kwargs={"obj": a.future.text})
    assert_type(Substrate.serialize(a, code), dict[str, Any])
    assert_type(client.visualize(a), str)
    assert_type(client.run(a).get(a), ComputeTextOut)
    assert_type(client.run(code).get(code), RunPythonOut)
    Substrate(secrets=Secrets(openai="sk-1", anthropic=None)).close()


async def check_record_and_replay(stream: RunStream) -> None:
    from rxsubstrate import GraphResult, async_record, record, recorded, replay

    assert_type(replay("run.sse"), RunStream)
    assert_type(replay("run.sse", speed=None).iter(), Iterator[Event])
    assert_type(record(stream, "run.sse"), GraphResult)
    assert_type(await async_record(stream, "run.sse"), GraphResult)
    assert_type(recorded(stream, "run.sse"), RunStream)


def check_backends() -> None:
    from rxsubstrate import EmbeddedEngine, RemoteServer
    from rxsubstrate.engine import Engine

    Substrate()
    Substrate("key", "http://127.0.0.1:8787")
    Substrate(engine=Engine())
    Substrate(backend=RemoteServer("http://127.0.0.1:8787"))
    Substrate(backend=EmbeddedEngine(Engine()), timeout=5)
    # One place for the runs to go: mixing the ways of naming it is a type error (an unused
    # ignore would be one too, under mypy --strict).
    Substrate(base_url="http://127.0.0.1:8787", engine=Engine())  # type: ignore[call-overload]
    Substrate(backend=EmbeddedEngine(), base_url="http://x")  # type: ignore[call-overload]
