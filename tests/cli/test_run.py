"""``rxsubstrate run``: its outputs against the library's for the same graph, its plain text,
its exit statuses, and the graph files it takes or refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rxsubstrate import GraphResult, NodeError
from rxsubstrate.server import EmbeddedServer

from .conftest import Cli, dag_of, json_lines, library_events, library_sse, unnamed, write


@pytest.fixture
def dag_file(graph_file: Path, tmp_path: Path) -> Path:
    path = tmp_path / "dag.json"
    path.write_text(json.dumps(dag_of(graph_file)))
    return path


def test_json_lines_are_the_events_the_library_gives(cli: Cli, dag_file: Path) -> None:
    result = cli("run", str(dag_file), "--json", "--chunk-delay", "0")

    expected = library_events(json.loads(dag_file.read_text()))
    assert result.status == 0, result.err
    assert json_lines(result.out) == [event.to_dict() for event in expected]
    assert len(result.out.splitlines()) == len(expected)  # one event a line
    assert result.err == ""


def test_sse_is_what_iter_events_gives(cli: Cli, dag_file: Path) -> None:
    result = cli("run", str(dag_file), "--sse", "--chunk-delay", "0")

    assert result.status == 0, result.err
    assert result.out == library_sse(json.loads(dag_file.read_text()))


def test_a_python_file_runs_the_named_nodes_with_what_they_reference(
    cli: Cli, graph_file: Path
) -> None:
    result = cli("run", str(graph_file), "check", "--json", "--chunk-delay", "0")

    assert result.status == 0, result.err
    assert json_lines(result.out) == [
        e.to_dict() for e in library_events(dag_of(graph_file, "check"))
    ]
    assert {line.get("node_id") for line in json_lines(result.out)} == {"story_1", "check_1", None}


def test_a_json_dag_or_request_body_is_cut_to_the_named_nodes(
    cli: Cli, graph_file: Path, tmp_path: Path
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"dag": dag_of(graph_file)}))

    result = cli("run", str(body), "check_1", "--json", "--chunk-delay", "0")

    assert result.status == 0, result.err
    assert json_lines(result.out) == [
        e.to_dict() for e in library_events(dag_of(graph_file, "check"))
    ]


def test_without_a_terminal_each_node_is_printed_as_plain_text_at_the_end(
    cli: Cli, graph_file: Path
) -> None:
    result = cli("run", str(graph_file), "--chunk-delay", "0")

    outputs = next(e for e in library_events(dag_of(graph_file)) if isinstance(e, GraphResult))
    assert result.status == 0, result.err
    assert "\x1b" not in result.out
    blocks = result.out.split("\n\n")
    assert blocks[0].startswith("== story (ComputeText): done in ")
    assert blocks[0].split("\n", 1)[1] == outputs.outputs["story_1"]["text"]
    assert blocks[1].startswith("== check (ComputeText): done in ")
    assert blocks[1].split("\n", 1)[1] == outputs.outputs["check_1"]["text"]
    choices = [c["text"] for c in outputs.outputs["many_1"]["choices"]]
    assert blocks[2].split("\n", 1)[1] == f"[0] {choices[0]}\n[1] {choices[1]}"
    assert json.loads(blocks[3].split("\n", 1)[1]) == outputs.outputs["facts_1"]
    assert blocks[4].startswith("4 nodes (4 done), ")
    assert "the built-in text is a local stand-in" in blocks[4]


def test_a_failed_node_fails_the_command_and_is_named_on_stderr(
    cli: Cli, failing_file: Path
) -> None:
    result = cli("run", str(failing_file), "--chunk-delay", "0")

    failure = next(e for e in library_events(dag_of(failing_file)) if isinstance(e, NodeError))
    message = unnamed(f"{failure.data.type}: {failure.data.message}")
    assert result.status == 1
    assert result.err.count("\n") == 1
    assert "== story (ComputeText): done in " in result.out
    assert "== broken (Box): failed after" in result.out
    assert message in unnamed(result.out)
    assert (
        unnamed(result.err)
        == f"rxsubstrate: NodeFailed: node broken (broken_1) failed with {message}"
    )


def test_json_output_also_fails_for_a_failed_node(cli: Cli, failing_file: Path) -> None:
    result = cli("run", str(failing_file), "--json", "--chunk-delay", "0")

    assert result.status == 1
    assert [line["object"] for line in json_lines(result.out)][-1] == "graph.result"
    assert result.err.startswith("rxsubstrate: NodeFailed: node broken (broken_1) failed")


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("syntax.py", "a = ComputeText(prompt='x'\n", "syntax.py, line 1: '(' was never closed"),
        ("empty.py", "import rxsubstrate\nx = 1\n", "empty.py defines no nodes"),
        ("raises.py", "x = 1\ny = x / 0\n", "raises.py, line 2, raised ZeroDivisionError"),
        ("bad.json", "{not json", "bad.json: JSON is malformed"),
        ("list.json", '{"nodes": [1]}', "list.json: not a dag"),
    ],
)
def test_a_bad_graph_file_is_a_usage_error(
    cli: Cli, tmp_path: Path, name: str, source: str, message: str
) -> None:
    result = cli("run", str(write(tmp_path, name, source)))

    assert result.status == 2
    assert result.out == ""
    assert "usage: rxsubstrate run" in result.err
    assert message in result.err


def test_an_unknown_node_name_is_a_usage_error_that_lists_the_names(
    cli: Cli, graph_file: Path
) -> None:
    result = cli("run", str(graph_file), "story", "stroy")

    assert result.status == 2
    assert "has no node named stroy; its nodes are: story, check, many, facts" in result.err


def test_a_missing_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", str(tmp_path / "nowhere.py"))

    assert result.status == 2
    assert "nowhere.py: no such file" in result.err


def test_a_server_and_key_from_options_or_the_environment(
    cli: Cli, dag_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rxsubstrate.engine import Engine

    server = EmbeddedServer(Engine())
    try:
        url = server.start()
        key_file = tmp_path / "key"
        key_file.write_text(server.api_key + "\n")
        expected = [e.to_dict() for e in library_events(json.loads(dag_file.read_text()))]

        by_options = cli(
            "run", str(dag_file), "--json", "--base-url", url, "--api-key-file", str(key_file)
        )
        monkeypatch.setenv("SUBSTRATE_BASE_URL", url)
        monkeypatch.setenv("SUBSTRATE_API_KEY", server.api_key)
        by_environment = cli("run", str(dag_file), "--json")
        wrong_key = cli("run", str(dag_file), "--json", "--api-key", "not-the-key")
    finally:
        server.close()

    assert (by_options.status, by_environment.status) == (0, 0), by_options.err + by_environment.err
    assert json_lines(by_options.out) == json_lines(by_environment.out) == expected
    assert wrong_key.status == 1
    assert wrong_key.out == ""
    assert wrong_key.err.startswith("rxsubstrate: AuthenticationError: HTTP 401")
    assert "not-the-key" not in wrong_key.err
