"""The command line as a whole: every command's help shows its defaults, the core import and
``serve`` stay without rich, and without rich a terminal gets plain text."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from rxsubstrate.cli import parser

from .conftest import Cli

COMMANDS = ["run", "record", "replay", "serve", "demo"]


def valued_options(command: str) -> list[argparse.Action]:
    """The options of ``command`` that take a value and may be left out (a flag's default is
    off, a required option has none)."""
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [
        action
        for action in sub.choices[command]._actions
        if action.nargs == "*"
        or (action.option_strings and action.nargs != 0 and not action.required)
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_default(cli: Cli, command: str) -> None:
    result = cli(command, "--help")

    text = " ".join(result.out.split())
    options = valued_options(command)
    assert result.status == 0
    assert options
    assert text.count("(default: ") == len(options)  # one per option, whatever its default
    for action in options:
        if action.default not in (None, [], argparse.SUPPRESS):
            assert f"(default: {action.default})" in text, action.dest


def test_a_command_is_required(cli: Cli) -> None:
    result = cli()

    assert result.status == 2
    assert "usage: rxsubstrate" in result.err


def loaded_after(code: str) -> list[str]:
    """Which of rich and rxsubstrate.cli a fresh interpreter has loaded after ``code``."""
    probe = (
        f"{code}\nimport sys\n"
        "print(sorted({'rich'} & {m.split('.')[0] for m in sys.modules}"
        " | {'rxsubstrate.cli'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return ast.literal_eval(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_the_core_import_and_serve_load_no_rich(tmp_path: Path) -> None:
    assert loaded_after("import rxsubstrate, rxsubstrate.ops") == []
    serve_help = (
        "from rxsubstrate.cli import main\n"
        "import rxsubstrate.cli._serve, rxsubstrate.server\n"
        "try: main(['serve', '--help'])\n"
        "except SystemExit: pass"
    )
    assert loaded_after(serve_help) == ["rxsubstrate.cli"]


def test_without_rich_a_terminal_gets_plain_text_and_a_hint(
    cli: Cli, graph_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # import rich fails, as when not installed
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)

    result = cli("run", str(graph_file), "story", "--chunk-delay", "0")

    assert result.status == 0
    assert result.out.startswith("== story (ComputeText): done in ")
    assert result.err == "rxsubstrate: the live view needs rich: pip install 'rxsubstrate[cli]'\n"
