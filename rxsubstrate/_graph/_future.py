"""Futures: handles to values the server computes while a graph runs.

A ``Future`` is made either by a node (``node.future``, then attribute and item access, which a
``TracedFuture`` records as a trace) or by an ``sb`` operation (a directive over other futures).
On the wire a future is ``{"id": ..., "directive": {...}}`` in the graph's ``futures`` list, and
where a node's argument uses it, ``{"__$$SB_GRAPH_OP_ID$$__": id}``.

A future has no value on the client. It is truthy, as the official SDK's are, so that
``sb.concat(..., prev) if prev else q`` (``prev`` a future or ``None``) works as written there.
Reading it as a string (``str(f)``, ``f"{f}"``, ``"%s" % f``, ``"text" + f``) or iterating it
raises ``TypeError``: that would put the future's name where its value was meant, silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn

from .._wire import PLACEHOLDER
from ._ids import next_id

if TYPE_CHECKING:
    from ._node import Node

__all__ = [
    "PLACEHOLDER",
    "ConcatDirective",
    "Directive",
    "FormatDirective",
    "Future",
    "JinjaDirective",
    "JqDirective",
    "TraceDirective",
    "TracedFuture",
    "encode_value",
]

"""The key of the one-entry object that stands for a future inside node arguments."""

_NOT_A_VALUE: Final = (
    "a Future has no value on the client: it is resolved on the server when the graph runs. "
    "Pass it as a node argument, or combine it with sb.concat / sb.format / sb.jinja / sb.jq "
    "(and the If node for conditions)"
)
_NOT_A_STRING: Final = (
    "a Future is not a string on the client: formatting it would put its name, not its value, "
    'into the text. Build the string on the server instead: sb.concat("text ", future) or '
    'sb.format("text {x}", x=future) (a plain string, not an f-string); repr(future) names it'
)


def encode_value(value: Any, found: dict[str, Future], where: str) -> Any:
    """``value`` as JSON data, each future replaced by its placeholder and recorded in ``found``.

    Args:
        value: a node argument or directive operand (JSON data, possibly holding futures).
        found: futures seen so far, by id; the ones in ``value`` are added.
        where: how to name ``value`` in an error message, e.g. ``"ComputeText.prompt"``.

    Raises:
        TypeError: ``value`` holds something JSON cannot carry (a node where its ``.future`` was
            meant, a set, an object, a non-string key).
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Future):
        found.setdefault(value._id, value)
        return {PLACEHOLDER: value._id}
    if isinstance(value, Mapping):
        encoded: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: object keys must be strings, got {key!r}")
            encoded[key] = encode_value(item, found, f"{where}[{key!r}]")
        return encoded
    if isinstance(value, list | tuple):
        return [encode_value(item, found, f"{where}[{i}]") for i, item in enumerate(value)]
    from ._node import Node

    if isinstance(value, Node):
        raise TypeError(f"{where}: got the node {value!r}; to pass its output use its .future")
    raise TypeError(f"{where}: {type(value).__name__} is not JSON data (got {value!r})")


def _operand(value: Any, found: dict[str, Future], where: str) -> dict[str, Any]:
    """The SDK's ``{"future_id", "val"}`` pair: a future by id, anything else by value."""
    if isinstance(value, Future):
        found.setdefault(value._id, value)
        return {"future_id": value._id, "val": None}
    return {"future_id": None, "val": encode_value(value, found, where)}


class Directive:
    """How the server computes a future: a trace of a node's output, or an ``sb`` operation."""

    __slots__ = ()

    def encode(self) -> tuple[dict[str, Any], dict[str, Future]]:
        """The directive's wire form and the futures it reads, by id."""
        raise NotImplementedError

    @property
    def origin(self) -> Node[Any] | None:
        """The node whose output a trace reads (``None`` for other directives)."""
        return None


