"""``text``: the text of a text-generating node, chunk by chunk."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from reactivex import Observable

from .._errors import NodeFailed
from .._events import Event, NodeDelta, NodeError, NodeResult
from .._pipeline import selecting
from .._wire import ARRAY_ITEM
from ._node_fold import NodeFold, fold_nodes
from ._node_ref import NodeLike, node_ids

__all__ = ["text", "text_fold"]

logger = logging.getLogger("rxsubstrate.ops")


def text(
    node: NodeLike | str | None = None, choice: int | None = None
) -> Callable[[Observable[Event]], Observable[str]]:
    """The text a node generates, as ``str`` chunks whose concatenation is the whole text.

    A node's text is its output's ``text`` field (``ComputeText``, ``ComputeJSON``, ...), or for a
    choices-shaped output (``MultiComputeText``, ``Llama3Instruct8B``, ...) the ``text`` of
    ``choices[choice]``, default choice 0. A ``text``-shaped output is a single choice 0, so any
    other ``choice`` reads nothing from it.

    Streamed chunks come from the node's deltas. When ``node.result`` arrives, whatever the deltas
    did not carry is emitted from it, so the chunks always add up to the result's text: all of it
    for a node that does not stream, the missing tail for one whose deltas stopped short. If the
    deltas disagree with the result (not a prefix of it), nothing more is emitted for that node
    and a warning is logged on the ``rxsubstrate.ops`` logger; ``assemble()`` reports such
    mismatches as values.

    A ``node.error`` of a node being read ends the stream with ``NodeFailed``: a text that stops
    short must not pass for a whole one.

    ::

        ---d(a,"Hel")--d(a,"lo")--r(a,"Hello")--g--|      text()
        ---"Hel"-------"lo"------------------------|
        ---------------------------r(b,"Hi")--g--|      text(b), b does not stream
        ---------------------------"Hi"----------|

    Args:
        node: the node to read (object or id); None reads every node's text, in arrival order
            (put ``for_node(a)`` first, or pass ``a``, to read one node).
        choice: for choices-shaped outputs, which choice to read; None means choice 0.

    Raises:
        ValueError: ``choice`` is negative (at call time).
    """
    text_fold(node, choice)  # the arguments are checked now, not per run
    operator = fold_nodes(lambda: text_fold(node, choice))
    return operator if node is None else selecting(node_ids((node,)), operator)


def text_fold(node: NodeLike | str | None = None, choice: int | None = None) -> NodeFold[str]:
    """``text()``'s state for one stream, for code that reads events one by one.

    Raises:
        ValueError: ``choice`` is negative.
    """
    if choice is not None and choice < 0:
        raise ValueError(f"choice must be a non-negative index, not {choice}")
    return _Text(None if node is None else node_ids((node,)), choice or 0)


class _Text(NodeFold[str]):
    def __init__(self, wanted: frozenset[str] | None, index: int) -> None:
        self._wanted = wanted
        self._index = index
        self._emitted: dict[str, list[str]] = {}

    def delta(self, event: NodeDelta, position: int) -> Iterable[str]:
        if self._wanted is not None and event.node_id not in self._wanted:
            return ()
        chunk = _delta_text(event.data, self._index)
        if not chunk:
            return ()
        self._emitted.setdefault(event.node_id, []).append(chunk)
        return (chunk,)

    def result(self, event: NodeResult, position: int) -> Iterable[str]:
        if self._wanted is not None and event.node_id not in self._wanted:
            return ()
        rest = _rest(event, self._emitted.pop(event.node_id, []), self._index)
        return (rest,) if rest else ()

    def error(self, event: NodeError, position: int) -> Iterable[str]:
        if self._wanted is not None and event.node_id not in self._wanted:
            return ()
        self._emitted.pop(event.node_id, None)
        raise NodeFailed.from_event(event)


def _delta_text(data: dict[str, Any], index: int) -> str | None:
    value = data.get("text")
    if type(value) is str:
        return value if index == 0 else None
    item = data.get("choices")
    if type(item) is dict and item.get("object") == ARRAY_ITEM and item.get("index") == index:
        inner = item.get("item")
        if type(inner) is dict:
            chunk = inner.get("text")
            return chunk if type(chunk) is str else None
    return None


def _result_text(data: dict[str, Any], index: int) -> str | None:
    value = data.get("text")
    if type(value) is str:
        return value if index == 0 else None
    choices = data.get("choices")
    if type(choices) is list and index < len(choices) and type(choices[index]) is dict:
        chunk = choices[index].get("text")
        return chunk if type(chunk) is str else None
    return None


def _rest(event: NodeResult, chunks: list[str], index: int) -> str | None:
    """What the result's text holds beyond the chunks already emitted."""
    full = _result_text(event.data, index)
    if full is None:
        return None
    streamed = "".join(chunks)
    if full.startswith(streamed):
        return full[len(streamed) :]
    logger.warning(
        "node %s: streamed text (%d chars) is not a prefix of its result (%d chars); "
        "the chunks emitted do not add up to the result",
        event.node_id,
        len(streamed),
        len(full),
    )
    return None
