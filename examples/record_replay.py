"""Record a run once, then replay it offline: the same events, at once or at the recorded pace.

A recording is an SSE file with the time of each read (``: t=...`` comment lines), so an app that
reacts to events can be tested without a server: ``replay(path, speed=None)`` gives the same
kind of stream as ``substrate.stream(...)``, with the same events. Run it with
``python examples/record_replay.py [run.sse]`` (embedded local engine); the recording is left in
the file given, else in a temporary one.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from reactivex import operators as rx_ops

from rxsubstrate import ComputeText, NodeDelta, Substrate, ops, record, replay
from rxsubstrate.engine import Engine

STORY = ComputeText(prompt="tell me about windmills", max_tokens=16)


def record_once(path: Path) -> str:
    # The engine waits 20 ms after each chunk, so that the recording has a pace to show.
    with Substrate(engine=Engine(chunk_delay=0.02)) as substrate:
        result = record(substrate.stream(STORY), path)
    text: str = result.outputs[STORY.id]["text"]
    print(f"recorded {path} ({path.stat().st_size} bytes): {text!r}")
    return text


async def at_the_recorded_pace(path: Path) -> None:
    """What the app saw live, again: each chunk when it came."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async for event in replay(path, speed=1.0).async_iter():
        if isinstance(event, NodeDelta):
            print(f"  {loop.time() - started:6.3f} s  {event.data['text']!r}", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch) / "run.sse"
        text = record_once(path)
        # Offline from here on: no client, no server, the same events every time.
        replayed = replay(path, speed=None)
        first, second = list(replayed.iter()), list(replayed.iter())
        chunks = replayed.pipe(ops.text(STORY), rx_ops.to_list()).run()
        print(f"replayed at once, twice: {len(first)} events, equal: {first == second}")
        print(f"its text, piped through ops.text(): {''.join(chunks)!r}")
        print("replayed at the recorded pace:")
        asyncio.run(at_the_recorded_pace(path))
        if "".join(chunks) != text or first != second:
            print("the replay differs from the recording", file=sys.stderr)
            return 1
    print("replay matches the recording")
    return 0


if __name__ == "__main__":
    sys.exit(main())
