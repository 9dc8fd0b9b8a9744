"""The generated node classes and output Structs: current, complete, and like the SDK's."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rxsubstrate
from rxsubstrate import Node, serialize
from rxsubstrate._graph import NODE_TYPES
from rxsubstrate.outputs import OUTPUT_TYPES
from tools.generate_nodes import OPENAPI_PATH, OUTPUT_DIR, generate, main

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import substrate.nodes as sdk_nodes

OPENAPI: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]
KINDS = [path.lstrip("/") for path in OPENAPI["paths"]]
SDK_KINDS = [kind for kind in KINDS if hasattr(sdk_nodes, kind) and kind != "RunPython"]


def test_checked_in_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    for name in generate(OPENAPI):
        assert (tmp_path / name).read_text() == (OUTPUT_DIR / name).read_text(), (
            f"{name} is stale: run python -m tools.generate_nodes"
        )


def test_the_openapi_reference_and_its_licence_ship_in_the_package() -> None:
    assert OPENAPI_PATH.parent == Path(rxsubstrate.__file__).parent / "_reference"
    assert "MIT License" in (OPENAPI_PATH.parent / "substrate-openapi.LICENSE.txt").read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_every_node_has_a_class_with_its_kind_and_output(kind: str) -> None:
    cls = getattr(rxsubstrate, kind)
    assert NODE_TYPES[kind] is cls
    assert issubclass(cls, Node)
    assert cls.kind == kind
    assert cls.output_type is OUTPUT_TYPES[kind]
    assert cls.__doc__
    assert "Args:" in cls.__doc__


def sample(schema: dict[str, Any]) -> Any:
    """A value of the schema's type, for required arguments."""
    if "$ref" in schema:
        return {}
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "s", "integer": 1, "number": 0.5, "boolean": True, "array": []}.get(
        schema.get("type", ""), {}
    )


@pytest.mark.parametrize("kind", SDK_KINDS)
def test_signature_and_sent_args_match_the_sdk(kind: str) -> None:
    ours, theirs = getattr(rxsubstrate, kind), getattr(sdk_nodes, kind)
    skip = {"self", "hide", "kwargs", "options"}

    def params(cls: type) -> list[tuple[str, Any]]:
        signature = inspect.signature(vars(cls)["__init__"])
        return [(n, p.default) for n, p in signature.parameters.items() if n not in skip]

    assert params(ours) == params(theirs)
    schema = SCHEMAS[f"{kind}In"]
    required = {n: sample(schema["properties"][n]) for n in schema.get("required", [])}
    (sent,) = serialize(ours(**required))["nodes"]
    assert sent["args"] == theirs(**required).to_dict()["args"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_reference_examples_decode_to_the_output_struct(kind: str) -> None:
    response = OPENAPI["paths"][f"/{kind}"]["post"]["responses"]["200"]
    example = response["content"]["application/json"]["example"]
    decoded = msgspec.convert(example, OUTPUT_TYPES[kind])
    assert without_nones(msgspec.to_builtins(decoded)) == without_nones(example)  # nothing lost


def without_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nones(v) for v in value]
    return value


def test_output_structs_are_frozen_and_optional_fields_default_to_none() -> None:
    from rxsubstrate.outputs import ComputeJSONOut, ComputeTextOut, MultiComputeTextOut

    out = msgspec.convert({"choices": [{"text": "a"}]}, MultiComputeTextOut)
    assert out.choices == [ComputeTextOut(text="a")]
    assert ComputeJSONOut() == ComputeJSONOut(json_object=None, text=None)
    with pytest.raises(AttributeError):
        out.choices = []  # type: ignore[misc]
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({}, ComputeTextOut)


def test_generate_text_is_compute_text() -> None:
    assert rxsubstrate.GenerateText is rxsubstrate.ComputeText


def test_a_plain_node_of_a_known_kind_knows_its_output() -> None:
    assert Node("ComputeText", prompt="p").output_type is OUTPUT_TYPES["ComputeText"]
    assert Node("SomethingNew", x=1).output_type is dict


def test_the_generator_is_a_development_tool_not_part_of_the_package() -> None:
    package = Path(rxsubstrate.__file__).parent
    assert not any("generate" in path.name for path in package.rglob("*.py"))
