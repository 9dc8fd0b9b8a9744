"""``Node``: one step of a graph, of any kind the server knows, and its ``future`` output."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypedDict, TypeVar

from .._wire import VISIBLE
from ._future import Future, TracedFuture, TraceDirective, encode_value
from ._ids import next_id

__all__ = ["Node", "NodeOptions"]

OutT = TypeVar("OutT")


class NodeOptions(TypedDict, total=False):
    """The options every node takes besides its arguments (see ``Node``).

    The underscore spellings are the official SDK's, accepted so that its code ports unchanged.
    """

    id: str | None
    depends: Sequence[Node[Any]]
    cache_age: int | None
    cache_keys: Sequence[str] | None
    max_retries: int | None
    _depends: Sequence[Node[Any]] | None
    _cache_age: int | None
    _cache_keys: Sequence[str] | None
    _max_retries: int | None


_SDK_SPELLINGS = ("_depends", "_cache_age", "_cache_keys", "_max_retries")


class Node(Generic[OutT]):
    """A node of a Substrate graph: its kind, its arguments, and its output to come.

    ``Node("ComputeText", prompt="hi")`` makes a node of any kind; the typed classes
    (``ComputeText``, ``Box``, ...) are subclasses with the reference's signature and output
    Struct. Arguments are JSON data in which any value may be a ``Future`` (another node's
    ``.future...`` or an ``sb`` operation); they are checked and captured when the node is made.

    Args:
        kind: the node's name on the wire (``"ComputeText"``).
        id: the node's id; by default the official SDK's form, e.g. ``ComputeText1_kpuOvM7C``.
        hide: leave the node's output out of the run's results (it still runs when another
            node needs it).
        depends: nodes that must finish first, although no argument uses their output.
        cache_age: how long, in seconds, the server may reuse a cached result.
        cache_keys: the arguments that make up the cache key.
        max_retries: how many times the server may retry the node.
        **args: the node's arguments; ``_depends``, ``_cache_age``, ``_cache_keys`` and
            ``_max_retries`` are taken as the options above, as the official SDK spells them.

    Raises:
        TypeError: an argument is not JSON data, or an option has the wrong type.
    """

    kind: str
    """The node's name on the wire."""
    output_type: type[OutT]
    """The msgspec Struct its output decodes to (``dict`` for a kind the reference lacks)."""

    def __init__(
        self: Node[Any],
        kind: str,
        /,
        *,
        id: str | None = None,
        hide: bool = False,
        depends: Sequence[Node[Any]] = (),
        cache_age: int | None = None,
        cache_keys: Sequence[str] | None = None,
        max_retries: int | None = None,
        **args: Any,
    ) -> None:
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"a node's kind must be a non-empty string, got {kind!r}")
        depends = _sdk_option(args, "_depends", depends, ())
        cache_age = _sdk_option(args, "_cache_age", cache_age, None)
        cache_keys = _sdk_option(args, "_cache_keys", cache_keys, None)
        max_retries = _sdk_option(args, "_max_retries", max_retries, None)
        if id is not None and (not isinstance(id, str) or not id):
            raise TypeError(f"a node's id must be a non-empty string, got {id!r}")
        if not isinstance(hide, bool):
            raise TypeError(f"hide must be a bool, got {hide!r}")
        for dependency in depends:
            if not isinstance(dependency, Node):
                raise TypeError(f"depends takes nodes, got {dependency!r}")
        _check_int("cache_age", cache_age)
        _check_int("max_retries", max_retries)
        if cache_keys is not None and (
            isinstance(cache_keys, str) or not all(isinstance(k, str) for k in cache_keys)
        ):
            raise TypeError(f"cache_keys must be a sequence of strings, got {cache_keys!r}")
        self.kind = kind
        if not hasattr(type(self), "output_type"):
            from ._outputs import OUTPUT_TYPES

            self.output_type = OUTPUT_TYPES.get(kind, dict)
        self.id: str = id if id is not None else next_id(kind)
        self.hide = hide
        self.depends: tuple[Node[Any], ...] = tuple(depends)
        self.cache_age = cache_age
        self.cache_keys: tuple[str, ...] | None = None if cache_keys is None else tuple(cache_keys)
        self.max_retries = max_retries
        self._args = dict(args)
        encode_value(self._args, {}, kind)  # fail here, where the mistake was made

    @property
    def args(self) -> Mapping[str, Any]:
        """The node's arguments as given (futures included), read-only."""
        return types.MappingProxyType(self._args)

    @property
    def future(self) -> TracedFuture:
        """The node's output, to come: trace into it with attributes and items."""
        return TracedFuture(TraceDirective(self, ()))

    def encode_args(self) -> tuple[dict[str, Any], dict[str, Future]]:
        """The arguments as JSON data with placeholders, and the futures they use, by id."""
        found: dict[str, Future] = {}
        encoded: dict[str, Any] = encode_value(self._args, found, self.kind)
        return encoded, found

    def to_dict(self) -> dict[str, Any]:
        """The node's entry in a serialized graph's ``nodes`` list.

        An option is sent whenever it is set, 0 included (the official SDK drops falsy ones, but
        ``max_retries=0`` and ``cache_age=0`` say something).
        """
        entry: dict[str, Any] = {"id": self.id, "node": self.kind, "args": self.encode_args()[0]}
        if not self.hide:
            entry[VISIBLE] = True
        if self.cache_age is not None:
            entry["_cache_age"] = self.cache_age
        if self.cache_keys is not None:
            entry["_cache_keys"] = list(self.cache_keys)
        if self.max_retries is not None:
            entry["_max_retries"] = self.max_retries
        return entry

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id})"


def _sdk_option(args: dict[str, Any], sdk_name: str, value: Any, default: Any) -> Any:
    """The option from its own keyword or the SDK's underscore spelling (not both)."""
    if sdk_name not in args:
        return value
    sdk_value = args.pop(sdk_name)
    if sdk_value is None:
        return value
    if value != default:
        raise TypeError(f"got both {sdk_name[1:]} and {sdk_name}; pass one")
    return sdk_value


def _check_int(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} must be an int, got {value!r}")
