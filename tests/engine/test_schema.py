"""The JSON-schema subset checker behind argument validation and the packaged reference it
reads (pure, tested directly)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rxsubstrate
from rxsubstrate import _reference
from rxsubstrate.engine import _openapi
from rxsubstrate.engine._schema import Problem, SchemaChecker

from .graphs import json_values

ROOT: dict[str, Any] = {
    "defs": {
        "Point": {
            "type": "object",
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
            "required": ["x", "y"],
            "additionalProperties": False,
        },
        "Loop": {"$ref": "#/defs/Loop"},
    }
}


def problem(value: Any, schema: dict[str, Any]) -> Problem | None:
    return SchemaChecker(ROOT).problem(value, schema)


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        (True, {"type": "integer"}, Problem("", "must be an integer, got true")),
        (3.0, {"type": "integer"}, None),
        (3.5, {"type": "integer"}, Problem("", "must be an integer, got 3.5")),
        (1, {"type": "number"}, None),
        ("1", {"type": "number"}, Problem("", 'must be a number, got "1"')),
        (None, {"type": ["string", "null"]}, None),
        (5, {"exclusiveMaximum": 5}, Problem("", "must be < 5, got 5")),
        ("ab", {"minLength": 3}, Problem("", "must have at least 3 characters, got 2")),
        ([1], {"type": "array", "minItems": 2}, Problem("", "must have at least 2 items, got 1")),
        ({"x": 1, "y": 2}, {"$ref": "#/defs/Point"}, None),
        ({"x": 1}, {"$ref": "#/defs/Point"}, Problem("y", "is required")),
        ({"x": 1, "y": 2, "z": 3}, {"$ref": "#/defs/Point"}, Problem("z", "is not a known field")),
        (
            {"pts": [{"x": 1, "y": "2"}]},
            {"properties": {"pts": {"items": {"$ref": "#/defs/Point"}}}},
            Problem("pts[0].y", 'must be an integer, got "2"'),
        ),
        ({"x": None}, {"properties": {"x": {"type": "string"}}}, None),
        (3, {"anyOf": [{"type": "string"}, {"type": "integer"}]}, None),
        (
            3.5,
            {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            Problem("", "matches none of the oneOf options: 3.5"),
        ),
        (
            1,
            {"$ref": "#/defs/Missing"},
            Problem("", "cannot be checked: $ref '#/defs/Missing' points nowhere"),
        ),
        (
            1,
            {"$ref": "#/defs/Loop"},
            Problem("", "cannot be checked: $ref chain longer than 32 hops (a reference loop?)"),
        ),
    ],
)
def test_problems(value: Any, schema: dict[str, Any], expected: Problem | None) -> None:
    assert problem(value, schema) == expected


BIG = 2.0**53  # from here on, x - 1 == x in floating point


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        (BIG, {"type": "number"}, None),
        (
            BIG,
            {"type": "number", "maximum": 1},
            Problem("", "must be <= 1, got 9007199254740992.0"),
        ),
        (-BIG, {"minimum": 0}, Problem("", "must be >= 0, got -9007199254740992.0")),
        (1e308, {"type": "integer", "exclusiveMinimum": 0}, None),
        (
            BIG,
            {"exclusiveMaximum": BIG},
            Problem("", "must be < 9007199254740992.0, got 9007199254740992.0"),
        ),
        (
            10**400,
            {"type": "integer", "maximum": 5},
            Problem("", f"must be <= 5, got {str(10**400)[:57]}..."),
        ),
        (2**53 + 1, {"exclusiveMinimum": BIG}, None),
        (math.nan, {"type": "number"}, Problem("", "must be a number, got nan")),
        (math.inf, {"type": "integer"}, Problem("", "must be an integer, got inf")),
    ],
)
def test_numbers_at_the_edge_of_json(
    value: Any, schema: dict[str, Any], expected: Problem | None
) -> None:
    assert problem(value, schema) == expected


_KEYWORDS = [
    "$ref",
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "oneOf",
    "allOf",
]
_schemas = st.recursive(
    st.dictionaries(st.sampled_from(_KEYWORDS), json_values, max_size=4),
    lambda inner: st.dictionaries(
        st.sampled_from(_KEYWORDS),
        inner
        | st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3),
        max_size=4,
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(schema=_schemas, value=json_values)
def test_any_schema_and_value_give_a_problem_or_none_never_an_exception(
    schema: dict[str, Any], value: Any
) -> None:
    # A keyword may be absent or of any type (a json_schema is a client's); the checker reports
    # on the value and never fails itself.
    found = SchemaChecker(schema).problem(value, schema)
    assert found is None or (isinstance(found.path, str) and isinstance(found.text, str))


def test_skipped_values_are_not_checked() -> None:
    checker = SchemaChecker(ROOT, skip=lambda v: v == "later")
    assert checker.problem({"x": "later", "y": 1}, {"$ref": "#/defs/Point"}) is None
    assert checker.problem({"x": "now", "y": 1}, {"$ref": "#/defs/Point"}) == Problem(
        "x", 'must be an integer, got "now"'
    )


def test_long_values_are_shortened_in_messages() -> None:
    found = problem("x" * 500, {"type": "integer"})
    assert found is not None
    assert len(found.text) < 100
    assert found.text.endswith('..."') or found.text.endswith("...")


def test_a_missing_packaged_reference_says_the_install_is_broken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_reference, "OPENAPI_NAME", "missing-openapi.json")
    _reference.load_openapi.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="Reinstall rxsubstrate"):
            _openapi.load_openapi()
    finally:
        _reference.load_openapi.cache_clear()


def test_the_reference_is_the_packaged_copy() -> None:
    packaged = Path(rxsubstrate.__file__).parent / "_reference" / "substrate-openapi.json"
    assert _openapi.load_openapi() == json.loads(packaged.read_bytes())
