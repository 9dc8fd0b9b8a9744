"""A JSON Schema checker for the subset the Substrate OpenAPI (and typical ``json_schema``
arguments) use: ``$ref`` (local), ``type``, ``enum``, ``const``, ``minimum``/``maximum`` (and their
exclusive forms), ``minLength``/``maxLength``, ``minItems``/``maxItems``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``anyOf``/``oneOf``/``allOf``. A keyword that
is absent, or not of the type JSON Schema gives it, constrains nothing: the checker never fails on
a schema, only reports a value.

Written here rather than depending on ``jsonschema``: the engine needs a few keywords, a message
that names the argument, and two twists the SDK's wire format asks for: a value can be skipped
(a future, known only when the graph runs) and an optional property may be ``null`` (the SDK sends
``null`` for every argument left unset). ``oneOf`` is checked as ``anyOf``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from .._quote import clip, describe

__all__ = [
    "Problem",
    "SchemaChecker",
    "describe",
    "integer_keyword",
    "number_keyword",
    "resolve_ref",
]

_MAX_DEPTH: Final = 64
_MAX_REF_HOPS: Final = 32
_MAX_OPTIONS_SHOWN: Final = 10

_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


class Problem(NamedTuple):
    """Where a value breaks its schema (``path`` like ``items[0].name``; empty for the root), and
    how (``text`` like ``must be <= 1, got 3``)."""

    path: str
    text: str


def resolve_ref(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow ``$ref`` (``#/a/b`` pointers into ``root``) until a schema without one.

    Raises:
        ValueError: a reference that is not local, points nowhere, or loops.
    """
    for _ in range(_MAX_REF_HOPS):
        ref = schema.get("$ref")
        if ref is None:
            return schema
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ValueError(f"unsupported $ref {describe(ref)}: only local '#/...' references")
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise ValueError(f"$ref {clip(ref)!r} points nowhere")
            target = target[part]
        if not isinstance(target, Mapping):
            raise ValueError(f"$ref {clip(ref)!r} does not point to a schema")
        schema = target
    raise ValueError(f"$ref chain longer than {_MAX_REF_HOPS} hops (a reference loop?)")


def number_keyword(schema: Mapping[str, Any], keyword: str) -> int | float | None:
    """A numeric keyword (``minimum``...) when it is a finite number, else None."""
    value = schema.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None


def integer_keyword(schema: Mapping[str, Any], keyword: str) -> int | None:
    """A count keyword (``minLength``, ``maxItems``...) when it is a whole number, else None."""
    value = number_keyword(schema, keyword)
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return value


def _type_matches(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and math.isfinite(value)
        )
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "null":
        return value is None
    return True  # an unknown type name constrains nothing


# (keyword, relation shown, broken(value, bound))
_BOUNDS: Final[tuple[tuple[str, str, Callable[[Any, Any], bool]], ...]] = (
    ("minimum", ">=", lambda value, bound: value < bound),
    ("maximum", "<=", lambda value, bound: value > bound),
    ("exclusiveMinimum", ">", lambda value, bound: value <= bound),
    ("exclusiveMaximum", "<", lambda value, bound: value >= bound),
)


