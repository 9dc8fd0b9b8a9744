"""Directives see only their inputs.

The server's environment holds its API key and the text backend's key; no jq query, jinja template
or format string may read it, nor any file, module or stream of the server. Each route an
attacker would try is here, with a secret in the environment that must never come out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rxsubstrate import Box, NodeError, NodeResult, sb, serialize
from rxsubstrate.engine import Engine, GraphInvalid

from .graphs import run

SECRET = "rx-secret-7d1c9e20"
MARK = "file-contents-5b2e"


@pytest.fixture(autouse=True)
def secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The secrets a server keeps in its environment, set before any engine starts."""
    monkeypatch.setenv("RXSUBSTRATE_API_KEY", SECRET)
    monkeypatch.setenv("RXSUBSTRATE_TEXT_BACKEND_KEY", SECRET + "-backend")


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """One engine for the module: its sandbox processes are loop-agnostic and start once."""
    engine = Engine()
    yield engine
    engine.close()


@pytest.fixture
def module_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """jq module and data files an attacker hopes to read: in a directory of their choice, in
    the server's working directory and in its ``~/.jq``."""
    for directory in (tmp_path, tmp_path / ".jq"):
        directory.mkdir(exist_ok=True)
        (directory / "data.json").write_text(json.dumps({"leak": MARK}))
        (directory / "lib.jq").write_text(f'def leak: "{MARK}";')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


async def outcome(engine: Engine, value: Any) -> str:
    """What a client sees of a one-node graph: its result, its error, or the 400 message."""
    node = Box(value=value)
    try:
        events = await run(engine, serialize(node))
    except GraphInvalid as exc:
        return f"refused: {exc.message}"
    (final,) = [e for e in events if isinstance(e, NodeResult | NodeError)]
    return json.dumps(final.data if isinstance(final, NodeResult) else final.data.message)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("$ENV", {}),
        ("env", {}),
        ('"\\(env)"', "{}"),
        ("$ENV.RXSUBSTRATE_API_KEY", None),
        ('[env[], $ENV[]] | join(",")', ""),
    ],
)
async def test_jq_sees_no_environment(engine: Engine, query: str, expected: Any) -> None:
    seen = await outcome(engine, sb.jq({"x": 1}, query))
    assert SECRET not in seen
    assert json.loads(seen) == {"value": expected}


@pytest.mark.parametrize(
    "query",
    [
        'import "data" as $d {search: "DIR"}; $d',
        'include "lib" {search: "DIR"}; leak',
        'import "data" as $d; $d',
        'include "lib"; leak',
        'import "data" as $d {search: "~/.jq"}; $d',
        'include "lib" {search: "~/.jq"}; leak',
    ],
)
async def test_jq_reads_no_module_or_data_file(
    engine: Engine, module_files: Path, query: str
) -> None:
    seen = await outcome(engine, sb.jq(1, query.replace("DIR", str(module_files))))
    assert MARK not in seen
    assert seen.startswith("refused: ")
    assert "jq modules (import, include) are not available" in seen


async def test_jq_modulemeta_reads_no_module(engine: Engine, module_files: Path) -> None:
    seen = await outcome(engine, sb.jq("lib", "modulemeta"))
    assert MARK not in seen
    assert "not available" in seen


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("[inputs]", []),
        ("input_filename", None),
        ("get_search_list", []),
        ("$__loc__ | .file", "<top-level>"),
    ],
)
async def test_jq_reads_no_other_input_or_place(engine: Engine, query: str, expected: Any) -> None:
    assert json.loads(await outcome(engine, sb.jq(1, query))) == {"value": expected}


async def test_jq_input_has_nothing_more_to_read(engine: Engine) -> None:
    assert "No more inputs" in await outcome(engine, sb.jq(1, "input"))


async def test_jq_debug_and_stderr_write_nothing_to_the_servers_streams(
    engine: Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    query = f'[limit(2000; repeat("{MARK}" | debug | stderr | debug("m")))] | length'
    assert json.loads(await outcome(engine, sb.jq(1, query))) == {"value": 2000}
    out, err = capfd.readouterr()
    assert MARK not in out + err


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.environ }}",
        "{{ joiner.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ self.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'].environ }}",
        "{{ range.__self__ }}",
        "{% set ns = namespace() %}{{ ns.__init__.__globals__ }}",
        "{% set ns = namespace(__class__=1) %}{{ ns._Namespace__attrs }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ x.items.__self__.__class__ }}",
        "{{ x.__class__.__base__.__subclasses__() }}",
        "{{ x.keys.__globals__ }}",
        "{% include '/proc/self/environ' %}",
        "{% import '/proc/self/environ' as e %}",
        "{% extends '/proc/self/environ' %}",
    ],
)
async def test_jinja_reaches_nothing_outside_its_variables(engine: Engine, template: str) -> None:
    seen = await outcome(engine, sb.jinja(template, x={"a": 1}))
    assert SECRET not in seen
    for sign in ("<class", "<function", "<module", "<built-in", "environ("):
        assert sign not in seen


@pytest.mark.parametrize(
    "f_string",
    ["{x.__class__}", "{x[__class__]}", "{0.__globals__}", "{x!r:>20}", "{x!a}", "{x[a]!r}"],
)
async def test_format_reaches_nothing_outside_its_variables(engine: Engine, f_string: str) -> None:
    seen = await outcome(engine, sb.format(f_string, x={"a": "b"}))
    assert SECRET not in seen
    assert "<class" not in seen
    assert "<function" not in seen
