"""A local, Substrate-compatible graph engine.

It runs the graph the official SDK serializes (nodes, edges, futures and their directives) and
yields the events a Substrate server streams. Its built-in ``ComputeText``, ``ComputeJSON``,
``MultiComputeText``, model-named nodes, ``Box`` and ``If`` are local stand-ins: they produce
output structurally identical to Substrate's (same fields, same deltas) from a deterministic word
generator, not from a language model. Any other node kind (or a built-in one) can be given an
implementation of your own with ``Engine.register``.

Example::

    engine = Engine()

    @engine.node("Reverse")
    async def reverse(args, context):
        for word in reversed(args["text"].split()):
            yield {"text": word + " "}

    async for event in engine.execute(engine.prepare(dag)):
        print(event)
"""

from .._errors import GraphInvalid, InvalidNodeArgs, SandboxFailed
from .._public import publish
from ._engine import Engine
from ._impl import NodeContext, NodeImpl, ResultNodeImpl, StreamingNodeImpl
from ._limits import DirectiveLimits, EngineLimits
from ._openai import OpenAITextBackend
from ._plan import Plan
from ._text import TextGenerator, generate_text

__all__ = [
    "DirectiveLimits",
    "Engine",
    "EngineLimits",
    "GraphInvalid",
    "InvalidNodeArgs",
    "NodeContext",
    "NodeImpl",
    "OpenAITextBackend",
    "Plan",
    "ResultNodeImpl",
    "SandboxFailed",
    "StreamingNodeImpl",
    "TextGenerator",
    "generate_text",
]

publish(globals(), also=("GraphInvalid", "InvalidNodeArgs", "SandboxFailed"))
