"""Give the local engine a node of your own, and run a graph that mixes it with built-in nodes.

Two implementations, one of each shape the engine accepts:

* ``Shout``, an async *generator* function: it yields deltas in wire shape, which the engine
  streams as ``node.delta`` events and merges into the ``node.result`` output;
* ``GenerateImage`` (a Substrate node the engine has no stand-in for), an async function: it
  returns the whole output at once.

The graph is written as the plain dicts the official SDK sends (``Substrate.serialize``): nodes,
futures, and placeholders ``{"__$$SB_GRAPH_OP_ID$$__": future_id}`` where an argument is another
node's output. Run it with ``python examples/custom_node.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from rxsubstrate.engine import Engine, NodeContext

engine = Engine(chunk_delay=0.02)  # pace the stream a little, like a remote model


@engine.node("Shout")
async def shout(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
    """Streams the text upper-cased, a word at a time, then counts the words."""
    words = args["text"].split()
    for index, word in enumerate(words):
        yield {"text": ("" if index == 0 else " ") + word.upper()}
    yield {"words": len(words)}


@engine.node("GenerateImage")
async def fake_image(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
    """Answers with a tiny placeholder image (a real one would call a model here)."""
    return {"image_uri": f"data:text/plain,{context.node_id}: {args['prompt'][:20]}"}


def placeholder(future_id: str) -> dict[str, str]:
    return {"__$$SB_GRAPH_OP_ID$$__": future_id}


DAG = {
    "nodes": [
        {
            "id": "story",
            "node": "ComputeText",
            "args": {"prompt": "tell me about windmills", "max_tokens": 12},
        },
        {
            "id": "loud",
            "node": "Shout",
            "args": {"text": placeholder("story_text")},
            "_should_output_globally": True,
        },
        {
            "id": "picture",
            "node": "GenerateImage",
            "args": {"prompt": placeholder("caption")},
            "_should_output_globally": True,
        },
    ],
    "futures": [
        {
            "id": "story_text",
            "directive": {
                "type": "trace",
                "origin_node_id": "story",
                "op_stack": [{"future_id": None, "key": "text", "accessor": "attr"}],
            },
        },
        {
            "id": "caption",
            "directive": {
                "type": "string-concat",
                "items": [
                    {"future_id": None, "val": "A painting of: "},
                    {"future_id": "story_text", "val": None},
                ],
            },
        },
    ],
    "edges": [],
}


async def main() -> None:
    plan = engine.prepare(DAG)  # raises GraphInvalid, naming the problem, before anything runs
    async for event in engine.execute(plan):
        print(event)


if __name__ == "__main__":
    asyncio.run(main())
