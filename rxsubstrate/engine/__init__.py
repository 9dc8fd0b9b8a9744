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

try:
    import jinja2 as _jinja2
    import jq as _jq
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        f"rxsubstrate.engine needs the engine extra ({exc.name} is missing):"
        " pip install 'rxsubstrate[engine]'"
    ) from exc

from ._engine import Engine
from ._errors import GraphInvalid, InvalidNodeArgs
from ._impl import NodeContext, NodeImpl, ResultNodeImpl, StreamingNodeImpl
from ._plan import Plan
from ._text import TextGenerator, generate_text

__all__ = [
    "Engine",
    "GraphInvalid",
    "InvalidNodeArgs",
    "NodeContext",
    "NodeImpl",
    "Plan",
    "ResultNodeImpl",
    "StreamingNodeImpl",
    "TextGenerator",
    "generate_text",
]

del _jinja2, _jq

for _name in ("Engine", "Plan", "TextGenerator"):
    globals()[_name].__module__ = "rxsubstrate.engine"
