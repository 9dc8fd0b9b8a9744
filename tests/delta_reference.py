"""The delta merge rules written as plainly as possible: the oracle the tests hold
``rxsubstrate._output_builder`` to.

A string chunk is appended; ``{"object": "array.item", "index": i, "item": chunk}`` merges
``chunk`` into item ``i`` (the array grows as needed); any other object merges field by field;
every other value (numbers, booleans, null, whole lists) replaces. It rebuilds a string per
chunk (quadratic over a long text), which is fine for an oracle and why the package does not
use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["apply_delta", "merge_chunk"]


def apply_delta(target: dict[str, Any], delta: dict[str, Any]) -> None:
    """Merge one delta's fields into ``target``."""
    for key, chunk in delta.items():
        target[key] = merge_chunk(target.get(key), chunk)


def merge_chunk(current: Any, chunk: Any) -> Any:
    """The value ``current`` becomes once ``chunk`` is merged into it (in place where it can)."""
    if type(chunk) is str:
        return current + chunk if type(current) is str else chunk
    if type(chunk) is dict:
        if chunk.get("object") == "array.item":
            items: list[Any] = current if type(current) is list else []
            index = chunk["index"]
            if len(items) <= index:
                items.extend([None] * (index + 1 - len(items)))
            if "item" in chunk:
                items[index] = merge_chunk(items[index], chunk["item"])
            return items
        fields: dict[str, Any] = current if type(current) is dict else {}
        apply_delta(fields, chunk)
        return fields
    return chunk
