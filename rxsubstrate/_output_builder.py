"""A node's output under construction from deltas, readable as it stood after any delta.

The engine (for streaming node implementations), ``ops.assemble`` and ``ops.snapshots`` all fold
``node.delta`` chunks into an ``OutputBuilder``. The protocol's merge rules: a string chunk is
appended; ``{"object": "array.item", "index": i, "item": chunk}`` merges ``chunk`` into item
``i`` and the array grows as needed; any other object merges field by field; anything else
(numbers, booleans, null, whole lists) replaces. Property tests hold the builder to a plain
reference implementation of those rules (``tests/delta_reference.py``). A string is an
append-only list of chunks, so a long text costs linear time, not quadratic.

Every container is append-only and stamps what it appends with the builder's version (the
number of deltas applied), so the output as it stood at version ``v`` stays readable after later
deltas: a snapshot is just ``(builder, v)``, made in O(1), and materialised on demand. Writers
append the payload before its version stamp, so a reader on another thread that bisects the
stamps never sees a half-written entry.
"""

from __future__ import annotations

from bisect import bisect_right
from types import MappingProxyType
from typing import Any, Final, TypeAlias

from ._wire import ARRAY_ITEM

__all__ = ["MAX_ARRAY_GROWTH", "BadDelta", "OutputBuilder", "materialise"]

MAX_ARRAY_GROWTH: Final = 1024
"""How many slots one ``array.item`` may open past an array's end: bounds the memory a bad
index can claim."""

_Scalar: TypeAlias = bool | int | float | None


class BadDelta(ValueError):
    """A delta's shape breaks the protocol (a bad ``array.item`` index); the operator turns it
    into ``MalformedEvent`` with the event and its position."""


class _Text:
    __slots__ = ("parts", "stamps")

    def __init__(self, first: str, version: int) -> None:
        self.parts = [first]
        self.stamps = [version]

    def append(self, chunk: str, version: int) -> None:
        self.parts.append(chunk)
        self.stamps.append(version)

    def at(self, version: int, frozen: bool) -> str:
        count = bisect_right(self.stamps, version)
        return self.parts[0] if count == 1 else "".join(self.parts[:count])


class _Slot:
    """One field or array item: the history of what it held (a scalar or a container)."""

    __slots__ = ("contents", "stamps")

    def __init__(self, content: _Content, version: int) -> None:
        self.contents = [content]
        self.stamps = [version]

    @property
    def current(self) -> _Content:
        return self.contents[-1]

    def replace(self, content: _Content, version: int) -> None:
        self.contents.append(content)
        self.stamps.append(version)

    def merge(self, chunk: Any, version: int) -> None:
        """Merge ``chunk`` into what the slot holds, appending instead of rebuilding."""
        current = self.contents[-1]
        if type(chunk) is str:
            if type(current) is _Text:  # the hot path: a text's next chunk
                current.parts.append(chunk)
                current.stamps.append(version)
            else:
                self.replace(_Text(chunk, version), version)
        elif type(chunk) is dict:
            if chunk.get("object") == ARRAY_ITEM:
                if type(current) is not _Array:
                    current = _Array()
                    self.replace(current, version)
                current.merge_item(chunk, version)
            else:
                if type(current) is not _Object:
                    current = _Object()
                    self.replace(current, version)
                current.merge(chunk, version)
        else:
            self.replace(_literal(chunk, version), version)

    def at(self, version: int, frozen: bool) -> Any:
        content = self.contents[bisect_right(self.stamps, version) - 1]
        if type(content) in _CONTAINERS:
            return content.at(version, frozen)  # type: ignore[union-attr]
        return content