class ConcatDirective(Directive):
    """``string-concat``: strings and futures joined (``sb.concat``)."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[str | Future, ...]) -> None:
        self._items = items

    def encode(self) -> tuple[dict[str, Any], dict[str, Future]]:
        found: dict[str, Future] = {}
        items = [_operand(item, found, "sb.concat") for item in self._items]
        return {"items": items, "type": "string-concat"}, found


class JqDirective(Directive):
    """``jq``: a jq query over a future or a value (``sb.jq``)."""

    __slots__ = ("_query", "_target")

    def __init__(self, target: Any, query: str) -> None:
        self._target = target
        self._query = query

    def encode(self) -> tuple[dict[str, Any], dict[str, Future]]:
        found: dict[str, Future] = {}
        target = _operand(self._target, found, "sb.jq target")
        return {"target": target, "query": self._query, "type": "jq"}, found


class JinjaDirective(Directive):
    """``jinja``: a Jinja template rendered with variables (``sb.jinja``)."""

    __slots__ = ("_template", "_variables")

    def __init__(self, template: str | Future, variables: dict[str, Any]) -> None:
        self._template = template
        self._variables = variables

    def encode(self) -> tuple[dict[str, Any], dict[str, Future]]:
        found: dict[str, Future] = {}
        template = _operand(self._template, found, "sb.jinja template")
        variables = encode_value(self._variables, found, "sb.jinja")
        return {"type": "jinja", "template": template, "variables": variables}, found


class FormatDirective(Directive):
    """``format``: a Python format string filled with variables (``sb.format``)."""

    __slots__ = ("_f_string", "_variables")

    def __init__(self, f_string: str | Future, variables: dict[str, Any]) -> None:
        self._f_string = f_string
        self._variables = variables

    def encode(self) -> tuple[dict[str, Any], dict[str, Future]]:
        found: dict[str, Future] = {}
        f_string = _operand(self._f_string, found, "sb.format f_string")
        variables = encode_value(self._variables, found, "sb.format")
        return {"type": "format", "f_string": f_string, "variables": variables}, found


TraceKey = str | int
Accessor = Literal["attr", "item"]


class TraceDirective(Directive):
    """``trace``: a path into a node's output, one attribute or item access per step."""

    __slots__ = ("_node", "_ops")

    def __init__(
        self, node: Node[Any], ops: tuple[tuple[TraceKey | Future, Accessor], ...]
    ) -> None:
        self._node = node
        self._ops = ops

    @property
    def origin(self) -> Node[Any]:
        return self._node

    def then(self, key: TraceKey | Future, accessor: Accessor) -> TraceDirective:
        """This trace, one step further."""
        return TraceDirective(self._node, (*self._ops, (key, accessor)))

    def encode(self) -> tuple[dict[str, Any], dict[str, Future]]:
        found: dict[str, Future] = {}
        op_stack: list[dict[str, Any]] = []
        for key, accessor in self._ops:
            if isinstance(key, Future):
                found.setdefault(key._id, key)
                op_stack.append({"future_id": key._id, "key": None, "accessor": accessor})
            else:
                op_stack.append({"future_id": None, "key": key, "accessor": accessor})
        return {"op_stack": op_stack, "origin_node_id": self._node.id, "type": "trace"}, found


class Future:
    """A value the server computes while the graph runs; pass it as a node argument.

    Its id is private (``_id``) so that a traced output field named ``id`` stays reachable.
    """

    __slots__ = ("_directive", "_id")

    def __init__(self, directive: Directive, *, id: str | None = None) -> None:
        self._directive = directive
        self._id = id if id is not None else next_id("future")

    def to_dict(self) -> dict[str, Any]:
        """The future's entry in a serialized graph's ``futures`` list."""
        directive, _ = self._directive.encode()
        return {"id": self._id, "directive": directive}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._id})"

    def __iter__(self) -> Iterator[Any]:
        raise TypeError(_NOT_A_VALUE)

    def __contains__(self, item: object) -> NoReturn:
        raise TypeError(_NOT_A_VALUE)

    def __str__(self) -> NoReturn:  # str(f), "%s" % f, print(f)
        raise TypeError(_NOT_A_STRING)

    def __format__(self, format_spec: str) -> NoReturn:  # f"{f}", "{}".format(f)
        raise TypeError(_NOT_A_STRING)

    def __add__(self, other: object) -> NoReturn:  # f + "text"
        raise TypeError(_NOT_A_STRING)

    def __radd__(self, other: object) -> NoReturn:  # "text" + f
        raise TypeError(_NOT_A_STRING)


class TracedFuture(Future):
    """A node's output, or a part of it: ``a.future.choices[0].text``.

    Each attribute or item access makes a new future one step further along the same output;
    only the futures a graph actually uses are serialized. An item key may itself be a future
    (``box.future.value[key_future]``).
    """

    __slots__ = ()

    _directive: TraceDirective

    def __init__(self, directive: TraceDirective) -> None:
        super().__init__(directive)

    def __getattr__(self, name: str) -> TracedFuture:
        # Private and dunder names are protocol probes (copy, pickle, IPython), never output
        # fields, so they must fail as usual rather than grow a trace.
        if name.startswith("_"):
            raise AttributeError(name)
        return TracedFuture(self._directive.then(name, "attr"))

    def __getitem__(self, key: str | int | Future) -> TracedFuture:
        if isinstance(key, bool) or not isinstance(key, str | int | Future):
            raise TypeError(f"a future's item key must be a str, an int or a Future, got {key!r}")
        return TracedFuture(self._directive.then(key, "item"))
