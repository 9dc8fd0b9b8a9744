"""``rxsubstrate record`` then ``replay``: the same events as the run, and as the library's
``replay``; a damaged recording fails as a live stream would."""

from __future__ import annotations

from pathlib import Path

import pytest

from rxsubstrate import SubstrateError, replay

from .conftest import Cli, json_lines


@pytest.fixture
def recording(cli: Cli, graph_file: Path, tmp_path: Path) -> tuple[Path, str]:
    """A recording of the graph file's run, and what ``record --json`` printed meanwhile."""
    path = tmp_path / "run.sse"
    result = cli("record", str(graph_file), "-o", str(path), "--json", "--chunk-delay", "0")
    assert result.status == 0, result.err
    return path, result.out


def test_replay_prints_what_record_printed_and_what_the_library_replays(
    cli: Cli, recording: tuple[Path, str]
) -> None:
    path, recorded = recording

    replayed = cli("replay", str(path), "--fast", "--json")

    assert replayed.status == 0, replayed.err
    assert replayed.out == recorded
    assert json_lines(recorded) == [e.to_dict() for e in replay(path, None).iter()]
    assert cli("replay", str(path), "--speed", "50", "--sse").out == "".join(
        replay(path, None).iter_events()
    )


def test_record_shows_the_run_as_run_does(cli: Cli, graph_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "run.sse"

    recorded = cli("record", str(graph_file), "story", "-o", str(path), "--chunk-delay", "0")
    replayed = cli("replay", str(path), "--fast")

    assert recorded.status == replayed.status == 0
    story = recorded.out.split("\n\n")[0].split("\n", 1)[1]
    assert recorded.out.startswith("== story (ComputeText): done in ")
    assert f"recording to {path}" in recorded.out
    assert replayed.out.startswith("== story_1: done in ")  # a recording keeps ids, not names
    assert replayed.out.split("\n\n")[0].split("\n", 1)[1] == story
    assert f"replay of {path}, as fast as it is read" in replayed.out


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (lambda data: data[: len(data) // 2], "StreamInterrupted"),
        (lambda data: data.replace(b'"node.result"', b'"node.result', 1), "MalformedEvent"),
    ],
    ids=["truncated", "corrupted"],
)
def test_a_damaged_recording_fails_with_the_live_streams_error(
    cli: Cli, recording: tuple[Path, str], damage: object, error: str
) -> None:
    path, _ = recording
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]

    result = cli("replay", str(path), "--fast")
    with pytest.raises(SubstrateError) as library:
        list(replay(path, None).iter())

    assert type(library.value).__name__ == error
    assert result.status == 1
    assert result.err == f"rxsubstrate: {error}: {library.value}\n"
    assert "interrupted after" in result.out  # what arrived before the fault is shown


def test_replaying_a_missing_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    result = cli("replay", str(tmp_path / "none.sse"))

    assert result.status == 2
    assert "none.sse: No such file or directory" in result.err


def test_a_recording_that_cannot_be_written_fails_the_command(
    cli: Cli, graph_file: Path, tmp_path: Path
) -> None:
    result = cli("record", str(graph_file), "-o", str(tmp_path / "no" / "run.sse"))

    assert result.status == 1
    assert result.err.startswith("rxsubstrate: FileNotFoundError: ")


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "fast"])
def test_a_speed_that_is_not_a_positive_number_is_a_usage_error(
    cli: Cli, recording: tuple[Path, str], speed: str
) -> None:
    result = cli("replay", str(recording[0]), "--speed", speed)

    assert result.status == 2
    assert "--speed" in result.err


def test_escape_sequences_from_a_run_are_shown_not_obeyed(cli: Cli, tmp_path: Path) -> None:
    capture = tmp_path / "hostile.sse"  # any SSE capture of a run replays
    capture.write_text(
        'data: {"object":"node.delta","node_id":"n\\u001b[2J",'
        '"data":{"text":"a \\u001b[31mred"}}\n\n'
        'data: {"object":"node.error","node_id":"e","data":{"type":"api_error",'
        '"message":"\\u001b]0;title\\u0007 gone"}}\n\n'
        'data: {"object":"graph.result","data":{"data":{}}}\n\n'
    )

    result = cli("replay", str(capture), "--fast")

    assert result.status == 1
    assert "\x1b" not in result.out + result.err
    assert "\x07" not in result.out + result.err
    assert "== n\\x1b[2J: no result after " in result.out
    assert "\na \\x1b[31mred\n" in result.out
    assert "api_error: \\x1b]0;title\\x07 gone" in result.out
    assert result.err == (
        "rxsubstrate: NodeFailed: node e failed with api_error: \\x1b]0;title\\x07 gone\n"
    )
