"""The serialized graph the SDK sends, as typed structs: nodes, edges, futures and directives.

``Substrate.serialize`` produces ``{"nodes": [...], "edges": [[from, to, {}]], "futures": [...]}``.
A node's ``args`` (and a ``jinja``/``format`` directive's ``variables``) hold a future as the
placeholder ``{"__$$SB_GRAPH_OP_ID$$__": future_id}``; a directive names the futures it reads by
``future_id``. Decoding into these structs is the first step of validation: the shape errors
msgspec reports carry the JSON path of the fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, TypeAlias

import msgspec

from .._wire import PLACEHOLDER, VISIBLE

__all__ = [
    "Concat",
    "Dag",
    "Directive",
    "Format",
    "FutureSpec",
    "Jinja",
    "Jq",
    "NodeSpec",
    "Source",
    "Trace",
    "TraceOp",
    "directive_futures",
    "placeholder_id",
    "placeholders",
]


class TraceOp(msgspec.Struct, frozen=True):
    """One step of a trace: ``.key`` (attr) or ``[key]`` (item); the key may be another future."""

    accessor: Literal["attr", "item"]
    key: str | int | None = None
    future_id: str | None = None


class Source(msgspec.Struct, frozen=True):
    """A directive operand: the value of future ``future_id``, or the literal ``val``."""

    future_id: str | None = None
    val: Any = None


class Trace(msgspec.Struct, frozen=True, tag_field="type", tag="trace"):
    """A path into a node's output: ``origin_node_id`` then each op in turn."""

    op_stack: list[TraceOp]
    origin_node_id: str


class Concat(msgspec.Struct, frozen=True, tag_field="type", tag="string-concat"):
    """The items joined as strings; an item's ``val`` is literal text (the SDK puts a future in
    ``future_id``, never inside ``val``)."""

    items: list[Source]


class Jq(msgspec.Struct, frozen=True, tag_field="type", tag="jq"):
    """A jq query over a value."""

    target: Source
    query: str


class Jinja(msgspec.Struct, frozen=True, tag_field="type", tag="jinja"):
    """A jinja template rendered with variables (which may hold placeholders)."""

    template: Source
    variables: dict[str, Any] = {}


class Format(msgspec.Struct, frozen=True, tag_field="type", tag="format"):
    """A Python ``str.format`` string filled with variables (which may hold placeholders)."""

    f_string: Source
    variables: dict[str, Any] = {}


Directive: TypeAlias = Trace | Concat | Jq | Jinja | Format


class FutureSpec(msgspec.Struct, frozen=True):
    """A future: a value computed by ``directive`` once what it reads is known."""

    id: str
    directive: Directive


class NodeSpec(msgspec.Struct, frozen=True):
    """A node as sent: its kind (``node``), arguments, and whether ``graph.result`` shows it.

    The SDK sends a node's options either here (``Node(..., _cache_age=60)``) or, passed as
    plain keywords (``Node(..., cache_age=60)``), among its ``args``.
    """

    id: str
    node: str
    args: dict[str, Any] = {}
    visible: bool = msgspec.field(default=False, name=VISIBLE)
    cache_age: int | None = msgspec.field(default=None, name="_cache_age")
    cache_keys: list[str] | None = msgspec.field(default=None, name="_cache_keys")
    max_retries: int | None = msgspec.field(default=None, name="_max_retries")


class Dag(msgspec.Struct, frozen=True):
    """The whole serialized graph (other fields such as ``id`` and ``initial_args`` are ignored)."""

    nodes: list[NodeSpec]
    edges: list[list[Any]] = []
    futures: list[FutureSpec] = []


def placeholder_id(value: Any) -> str | None:
    """The future id when ``value`` is a placeholder, else None (a non-string id is returned as
    its repr so the caller can report it as a missing future)."""
    if type(value) is dict and len(value) == 1 and PLACEHOLDER in value:
        future_id = value[PLACEHOLDER]
        return future_id if isinstance(future_id, str) else repr(future_id)
    return None


def placeholders(value: Any) -> Iterator[str]:
    """The future ids of every placeholder inside ``value``, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        future_id = placeholder_id(item)
        if future_id is not None:
            yield future_id
        elif type(item) is dict:
            stack.extend(reversed(list(item.values())))
        elif type(item) is list:
            stack.extend(reversed(item))


def directive_futures(directive: Directive) -> Iterator[str]:
    """The ids of the futures a directive reads."""
    match directive:
        case Trace(op_stack=ops):
            yield from (op.future_id for op in ops if op.future_id is not None)
        case Concat(items=items):
            yield from (item.future_id for item in items if item.future_id is not None)
        case Jq(target=target):
            yield from _source_futures(target)
        case (
            Jinja(template=source, variables=variables)
            | Format(f_string=source, variables=variables)
        ):
            yield from _source_futures(source)
            yield from placeholders(variables)


def _source_futures(source: Source) -> Iterator[str]:
    if source.future_id is not None:
        yield source.future_id
    else:
        yield from placeholders(source.val)
