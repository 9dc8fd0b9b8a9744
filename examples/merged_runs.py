"""Three runs merged into one stream with ``merge_runs``: each item arrives labelled by its run.

The runs go concurrently; ``RunEvent(run, event)`` says which one an item belongs to. Each run
is piped first, so the merged items hold its text chunks (``RunEvent[str, str]``). A run that
fails would not stop the others: the loop would end with ``RunsFailed`` once they are done.
``rxsubstrate.aiterate`` reads it all with ``async for`` on the running loop. Run it with
``python examples/merged_runs.py`` (embedded local engine).
"""

from __future__ import annotations

import asyncio

from rxsubstrate import ComputeText, Substrate, aiterate, merge_runs, ops
from rxsubstrate.engine import Engine

TOPICS = ("windmills", "lighthouses", "glaciers")
STORIES = {topic: ComputeText(prompt=f"tell me about {topic}", max_tokens=12) for topic in TOPICS}


async def main() -> None:
    async with Substrate(engine=Engine(chunk_delay=0.002)) as client:
        runs = {topic: client.stream(story).pipe(ops.text()) for topic, story in STORIES.items()}
        texts = dict.fromkeys(TOPICS, "")
        async for item in aiterate(merge_runs(runs)):
            print(f"{item.run:>12} | {item.event!r}", flush=True)
            texts[item.run] += item.event
    for topic, text in texts.items():
        print(f"{topic:>12} = {text}")
    print("all runs complete")


if __name__ == "__main__":
    asyncio.run(main())
