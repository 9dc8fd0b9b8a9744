"""``Substrate()`` with no key and no URL: the embedded engine, reached over real loopback SSE."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from reactivex.operators import to_list

from rxsubstrate import (
    ClientClosed,
    ComputeText,
    GraphResult,
    MultiComputeText,
    NodeDelta,
    NodeFailed,
    NodeResult,
    Substrate,
    sb,
)
from rxsubstrate.engine import Engine, NodeContext
from rxsubstrate.outputs import ComputeTextOut


@pytest.fixture(autouse=True)
def no_substrate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)


def accepts_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def test_starts_lazily_on_loopback_and_stops_with_the_client() -> None:
    before = set(threading.enumerate())  # another test's client may still await collection
    client = Substrate()
    assert repr(client) == "Substrate(EmbeddedEngine())"
    assert not [t for t in threading.enumerate() if t.name == "rxsubstrate-embedded-server"]
    a = ComputeText(prompt="tell me about windmills", max_tokens=10)
    list(client.stream(a).iter())
    url = client.base_url
    assert urlsplit(url).hostname == "127.0.0.1"
    assert accepts_connections(url)
    client.close()
    assert not accepts_connections(url)
    started = set(threading.enumerate()) - before
    assert not [t for t in started if t.name.startswith("rxsubstrate")]
    with pytest.raises(ClientClosed):
        client.run(a)


def test_seed_example_streams_both_nodes_with_typed_results() -> None:
    a = ComputeText(prompt="tell me about windmills", max_tokens=10)
    b = ComputeText(prompt=sb.concat("is this true? ", a.future.text), max_tokens=10)
    with Substrate() as substrate:
        events = list(substrate.stream(a, b).iter())
        result = substrate.run(a, b)
    streamed = {
        node.id: "".join(
            e.data["text"] for e in events if isinstance(e, NodeDelta) and e.node_id == node.id
        )
        for node in (a, b)
    }
    assert all(streamed.values())
    final = events[-1]
    assert isinstance(final, GraphResult)
    assert final.outputs == result.outputs  # streamed and non-streamed runs agree
    assert result.get(b) == ComputeTextOut(text=streamed[b.id])
    assert sum(isinstance(e, NodeResult) for e in events) == 2


async def test_async_paths_on_the_embedded_engine() -> None:
    m = MultiComputeText(prompt="name three rivers", num_choices=3, max_tokens=6)
    async with Substrate() as substrate:
        events = [e async for e in (await substrate.async_stream(m)).async_iter()]
        result = await substrate.async_run(m)
    indexes = {e.data["choices"]["index"] for e in events if isinstance(e, NodeDelta)}
    assert indexes == {0, 1, 2}
    assert len(result.get(m).choices) == 3


def test_custom_engine_with_a_failing_node() -> None:
    engine = Engine()

    @engine.node("Flaky")
    async def flaky(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        yield {"text": "partial "}
        raise RuntimeError("the model went away")

    from rxsubstrate import Node

    node: Node[Any] = Node("Flaky", prompt="x")
    with Substrate(engine=engine) as substrate:
        result = substrate.run(node)
    with pytest.raises(NodeFailed, match="the model went away"):
        result.get(node)


def test_closing_the_client_mid_run_interrupts_the_stream_not_hangs() -> None:
    started = threading.Event()
    engine = Engine()

    @engine.node("Endless")
    async def endless(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        for _ in range(100_000):  # bounded: far longer than the test waits
            started.set()
            yield {"text": "."}
            await asyncio.sleep(0.001)

    from rxsubstrate import Node

    substrate = Substrate(engine=engine)
    errors: list[Exception] = []
    done = threading.Event()
    substrate.stream(Node("Endless")).subscribe(
        on_error=lambda e: (errors.append(e), done.set()), on_completed=done.set
    )
    assert started.wait(10)
    substrate.close()
    assert done.wait(10)
    assert len(errors) == 1
    assert isinstance(errors[0], ClientClosed)


def test_closing_the_client_under_iter_raises_in_the_consumer() -> None:
    engine = Engine()

    @engine.node("Endless")
    async def endless(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        for _ in range(100_000):
            yield {"text": "."}
            await asyncio.sleep(0.001)

    from rxsubstrate import Node

    substrate = Substrate(engine=engine)
    iterator = substrate.stream(Node("Endless")).iter()
    next(iterator)
    substrate.close()
    with pytest.raises(ClientClosed):
        list(iterator)  # the events already buffered, then the error: never a quiet end


def test_typed_outputs_and_choice_text_on_a_real_run() -> None:
    from rxsubstrate import ops
    from rxsubstrate.outputs import MultiComputeTextOut

    a = ComputeText(prompt="tell me about windmills", max_tokens=8)
    m = MultiComputeText(
        prompt=sb.concat("titles for ", a.future.text), num_choices=3, max_tokens=5
    )
    with Substrate() as substrate:
        run = substrate.stream(a, m)
        (out,) = run.pipe(ops.for_node(m), ops.typed(m), to_list()).run()
        second = "".join(run.pipe(ops.text(m, choice=1), to_list()).run())
        outputs = run.pipe(ops.assemble(), to_list()).run()
    assert isinstance(out, MultiComputeTextOut)
    assert second == out.choices[1].text != out.choices[0].text
    assert {o.node_id for o in outputs} == {a.id, m.id}
    assert not any(o.mismatch for o in outputs)