class _Array:
    __slots__ = ("slots", "stamps")

    def __init__(self) -> None:
        self.slots: list[_Slot] = []
        self.stamps: list[int] = []

    def add(self, content: _Content, version: int) -> None:
        self.slots.append(_Slot(content, version))
        self.stamps.append(version)

    def merge_item(self, chunk: dict[str, Any], version: int) -> None:
        index: Any = chunk.get("index")
        slots = self.slots
        if type(index) is not int or not 0 <= index < len(slots):
            self._grow_to(index, version)  # or raises BadDelta
        if "item" in chunk:
            slots[index].merge(chunk["item"], version)

    def _grow_to(self, index: object, version: int) -> None:
        """Open empty slots up to ``index``, which must be a sane place for a new item."""
        if type(index) is not int or index < 0:
            raise BadDelta(f"array.item index must be a non-negative integer, not {index!r}")
        if index >= len(self.slots) + MAX_ARRAY_GROWTH:
            raise BadDelta(
                f"array.item index {index} is more than {MAX_ARRAY_GROWTH} past the array's "
                f"end ({len(self.slots)} items)"
            )
        while len(self.slots) <= index:
            self.add(None, version)

    def at(self, version: int, frozen: bool) -> tuple[Any, ...] | list[Any]:
        count = bisect_right(self.stamps, version)
        items = [self.slots[i].at(version, frozen) for i in range(count)]
        return tuple(items) if frozen else items


class _Object:
    __slots__ = ("fields", "keys", "stamps")

    def __init__(self) -> None:
        self.fields: dict[str, _Slot] = {}
        self.keys: list[str] = []
        self.stamps: list[int] = []

    def merge(self, delta: dict[str, Any], version: int) -> None:
        for key, chunk in delta.items():
            slot = self.fields.get(key)
            if slot is None:
                self.fields[key] = _Slot(_build(chunk, version), version)
                self.keys.append(key)
                self.stamps.append(version)
            else:
                slot.merge(chunk, version)

    def add_literal(self, key: str, value: Any, version: int) -> None:
        self.fields[key] = _Slot(_literal(value, version), version)
        self.keys.append(key)
        self.stamps.append(version)

    def at(self, version: int, frozen: bool) -> MappingProxyType[str, Any] | dict[str, Any]:
        count = bisect_right(self.stamps, version)
        fields = self.fields
        out = {key: fields[key].at(version, frozen) for key in self.keys[:count]}
        return MappingProxyType(out) if frozen else out


_Content: TypeAlias = _Scalar | _Text | _Array | _Object
_CONTAINERS: Final = (_Text, _Array, _Object)


def _build(chunk: Any, version: int) -> _Content:
    """What ``merge_chunk(None, chunk)`` gives: a first chunk, interpreted."""
    if type(chunk) is str:
        return _Text(chunk, version)
    if type(chunk) is dict:
        if chunk.get("object") == ARRAY_ITEM:
            array = _Array()
            array.merge_item(chunk, version)
            return array
        obj = _Object()
        obj.merge(chunk, version)
        return obj
    return _literal(chunk, version)


def _literal(value: Any, version: int) -> _Content:
    """A value taken as it is (a whole list replaces, its items are not interpreted)."""
    if type(value) is str:
        return _Text(value, version)
    if type(value) is dict:
        obj = _Object()
        for key, item in value.items():
            obj.add_literal(key, item, version)
        return obj
    if type(value) is list:
        array = _Array()
        for item in value:
            array.add(_literal(item, version), version)
        return array
    return value  # type: ignore[no-any-return]


class OutputBuilder:
    """One node's output, folded from its deltas; ``version`` counts the deltas applied."""

    __slots__ = ("_root", "version")

    def __init__(self) -> None:
        self._root = _Object()
        self.version = 0

    @classmethod
    def of(cls, output: dict[str, Any]) -> OutputBuilder:
        """A builder holding a whole output (a ``node.result``'s data) as version 0."""
        builder = cls()
        for key, value in output.items():
            builder._root.add_literal(key, value, 0)
        return builder

    def apply(self, delta: dict[str, Any]) -> int:
        """Fold one delta's data in; return the new version.

        Raises:
            BadDelta: an ``array.item`` with a bad index (the delta may be partly applied).
        """
        self.version += 1
        self._root.merge(delta, self.version)
        return self.version

    def value(self, version: int | None = None) -> dict[str, Any]:
        """The output at ``version`` (default: now) as fresh, plain, mutable JSON-like data."""
        return self._root.at(self.version if version is None else version, False)  # type: ignore[return-value]


def materialise(builder: OutputBuilder, version: int) -> MappingProxyType[str, Any]:
    """The output at ``version``, immutable: read-only mappings, tuples, strings."""
    return builder._root.at(version, True)  # type: ignore[return-value]
