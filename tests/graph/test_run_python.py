"""``RunPython(function=...)``: the function travels pickled by value, as the SDK sends it."""

from __future__ import annotations

import base64
import inspect
import sys
from typing import Any

import cloudpickle
import pytest

from rxsubstrate import ComputeText, RunPython, serialize


def scale(values: list[float], factor: float = 2.0) -> list[float]:
    """A function of an importable module (this one): by reference, pickle would name it."""
    return [v * factor for v in values]


def args_of(node: RunPython) -> dict[str, Any]:
    entry = next(n for n in serialize(node)["nodes"] if n["id"] == node.id)
    args: dict[str, Any] = entry["args"]
    return args


def test_the_function_is_pickled_by_value_and_runs_where_its_module_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = ComputeText(prompt="numbers")
    node = RunPython(function=scale, kwargs={"values": [1, 2], "label": a.future.text})
    args = args_of(node)
    assert args["python_version"] == sys.version.split()[0]
    assert args["pip_install"] is None
    assert args["kwargs"]["values"] == [1, 2]
    assert "__$$SB_GRAPH_OP_ID$$__" in args["kwargs"]["label"]
    # Where the hosted service unpickles it, this test module cannot be imported.
    monkeypatch.setitem(sys.modules, __name__, None)
    revived = cloudpickle.loads(base64.b64decode(args["pkl_function"]))
    assert revived(values=[1.5], factor=3) == [4.5]
    assert scale.__module__ == __name__  # restored once pickled


def test_a_lambda_with_a_closure_travels_with_its_closure() -> None:
    offset = 10
    node = RunPython(function=lambda x: x + offset, kwargs={"x": 1})
    revived = cloudpickle.loads(base64.b64decode(args_of(node)["pkl_function"]))
    assert revived(x=5) == 15


def test_the_sdk_spellings_and_an_already_pickled_function() -> None:
    first = RunPython(function=scale)
    second = RunPython(scale, {"values": [1]}, ["numpy"], _depends=[first], _max_retries=2)
    assert second.depends == (first,)
    assert second.max_retries == 2
    assert args_of(second)["pip_install"] == ["numpy"]
    assert args_of(first)["kwargs"] == {}
    pickled = RunPython(pkl_function="gAR9lC4=", kwargs={}, python_version="3.12.1")
    assert args_of(pickled) == {
        "pkl_function": "gAR9lC4=",
        "kwargs": {},
        "pip_install": None,
        "python_version": "3.12.1",
    }


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: RunPython(), "exactly one"),
        (lambda: RunPython(function=scale, pkl_function="gAR9lC4="), "exactly one"),
        (lambda: RunPython(function=print), "Python function"),
        (lambda: RunPython(function="print('hi')"), "Python function"),
    ],
    ids=["neither", "both", "builtin", "source text"],
)
def test_what_cannot_be_sent_is_refused_when_the_node_is_made(call: Any, words: str) -> None:
    with pytest.raises(TypeError, match=words):
        call()


def test_without_cloudpickle_it_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # makes `import cloudpickle` fail
    with pytest.raises(ImportError, match=r"rxsubstrate\[runpython\]"):
        RunPython(function=scale)
    assert RunPython(pkl_function="gAR9lC4=", kwargs={}).kind == "RunPython"


def test_its_positional_parameters_are_the_sdks(sdk: Any) -> None:
    def positional(cls: type) -> list[str]:
        parameters = inspect.signature(vars(cls)["__init__"]).parameters.values()
        return [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD][1:]

    theirs = positional(sdk.RunPython)
    assert positional(RunPython) == theirs[: theirs.index("hide")]
