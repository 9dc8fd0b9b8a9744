"""``rxsubstrate run`` as a person runs it: in a terminal (tmux, whose screen is read back), and
stopped with Ctrl-C (SIGINT) in the middle of a run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rxsubstrate import GraphResult, NodeError
from rxsubstrate.engine import Engine
from rxsubstrate.server import EmbeddedServer
from tests.server.conftest import Hang
from tests.server.test_cli import first_line

from .conftest import Cli, dag_of, library_events, unnamed, write

TIMEOUT = 30.0
RUN = (sys.executable, "-m", "rxsubstrate", "run")


class Tmux:
    """A tmux server of the test's own, with one window of a fixed size."""

    def __init__(self, width: int, height: int) -> None:
        self.socket = f"rxsubstrate-test-{uuid.uuid4().hex[:12]}"
        self.size = (str(width), str(height))

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        )
        return done.stdout

    def run(self, *argv: str) -> str:
        """Run ``argv`` in the window until it exits; the screen then."""
        command = " ".join(map(_quote, argv))
        signal_done = f"tmux -L {self.socket} wait-for -S done"
        script = f'{command}; echo "exit status $?"; {signal_done}; exec sleep {TIMEOUT}'
        width, height = self.size
        self.tmux("new-session", "-d", "-x", width, "-y", height, "sh", "-c", script)
        self.tmux("wait-for", "done")
        return self.tmux("capture-pane", "-p")

    def close(self) -> None:
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=TIMEOUT
        )


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it with apt-get where it can)")
    pytest.importorskip("rich", reason="the live view needs the rxsubstrate[cli] extra")
    terminal = Tmux(width=90, height=30)
    yield terminal
    terminal.close()


def panel(screen: list[str], title: str) -> tuple[str, str]:
    """The text inside the panel titled ``title`` (its lines joined) and its status line."""
    start = next(i for i, line in enumerate(screen) if line.startswith(f"╭─ {title} "))
    end = next(i for i in range(start + 1, len(screen)) if screen[i].startswith("╰"))
    text = " ".join(line.strip("│ ") for line in screen[start + 1 : end])
    return text, screen[end].strip("╰─ ")


def test_the_live_view_in_a_terminal_ends_on_every_panel_whole(
    tmux: Tmux, failing_file: Path
) -> None:
    screen = tmux.run(*RUN, str(failing_file)).splitlines()

    events = library_events(dag_of(failing_file))
    result = events[-1]
    failure = next(e for e in events if isinstance(e, NodeError))
    assert isinstance(result, GraphResult)
    story, story_status = panel(screen, "story · ComputeText")
    assert story == result.outputs["story_1"]["text"]
    assert story_status.startswith("done in ")
    assert story_status.split(", ")[1] == "8 chunks"
    broken, broken_status = panel(screen, "broken · Box")
    assert unnamed(broken) == unnamed(f"{failure.data.type}: {failure.data.message}")
    assert broken_status.startswith("failed after ")
    footer = "\n".join(screen)
    assert "2 nodes (1 done, 1 failed)" in footer
    assert "the built-in text is a local stand-in" in footer
    assert "rxsubstrate: NodeFailed: node broken (broken_1) failed" in footer
    assert "exit status 1" in footer


def test_ctrl_c_cancels_the_run_with_status_130_and_one_line(failing_file: Path) -> None:
    process = subprocess.Popen(
        [*RUN, str(failing_file), "--json", "--chunk-delay", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = first_line(process)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=TIMEOUT)

    assert process.returncode == 130
    assert err == "rxsubstrate: cancelled (Ctrl-C)\n"
    events = [json.loads(line) for line in [first, *out.splitlines()]]
    assert events[0]["object"] == "node.delta"
    assert "graph.result" not in [event["object"] for event in events]  # it was cut short


def test_ctrl_c_cancels_the_run_on_the_server_and_shows_it_cancelled(
    cli: Cli, tmp_path: Path
) -> None:
    hang = Hang(threading.Event)  # streams "first", then waits until its run is cancelled
    engine = Engine()
    engine.register("Hang", hang)
    server = EmbeddedServer(engine)
    graph = write(tmp_path, "hang.py", "from rxsubstrate import Node\nwait = Node('Hang', x=1)\n")

    def press_ctrl_c() -> None:
        if hang.started.wait(TIMEOUT):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    try:
        url = server.start()
        threading.Thread(target=press_ctrl_c, daemon=True).start()
        result = cli("run", str(graph), "--base-url", url, "--api-key", server.api_key)
        cancelled = hang.cancelled.wait(TIMEOUT)
    finally:
        server.close()

    assert cancelled
    assert result.status == 130
    assert result.err == "rxsubstrate: cancelled (Ctrl-C)\n"
    assert result.out.startswith("== wait (Hang): cancelled after ")
