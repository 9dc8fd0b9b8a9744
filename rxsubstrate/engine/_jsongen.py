"""Deterministic JSON values that satisfy a ``json_schema``, and the deltas that stream them.

Supports what structured-output schemas use: ``type`` (one or a list), ``properties`` (every
property is generated), ``required``, ``items``, ``enum``, ``const``, ``minimum``/``maximum``
(and exclusive forms), ``minLength``/``maxLength``, ``minItems``/``maxItems``, a few string
``format`` values, local ``$ref``, and ``anyOf``/``oneOf`` (the first option) and ``allOf``
(merged). Strings are words from the engine's text generator. Sizes are bounded: a schema that
asks for more than ``MAX_ITEMS`` items in one array, nests deeper than ``MAX_DEPTH`` or would
produce more than ``MAX_VALUES`` values is rejected with ``InvalidNodeArgs``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any, Final

from ._errors import InvalidNodeArgs
from ._schema import resolve_ref
from ._text import TextGenerator, seed_of, split_tokens

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "MAX_VALUES", "delta_chunks", "generate_json"]

MAX_ITEMS: Final = 100
MAX_DEPTH: Final = 32
MAX_VALUES: Final = 10_000
_SHALLOW: Final = 6  # below this depth, only required properties and minItems items

_FORMATS: Final = {
    "date-time": "2024-06-17T12:00:00Z",
    "date": "2024-06-17",
    "time": "12:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def generate_json(
    schema: Mapping[str, Any], *, text: TextGenerator, prompt: str, seed: bytes
) -> Any:
    """A value satisfying ``schema``, the same for the same seed.

    Raises:
        InvalidNodeArgs: the schema cannot be satisfied within the size limits, or has a bad $ref.
    """
    return _Generator(schema, text, prompt, seed).value(schema, "", 0)


class _Generator:
    def __init__(self, root: Mapping[str, Any], text: TextGenerator, prompt: str, seed: bytes):
        self._root = root
        self._text = text
        self._prompt = prompt
        self._seed = seed
        self._count = 0

    def value(self, schema: Mapping[str, Any], path: str, depth: int) -> Any:
        self._count += 1
        if self._count > MAX_VALUES:
            raise InvalidNodeArgs(f"json_schema would produce more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise InvalidNodeArgs(f"json_schema nests deeper than {MAX_DEPTH} levels at {path!r}")
        try:
            schema = resolve_ref(self._root, schema)
        except ValueError as exc:
            raise InvalidNodeArgs(f"json_schema at {path or '$'!r}: {exc}") from None
        schema = self._flatten(schema, path)
        rng = random.Random(seed_of(self._seed.hex(), path))
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return rng.choice(schema["enum"])
        kind = _kind(schema)
        if kind == "object":
            return self._object(schema, path, depth)
        if kind == "array":
            return self._array(schema, rng, path, depth)
        if kind in ("integer", "number"):
            return _number(schema, rng, integer=kind == "integer")
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema, rng, path)

    def _flatten(self, schema: Mapping[str, Any], path: str) -> Mapping[str, Any]:
        """Reduce anyOf/oneOf to their first non-null option and merge allOf into one schema."""
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if options:
                choice = next((o for o in options if o.get("type") != "null"), options[0])
                rest = {k: v for k, v in schema.items() if k != keyword}
                return self._flatten({**rest, **resolve_ref(self._root, choice)}, path)
        parts = schema.get("allOf")
        if not parts:
            return schema
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            part = self._flatten(resolve_ref(self._root, part), path)
            properties = {**merged.get("properties", {}), **part.get("properties", {})}
            required = [*merged.get("required", []), *part.get("required", [])]
            merged.update(part)
            merged["properties"] = properties
            merged["required"] = required
        return merged

    def _object(self, schema: Mapping[str, Any], path: str, depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        names = list(properties) if depth < _SHALLOW else [n for n in properties if n in required]
        names += [n for n in required if n not in properties]
        return {
            name: self.value(properties.get(name, {}), f"{path}.{name}", depth + 1)
            for name in names
        }

    def _array(
        self, schema: Mapping[str, Any], rng: random.Random, path: str, depth: int
    ) -> list[Any]:
        low = int(schema.get("minItems", 0))
        if low > MAX_ITEMS:
            raise InvalidNodeArgs(
                f"json_schema asks for at least {low} items at {path or '$'!r}; the local engine "
                f"generates at most {MAX_ITEMS}"
            )
        high = int(schema.get("maxItems", max(low, 3)))
        count = low if depth >= _SHALLOW else min(max(rng.randint(2, 3), low), high)
        items = schema.get("items")
        item_schema: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
        return [self.value(item_schema, f"{path}[{i}]", depth + 1) for i in range(count)]

    def _string(self, schema: Mapping[str, Any], rng: random.Random, path: str) -> str:
        if schema.get("format") in _FORMATS:
            text = _FORMATS[schema["format"]]
        else:
            seed = seed_of(self._seed.hex(), path, "text")
            words = "".join(self._text(self._prompt, seed=seed, max_tokens=rng.randint(2, 6)))
            text = words.strip(" .,") or "value"
        low = int(schema.get("minLength", 0))
        if low > 10_000:
            raise InvalidNodeArgs(f"json_schema asks for a string of at least {low} characters")
        while len(text) < low:
            text = f"{text} {text}"
        return text[: schema["maxLength"]] if "maxLength" in schema else text


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _number(schema: Mapping[str, Any], rng: random.Random, *, integer: bool) -> int | float:
    step = 1 if integer else 0.01
    low = schema.get("minimum")
    if "exclusiveMinimum" in schema:
        low = max(low if low is not None else float("-inf"), schema["exclusiveMinimum"] + step)
    high = schema.get("maximum")
    if "exclusiveMaximum" in schema:
        high = min(high if high is not None else float("inf"), schema["exclusiveMaximum"] - step)
    if low is None:
        low = 0 if high is None or high >= 0 else high - 100
    if high is None:
        high = low + 100
    if integer:
        low_int, high_int = _ceil(low), int(high // 1)
        return rng.randint(low_int, high_int) if low_int <= high_int else low_int
    value = round(low + (high - low) * rng.random(), 2)
    return value if low <= value <= high else (low + high) / 2


def _ceil(value: float) -> int:
    return int(-(-value // 1))


def delta_chunks(value: Any) -> Iterator[Any]:
    """Chunks in delta shape that rebuild ``value`` when merged in order with ``merge_chunk``.

    Strings come a token at a time, arrays as ``array.item`` chunks, objects field by field;
    other values (and empty containers) come whole.
    """
    if isinstance(value, str):
        yield from split_tokens(value) or [""]
    elif isinstance(value, dict):
        if not value:
            yield {}
        for key, item in value.items():
            for chunk in delta_chunks(item):
                yield {key: chunk}
    elif isinstance(value, list):
        if not value:
            yield []
        for index, item in enumerate(value):
            for chunk in delta_chunks(item):
                yield {"object": "array.item", "index": index, "item": chunk}
    else:
        yield value
