"""A progressive view: the story as it stands after every delta, as ``snapshots()`` gives it.

Each snapshot is immutable and costs O(1) to make, whatever the length so far; reading
``snapshot.output`` materialises it. The last snapshot of a node is ``final``: its
``node.result``. ``rxsubstrate.iterate`` reads the pipeline with a plain ``for`` loop: a failure
is raised by it, and a ``break`` would cancel the run. Run it with
``python examples/progressive_view.py`` (embedded local engine, paced a little like a remote
model).
"""

from __future__ import annotations

from rxsubstrate import ComputeText, Substrate, iterate, ops
from rxsubstrate.engine import Engine

story = ComputeText(prompt="tell me about windmills", max_tokens=24)


def main() -> None:
    with Substrate(engine=Engine(chunk_delay=0.005)) as client:
        view = client.stream(story).pipe(ops.raise_on_error(), ops.snapshots())
        for snapshot in iterate(view):
            mark = "final" if snapshot.final else f"v{snapshot.version:<3}"
            text: str = snapshot.output["text"]
            print(f"[{mark}] {text}", flush=True)


if __name__ == "__main__":
    main()
