"""The built-in nodes: local stand-ins whose outputs have the shapes the real nodes return.

Text comes from the engine's ``TextGenerator`` (deterministic: the same node kind and arguments
give the same text), JSON from ``json_schema`` (see ``_jsongen``). Streaming nodes yield one delta
per token; nodes with several choices interleave them round-robin, as ``array.item`` deltas.
``RunPython`` is refused with a node error: the engine never unpickles code. The streaming
built-ins are ``trusted_stream``s: the engine takes their deltas as they are, and the text nodes
hand over their whole output at the end instead of having every delta folded (``_trusted``).

Nothing here holds the loop for long: JSON is built on a budget (``EngineLimits.json_steps`` and
``json_bytes`` per node, over all its choices or prompts) by a walk that pauses every few hundred
steps, and the batch nodes give the loop a turn between prompts (their count is capped by
``EngineLimits.max_batch_prompts`` when the arguments are checked).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from itertools import zip_longest
from typing import Any

from .._errors import InvalidNodeArgs
from .._wire import array_item
from ._budget import Budget, drive
from ._impl import NodeContext, NodeImpl
from ._jsongen import JsonGenerator, delta_chunks
from ._kinds import MODEL_NODES, choice_count
from ._limits import EngineLimits
from ._text import DEFAULT_MAX_TOKENS, TextGenerator, seed_of
from ._trusted import WholeOutput, trusted_stream

__all__ = ["builtin_impls"]


def builtin_impls(text: TextGenerator, limits: EngineLimits) -> dict[str, NodeImpl]:
    """Every built-in node kind's implementation, generating text with ``text``."""
    nodes = _Builtins(text, limits)
    impls: dict[str, NodeImpl] = {
        "Box": _box,
        "If": _if,
        "RunPython": _run_python,
        "ComputeText": nodes.compute_text,
        "Firellava13B": nodes.compute_text,
        "MultiComputeText": nodes.multi_compute_text,
        "ComputeJSON": nodes.compute_json,
        "MultiComputeJSON": nodes.multi_compute_json,
        "BatchComputeText": nodes.batch_compute_text,
        "BatchComputeJSON": nodes.batch_compute_json,
    }
    impls.update(dict.fromkeys(MODEL_NODES, nodes.model_node))
    return impls


