"""Callbacks on a subscription: a story's text as it streams, each node's result, the end.

A ``RunStream`` is a cold Observable: nothing runs until ``subscribe``. The callbacks run on
the client's loop thread (no asyncio loop runs here), so the main thread waits on an Event.
Code that only waits for the end reads better as a loop: ``for event in
rxsubstrate.iterate(pipeline)`` (see ``progressive_view.py``). Run it with
``python examples/callbacks.py``; it uses the embedded local engine.
"""

from __future__ import annotations

import sys
import threading

from rxsubstrate import (
    ComputeText,
    Event,
    MultiComputeText,
    NodeDelta,
    NodeResult,
    Substrate,
    ops,
    sb,
)

story = ComputeText(prompt="tell me about windmills", max_tokens=40)
titles = MultiComputeText(
    prompt=sb.concat("two titles for: ", story.future.text), num_choices=2, max_tokens=6
)
NAMES = {story.id: "story", titles.id: "titles"}


def main() -> int:
    done = threading.Event()
    failures: list[Exception] = []

    def on_error(exc: Exception) -> None:
        failures.append(exc)
        done.set()

    def on_completed() -> None:
        print("\n[run complete]")
        done.set()

    with Substrate() as client:
        stream = client.stream(story, titles)
        # One subscription, one run: the text as it streams, then the results, in stream order.
        subscription = stream.pipe(ops.raise_on_error()).subscribe(
            on_next=print_event,
            on_error=on_error,
            on_completed=on_completed,
        )
        finished = done.wait(30)
        subscription.dispose()
    if not finished or failures:
        print(f"failed: {failures[0] if failures else 'timed out'}", file=sys.stderr)
        return 1
    return 0


def print_event(event: Event) -> None:
    if isinstance(event, NodeDelta) and event.node_id == story.id:
        print(event.data.get("text", ""), end="", flush=True)
    elif isinstance(event, NodeResult):
        print(f"\n[{NAMES[event.node_id]} done: {event.data}]")


if __name__ == "__main__":
    sys.exit(main())
