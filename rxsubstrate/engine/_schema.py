"""A JSON Schema checker for the subset the Substrate OpenAPI (and typical ``json_schema``
arguments) use: ``$ref`` (local), ``type``, ``enum``, ``const``, ``minimum``/``maximum`` (and their
exclusive forms), ``minLength``/``maxLength``, ``minItems``/``maxItems``, ``properties``,
``required``, ``additionalProperties``, ``items``, ``anyOf``/``oneOf``/``allOf``.

Written here rather than depending on ``jsonschema``: the engine needs a few keywords, a message
that names the argument, and two twists the SDK's wire format asks for: a value can be skipped
(a future, known only when the graph runs) and an optional property may be ``null`` (the SDK sends
``null`` for every argument left unset). ``oneOf`` is checked as ``anyOf``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

import msgspec

__all__ = ["Problem", "SchemaChecker", "describe", "resolve_ref"]

_MAX_DEPTH: Final = 64
_MAX_REF_HOPS: Final = 32

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


def describe(value: Any, limit: int = 60) -> str:
    """A short JSON rendering of a value, for messages."""
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
                raise ValueError(f"$ref {ref!r} points nowhere")
            target = target[part]
        if not isinstance(target, Mapping):
            raise ValueError(f"$ref {ref!r} does not point to a schema")
        schema = target
    raise ValueError(f"$ref chain longer than {_MAX_REF_HOPS} hops (a reference loop?)")


def _type_matches(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "null":
        return value is None
    return True  # an unknown type name constrains nothing


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

    def problem(self, value: Any, schema: Mapping[str, Any], path: str = "") -> Problem | None:
        """The first problem found, or None when ``value`` satisfies ``schema``."""
        return self._check(value, schema, path, 0)

    def _check(
        self, value: Any, schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        if self._skip(value):
            return None
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
        if expected is None:
            return None
        names = expected if isinstance(expected, list) else [expected]
        if any(_type_matches(value, name) for name in names):
            return None
        wanted = " or ".join(_TYPE_NAMES.get(name, str(name)) for name in names)
        return Problem(path, f"must be {wanted}, got {describe(value)}")

    def _check_value(
        self, value: Any, schema: Mapping[str, Any], path: str, _depth: int
    ) -> Problem | None:
        if "enum" in schema and value not in schema["enum"]:
            options = ", ".join(describe(option) for option in schema["enum"])
            return Problem(path, f"must be one of {options}; got {describe(value)}")
        if "const" in schema and value != schema["const"]:
            return Problem(path, f"must be {describe(schema['const'])}, got {describe(value)}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            bounds = (
                ("minimum", ">=", value < schema.get("minimum", value)),
                ("maximum", "<=", value > schema.get("maximum", value)),
                ("exclusiveMinimum", ">", value <= schema.get("exclusiveMinimum", value - 1)),
                ("exclusiveMaximum", "<", value >= schema.get("exclusiveMaximum", value + 1)),
            )
            for keyword, relation, broken in bounds:
                if broken:
                    return Problem(
                        path, f"must be {relation} {schema[keyword]}, got {describe(value)}"
                    )
        if isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                return Problem(path, f"must be at least {schema['minLength']} characters long")
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                return Problem(path, f"must be at most {schema['maxLength']} characters long")
        return None

    def _check_combinators(
        self, value: Any, schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if options and all(self._check(value, o, path, depth + 1) for o in options):
                return Problem(path, f"matches none of the {keyword} options: {describe(value)}")
        for option in schema.get("allOf", ()):
            found = self._check(value, option, path, depth + 1)
            if found is not None:
                return found
        return None

    def _check_object(
        self, value: dict[str, Any], schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = schema.get("required", ())
        for name in required:
            if value.get(name) is None and not (name in value and _allows_null(properties, name)):
                return Problem(_join(path, name), "is required")
        for name, item in value.items():
            sub = _join(path, name)
            if name in properties:
                if item is None and name not in required:
                    continue  # the SDK sends null for every optional argument left unset
                found = self._check(item, properties[name], sub, depth + 1)
            else:
                extra = schema.get("additionalProperties", True)
                if extra is False:
                    return Problem(sub, "is not a known field")
                found = (
                    self._check(item, extra, sub, depth + 1) if isinstance(extra, dict) else None
                )
            if found is not None:
                return found
        return None

    def _check_array(
        self, value: list[Any], schema: Mapping[str, Any], path: str, depth: int
    ) -> Problem | None:
        if len(value) < schema.get("minItems", 0):
            return Problem(path, f"must have at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return Problem(path, f"must have at most {schema['maxItems']} items, got {len(value)}")
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                found = self._check(item, items, f"{path}[{index}]", depth + 1)
                if found is not None:
                    return found
        return None


def _allows_null(properties: Mapping[str, Any], name: str) -> bool:
    kind = properties.get(name, {}).get("type")
    return kind is None or kind == "null" or (isinstance(kind, list) and "null" in kind)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
