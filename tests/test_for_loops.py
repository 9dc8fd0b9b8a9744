"""``for`` and ``async for`` straight over a run or a pipeline: they iterate its items, where
Python would otherwise fall back on reactivex's slicing and loop forever on empty slices."""

from __future__ import annotations

import threading

from rxsubstrate import ComputeText, NodeDelta, Substrate, ops
from rxsubstrate.engine import Engine


def test_for_over_a_run_and_a_pipeline() -> None:
    a = ComputeText(prompt="windmills", max_tokens=6)
    with Substrate(engine=Engine()) as substrate:
        stream = substrate.stream(a)
        events = list(stream)  # iter() under the hood, once per loop: one run each
        texts = list(stream.pipe(ops.text(a)))
    assert events == list(substrate_events(a))
    assert "".join(texts) == "".join(e.data["text"] for e in events if isinstance(e, NodeDelta))


def substrate_events(node: ComputeText) -> list[object]:
    with Substrate(engine=Engine()) as other:
        return list(other.stream(node).iter())


async def test_async_for_over_a_run_and_a_pipeline() -> None:
    a = ComputeText(prompt="windmills", max_tokens=6)
    async with Substrate(engine=Engine()) as substrate:
        stream = substrate.stream(a)
        events = [event async for event in stream]
        texts = [text async for text in stream.pipe(ops.text(a))]
    assert type(events[-1]).__name__ == "GraphResult"
    assert "".join(texts) == events[-1].outputs[a.id]["text"]


def test_the_loop_ends_rather_than_slicing_forever() -> None:
    a = ComputeText(prompt="windmills", max_tokens=2)
    done = threading.Event()
    items: list[object] = []

    def loop() -> None:
        with Substrate(engine=Engine()) as substrate:
            items.extend(iter(substrate.stream(a).pipe(ops.results())))
        done.set()

    threading.Thread(target=loop, daemon=True).start()
    assert done.wait(20), "for over a pipeline never ended"
    assert len(items) == 1