class SchemaChecker:
    """Finds the first place a value breaks a schema.

    Args:
        root: the document ``$ref`` pointers resolve against (the OpenAPI document, or a
            ``json_schema`` itself).
        skip: values to accept without looking (the engine passes "is a future placeholder").
    """

    def __init__(
        self, root: Mapping[str, Any], skip: Callable[[Any], bool] = lambda _value: False
    ) -> None:
        self._root = root
        self._skip = skip

    def problem(self, value: Any, schema: Any, path: str = "") -> Problem | None:
        """The first problem found, or None when ``value`` satisfies ``schema``."""
        return self._check(value, schema, path, 0)

    def _check(self, value: Any, schema: Any, path: str, depth: int) -> Problem | None:
        if self._skip(value):
            return None
        if schema is False:
            return Problem(path, "is not allowed")
        if not isinstance(schema, Mapping):
            return None  # true, or not a schema: no constraint
        if depth > _MAX_DEPTH:
            return Problem(path, f"nests deeper than {_MAX_DEPTH} levels")
        try:
            schema = resolve_ref(self._root, schema)
        except ValueError as exc:
            return Problem(path, f"cannot be checked: {exc}")
        for check in (self._check_type, self._check_value, self._check_combinators):
            found = check(value, schema, path, depth)
            if found is not None:
                return found
        if isinstance(value, dict):
            return self._check_object(value, schema, path, depth)
        if isinstance(value, list):
            return self._check_array(value, schema, path, depth)
        return None

    def _check_type(
        self, value: Any, schema: Mapping[str, Any], path: str, _depth: int
    ) -> Problem | None:
        expected = schema.get("type")
        names = [expected] if isinstance(expected, str) else expected
        if not isinstance(names, list):
            return None
        names = [name for name in names if isinstance(name, str)]
        if not names or any(_type_matches(value, name) for name in names):
            return None
        wanted = " or ".join(_TYPE_NAMES.get(name, clip(name)) for name in names[:8])
        return Problem(path, f"must be {wanted}, got {describe(value)}")

    def _check_value(
        self, value: Any, schema: Mapping[str, Any], path: str, _depth: int
    ) -> Problem | None:
        options = schema.get("enum")
        if isinstance(options, list) and value not in options:
            shown = ", ".join(describe(option) for option in options[:_MAX_OPTIONS_SHOWN])
            if len(options) > _MAX_OPTIONS_SHOWN:
                shown += f", ... ({len(options)} options)"
            return Problem(path, f"must be one of {shown}; got {describe(value)}")
        if "const" in schema and value != schema["const"]:
            return Problem(path, f"must be {describe(schema['const'])}, got {describe(value)}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            for keyword, relation, broken in _BOUNDS:
                bound = number_keyword(schema, keyword)
                if bound is not None and broken(value, bound):
                    return Problem(path, f"must be {relation} {bound}, got {describe(value)}")
        if isinstance(value, str):
            return _size_problem(schema, "Length", len(value), "characters", path)
        return None

    def _check_combinators(
        self, value: Any, schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if (
                isinstance(options, list)
                and options
                and all(self._check(value, o, path, depth + 1) for o in options)
            ):
                return Problem(path, f"matches none of the {keyword} options: {describe(value)}")
        parts = schema.get("allOf")
        for part in parts if isinstance(parts, list) else ():
            found = self._check(value, part, path, depth + 1)
            if found is not None:
                return found
        return None

    def _check_object(
        self, value: dict[str, Any], schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            properties = {}
        required = [name for name in _list(schema, "required") if isinstance(name, str)]
        for name in required:
            if value.get(name) is None and not (name in value and _allows_null(properties, name)):
                return Problem(_join(path, name), "is required")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            sub = _join(path, name)
            if name in properties:
                if item is None and name not in required:
                    continue  # the SDK sends null for every optional argument left unset
                found = self._check(item, properties[name], sub, depth + 1)
            elif extra is False:
                return Problem(sub, "is not a known field")
            else:
                found = self._check(item, extra, sub, depth + 1)
            if found is not None:
                return found
        return None

    def _check_array(
        self, value: list[Any], schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        found = _size_problem(schema, "Items", len(value), "items", path)
        if found is not None:
            return found
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                found = self._check(item, items, f"{path}[{index}]", depth + 1)
                if found is not None:
                    return found
        return None


def _size_problem(
    schema: Mapping[str, Any], keyword: str, size: int, unit: str, path: str
) -> Problem | None:
    """``min<keyword>``/``max<keyword>`` (``Length``, ``Items``) against a size."""
    low = integer_keyword(schema, f"min{keyword}")
    if low is not None and size < low:
        return Problem(path, f"must have at least {low} {unit}, got {size}")
    high = integer_keyword(schema, f"max{keyword}")
    if high is not None and size > high:
        return Problem(path, f"must have at most {high} {unit}, got {size}")
    return None


def _list(schema: Mapping[str, Any], keyword: str) -> list[Any]:
    value = schema.get(keyword)
    return value if isinstance(value, list) else []


def _allows_null(properties: Mapping[str, Any], name: str) -> bool:
    prop = properties.get(name)
    kind = prop.get("type") if isinstance(prop, Mapping) else None
    return kind is None or kind == "null" or (isinstance(kind, list) and "null" in kind)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