async def _box(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
    return {"value": args.get("value")}


async def _run_python(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
    # Unpickling runs whatever code the pickle names, and a dag is a stranger's program: the
    # node answers with an error (the rest of the graph runs) instead of running it.
    raise InvalidNodeArgs(
        "RunPython is not available offline: the local engine never runs pickled Python"
        " functions, since unpickling one runs arbitrary code on this machine. Run this graph on"
        " the hosted Substrate API, or, for graphs you wrote yourself, register an implementation"
        ' with engine.register("RunPython", impl)'
    )


async def _if(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
    return {
        "result": args.get("value_if_true") if args.get("condition") else args.get("value_if_false")
    }


class _Builtins:
    def __init__(self, text: TextGenerator, limits: EngineLimits) -> None:
        self._text = text
        self._limits = limits

    @trusted_stream(whole_output=True)
    async def compute_text(self, args: dict[str, Any], context: NodeContext) -> AsyncIterator[Any]:
        parts: list[str] = []
        for chunk in self._text_chunks(context.kind, args, 0):
            parts.append(chunk)
            yield {"text": chunk}
        yield WholeOutput({"text": "".join(parts)})

    @trusted_stream(whole_output=True)
    async def multi_compute_text(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[Any]:
        count = choice_count(args)
        parts: list[list[str]] = [[] for _ in range(count)]
        choices = [self._text_chunks(context.kind, args, i) for i in range(count)]
        for index, chunk in _round_robin(choices):
            parts[index].append(chunk)
            yield {"choices": array_item(index, {"text": chunk})}
        yield WholeOutput({"choices": [{"text": "".join(p)} for p in parts]})

    @trusted_stream(whole_output=False)
    async def compute_json(self, args: dict[str, Any], context: NodeContext) -> AsyncIterator[Any]:
        (value,) = await self._json(context.kind, args, 1)
        for chunk in delta_chunks(value):
            yield {"json_object": chunk}

    @trusted_stream(whole_output=False)
    async def multi_compute_json(
        self, args: dict[str, Any], context: NodeContext
    ) -> AsyncIterator[Any]:
        values = await self._json(context.kind, args, choice_count(args))
        for index, chunk in _round_robin([delta_chunks(v) for v in values]):
            yield {"choices": array_item(index, {"json_object": chunk})}

    @trusted_stream(whole_output=False)
    async def model_node(self, args: dict[str, Any], context: NodeContext) -> AsyncIterator[Any]:
        """The model-named nodes: ``choices`` of ``text``, or of ``json_object`` with a schema."""
        count = choice_count(args)
        choices: list[Iterator[dict[str, Any]]]
        if args.get("json_schema") is not None:
            values = await self._json(context.kind, args, count)
            choices = [({"json_object": c} for c in delta_chunks(v)) for v in values]
        else:
            choices = [
                ({"text": c} for c in self._text_chunks(context.kind, args, i))
                for i in range(count)
            ]
        for index, chunk in _round_robin(choices):
            yield {"choices": array_item(index, chunk)}

    async def batch_compute_text(
        self, args: dict[str, Any], context: NodeContext
    ) -> dict[str, Any]:
        outputs = []
        for prompt in args.get("prompts") or []:
            one = {**args, "prompts": None, "prompt": prompt}
            outputs.append({"text": "".join(self._text_chunks(context.kind, one, 0))})
            await asyncio.sleep(0)  # a turn for the loop between prompts
        return {"outputs": outputs}

    async def batch_compute_json(
        self, args: dict[str, Any], context: NodeContext
    ) -> dict[str, Any]:
        generator = self._json_generator(args)
        outputs = []
        for prompt in args.get("prompts") or []:
            seed = seed_of(context.kind, {**args, "prompts": None, "prompt": prompt}, 0)
            value = await drive(generator.value(str(prompt or ""), seed))
            outputs.append({"json_object": value})
            await asyncio.sleep(0)
        return {"outputs": outputs}

    def _text_chunks(self, kind: str, args: dict[str, Any], choice: int) -> Iterator[str]:
        budget = args.get("max_tokens")
        budget = DEFAULT_MAX_TOKENS if budget is None else max(int(budget), 0)
        prompt = str(args.get("prompt") or "")
        chunks = iter(self._text(prompt, seed=seed_of(kind, args, choice), max_tokens=budget))
        # Cut at the budget even if a custom generator overruns it; an empty text is still a text,
        # so the output always has its field.
        first = next(chunks, "") if budget > 0 else ""
        yield first
        for _, chunk in zip(range(budget - 1), chunks, strict=False):
            yield chunk

    async def _json(self, kind: str, args: dict[str, Any], count: int) -> list[Any]:
        """``count`` values for the node's ``json_schema`` (one per choice), on one budget."""
        generator = self._json_generator(args)
        prompt = str(args.get("prompt") or "")
        return [await drive(generator.value(prompt, seed_of(kind, args, i))) for i in range(count)]

    def _json_generator(self, args: dict[str, Any]) -> JsonGenerator:
        budget = Budget("json_schema", steps=self._limits.json_steps, size=self._limits.json_bytes)
        return JsonGenerator(args.get("json_schema") or {}, self._text, budget)


def _round_robin(sources: list[Iterator[Any]]) -> Iterator[tuple[int, Any]]:
    """One chunk from each source in turn, skipping sources that ran out."""
    done = object()
    for row in zip_longest(*sources, fillvalue=done):
        for index, chunk in enumerate(row):
            if chunk is not done:
                yield index, chunk
