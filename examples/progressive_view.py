"""A progressive view: the story as it stands after every delta, as ``snapshots()`` gives it.

Each snapshot is immutable and costs O(1) to make, whatever the length so far; reading
``snapshot.output`` materialises it. The last snapshot of a node is ``final``: its
``node.result``. Run it with ``python examples/progressive_view.py`` (embedded local engine,
paced a little like a remote model).
"""

from __future__ import annotations

import sys
import threading

from rxsubstrate import ComputeText, Substrate, ops
from rxsubstrate.engine import Engine
from rxsubstrate.ops import Snapshot

story = ComputeText(prompt="tell me about windmills", max_tokens=24)


def show(snapshot: Snapshot) -> None:
    mark = "final" if snapshot.final else f"v{snapshot.version:<3}"
    text: str = snapshot.output["text"]
    print(f"[{mark}] {text}", flush=True)


def main() -> int:
    done = threading.Event()
    failures: list[Exception] = []

    def on_error(exc: Exception) -> None:
        failures.append(exc)
        done.set()

    with Substrate(engine=Engine(chunk_delay=0.005)) as client:
        view = client.stream(story).pipe(ops.raise_on_error(), ops.snapshots())
        subscription = view.subscribe(show, on_error, done.set)
        finished = done.wait(30)
        subscription.dispose()
    if not finished or failures:
        print(f"failed: {failures[0] if failures else 'timed out'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
