"""A deterministic, realistic Substrate event stream of exactly N events.

The mix is what a busy graph run sends: up to three nodes streaming at once with their deltas
interleaved; ComputeText deltas ``{"text": token}``; MultiComputeText deltas
``{"choices": {"object": "array.item", "index": i, "item": {"text": token}}}`` over four
choices; a ``node.result`` with each node's whole output when it ends; now and then a failed node
(``api_error``) whose dependent fails with ``dependency_error``; and a final ``graph.result`` with
the outputs of the last few nodes (intermediate nodes are hidden, as in real graphs, so no event
grows with N and a client's memory should not either).

Tokens are short and include multi-byte UTF-8 and characters JSON must escape, so a decoder that
only handles ASCII cannot look fast. The same ``(n, seed)`` always gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Final

from rxsubstrate._events import (
    ErrorData,
    GraphResult,
    NodeDelta,
    NodeError,
    NodeResult,
)
from rxsubstrate._sse_writer import wire_sse

__all__ = ["Stream", "build_stream"]

# Mostly ASCII word pieces, as a tokenizer emits them, plus the hard cases.
_TOKENS: Final = (
    [" the", " a", " of", " and", " to", "ing", "ed", " model", " stream", ".", ",", " is"] * 6
    + [" café", "é", " naïve", " 日本", "語", " 東京", "😀", "🚀", " Ωmega", "ß"]
    + ['"', ' "quoted"', "\\", "\\n", "\n", "\n\n", "\t", " C:\\path", "</s>", "\u2028"]
)
_CHOICES: Final = 4
_MAX_ACTIVE: Final = 3
_VISIBLE: Final = 3  # how many of the last nodes graph.result reports


@dataclass
class Stream:
    """One precomputed stream: each event's SSE bytes, and what a consumer should see."""

    events: list[bytes]
    body: bytes
    #: node id -> its final output, for a consumer that reassembles one node.
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def stats(self) -> dict[str, Any]:
        text_node = next((k for k, v in self.outputs.items() if "text" in v), None)
        return {
            "events": len(self.events),
            "bytes": len(self.body),
            "text_node": text_node,
            "text_output": self.outputs.get(text_node or "", {}),
        }


class _Node:
    __slots__ = ("deltas_left", "id", "multi", "parts")

    def __init__(self, node_id: str, multi: bool, deltas: int) -> None:
        self.id = node_id
        self.multi = multi
        self.deltas_left = deltas
        self.parts: list[list[str]] = [[] for _ in range(_CHOICES if multi else 1)]

    def output(self) -> dict[str, Any]:
        texts = ["".join(p) for p in self.parts]
        if self.multi:
            return {"choices": [{"text": t} for t in texts]}
        return {"text": texts[0]}


def build_stream(n: int, seed: int = 1) -> Stream:
    """Exactly ``n`` events (``n >= 2``), the last one ``graph.result``."""
    if n < 2:
        raise ValueError("a stream needs at least a delta and graph.result")
    rng = random.Random(seed)
    out: list[bytes] = []
    outputs: dict[str, dict[str, Any]] = {}
    finished: list[str] = []
    active: list[_Node] = []
    counter = 0

    def emit(event: Any) -> None:
        out.append(wire_sse(event))

    def finish(node: _Node) -> None:
        active.remove(node)
        outputs[node.id] = node.output()
        finished.append(node.id)
        emit(NodeResult(node.id, outputs[node.id]))

    while True:
        left = n - len(out)
        if left <= len(active) + 1:
            break
        if not active or (len(active) < _MAX_ACTIVE and rng.random() < 0.02):
            counter += 1
            if counter % 40 == 0 and left > len(active) + 3:
                failed = f"ComputeText_{counter}"
                overloaded = ErrorData("api_error", f"{failed}: upstream model overloaded")
                emit(NodeError(failed, overloaded))
                counter += 1
                emit(
                    NodeError(
                        f"ComputeText_{counter}",
                        ErrorData("dependency_error", f"depends on {failed}, which failed"),
                    )
                )
                continue
            multi = counter % 5 == 0
            kind = "MultiComputeText" if multi else "ComputeText"
            active.append(_Node(f"{kind}_{counter}", multi, rng.randint(60, 600)))
            continue
        node = rng.choice(active)
        if node.deltas_left == 0:
            finish(node)
            continue
        node.deltas_left -= 1
        token = rng.choice(_TOKENS)
        if node.multi:
            index = rng.randrange(_CHOICES)
            node.parts[index].append(token)
            item = {"object": "array.item", "index": index, "item": {"text": token}}
            emit(NodeDelta(node.id, {"choices": item}))
        else:
            node.parts[0].append(token)
            emit(NodeDelta(node.id, {"text": token}))
    for node in list(active):
        finish(node)
    visible = {node_id: outputs[node_id] for node_id in finished[-_VISIBLE:]}
    emit(GraphResult({"data": visible}))
    assert len(out) == n
    return Stream(out, b"".join(out), outputs)
