"""Three runs merged into one stream with ``merge_runs``: each event arrives labelled by its run.

The runs go concurrently; ``RunEvent(run, event)`` says which one an event belongs to. A run
that fails would not stop the others: the merged stream would end with ``RunsFailed`` once they
are done. Run it with ``python examples/merged_runs.py`` (embedded local engine).
"""

from __future__ import annotations

import sys
import threading

from rxsubstrate import ComputeText, GraphResult, NodeDelta, RunEvent, Substrate, merge_runs
from rxsubstrate.engine import Engine

TOPICS = ("windmills", "lighthouses", "glaciers")


STORIES = {topic: ComputeText(prompt=f"tell me about {topic}", max_tokens=12) for topic in TOPICS}


def show(item: RunEvent[str]) -> None:
    event = item.event
    if isinstance(event, NodeDelta):
        print(f"{item.run:>12} | {event.data.get('text', '')!r}", flush=True)
    elif isinstance(event, GraphResult):
        print(f"{item.run:>12} = {event.outputs[STORIES[item.run].id]['text']}", flush=True)


def main() -> int:
    done = threading.Event()
    failures: list[Exception] = []

    def on_error(exc: Exception) -> None:
        failures.append(exc)
        done.set()

    with Substrate(engine=Engine(chunk_delay=0.002)) as client:
        runs = {topic: client.stream(story) for topic, story in STORIES.items()}
        subscription = merge_runs(runs).subscribe(show, on_error, done.set)
        finished = done.wait(30)
        subscription.dispose()
    if not finished or failures:
        print(f"failed: {failures[0] if failures else 'timed out'}", file=sys.stderr)
        return 1
    print("all runs complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
