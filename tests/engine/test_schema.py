"""The JSON-schema subset checker behind argument validation and the packaged reference it
reads (pure, tested directly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rxsubstrate
from rxsubstrate.engine import _openapi
from rxsubstrate.engine._schema import Problem, SchemaChecker

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
        ("ab", {"minLength": 3}, Problem("", "must be at least 3 characters long")),
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
    monkeypatch.setattr(_openapi, "_PACKAGED", tmp_path / "substrate-openapi.json")
    _openapi.load_openapi.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="Reinstall rxsubstrate"):
            _openapi.load_openapi()
    finally:
        _openapi.load_openapi.cache_clear()


def test_the_reference_is_the_packaged_copy() -> None:
    assert _openapi._PACKAGED.is_relative_to(Path(rxsubstrate.__file__).parent)
    assert _openapi._PACKAGED.is_file()
