"""Give the local engine a node of your own, and run a graph that mixes it with built-in nodes.

Two implementations, one of each shape the engine accepts:

* ``Shout``, an async *generator* function: it yields deltas in wire shape, which the engine
  streams as ``node.delta`` events and merges into the ``node.result`` output;
* ``GenerateImage`` (a Substrate node the engine has no stand-in for), an async function: it
  returns the whole output at once.

The graph is built with the node API (``Node("Shout", ...)`` for a kind of your own) and runs
through ``Substrate(engine=engine)``. Run it with ``python examples/custom_node.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from rxsubstrate import ComputeText, GenerateImage, Node, Substrate, sb, serialize
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


# Nodes of any kind are built with Node(kind, **args); `id=` names them (default: SDK-style ids).
story = ComputeText(prompt="tell me about windmills", max_tokens=12, hide=True, id="story")
loud: Node[Any] = Node("Shout", text=story.future.text, id="loud")
picture = GenerateImage(prompt=sb.concat("A painting of: ", story.future.text), id="picture")
DAG = serialize(loud, picture)  # story comes along: both use its output


def main() -> None:
    # The client runs the graph on this engine, embedded, over the same HTTP/SSE path as a
    # remote server. A bad graph is refused before anything runs, with a message naming it.
    with Substrate(engine=engine) as substrate:
        for event in substrate.stream(loud, picture).iter():
            print(event)


if __name__ == "__main__":
    main()
