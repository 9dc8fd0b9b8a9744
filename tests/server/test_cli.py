"""``rxsubstrate serve`` as a user starts it: a subprocess on a free port, stopped by a signal."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rxsubstrate.cli import main

from .conftest import dag, node

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


class Served:
    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def post(self, graph: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.url}/compose",
            data=json.dumps({"dag": graph}).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(STOP_TIMEOUT)


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line the server prints, or fail after STARTUP_TIMEOUT."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=STARTUP_TIMEOUT)
    except queue.Empty:
        pytest.fail("the server printed nothing")


@pytest.fixture
def serve_cli(tmp_path: Path) -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        with (tmp_path / f"stderr-{len(processes)}.txt").open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "rxsubstrate", "serve", "--port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, **(env or {})},
            )
        processes.append(process)
        line = first_line(process)
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        return Served(process, match.group(0))

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_answers_then_stops_on_a_signal(serve_cli: Any, sig: int) -> None:
    served = serve_cli()

    status, body = served.post(dag(node("a")))

    assert status == 200
    assert isinstance(body["data"]["a"]["text"], str)
    assert served.stop(sig) == 0


def test_serve_with_two_workers_answers_then_stops(serve_cli: Any) -> None:
    served = serve_cli("--workers", "2")

    answers = [served.post(dag(node("a"))) for _ in range(4)]

    assert all(status == 200 for status, _ in answers)
    assert len({json.dumps(body) for _, body in answers}) == 1  # stateless: same graph, same output
    assert served.stop(signal.SIGTERM) == 0


def test_serve_takes_its_api_key_from_the_environment(serve_cli: Any) -> None:
    served = serve_cli(env={"RXSUBSTRATE_API_KEY": "local-secret"})

    assert served.post(dag(node("a")))[0] == 401
    assert served.post(dag(node("a")), {"Authorization": "Bearer local-secret"})[0] == 200
    assert served.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--workers", "0"],
        ["serve", "--text-backend", "http://127.0.0.1:1/v1"],
        ["serve", "--chunk-delay", "-1"],
        [],
    ],
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "usage: rxsubstrate" in capsys.readouterr().err


def test_demo_prints_both_nodes_streaming(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("rxsubstrate._graph", reason="the graph nodes have not landed yet")

    assert main(["demo", "--chunk-delay", "0"]) == 0

    out = capsys.readouterr().out
    assert out.count(" done") == 2
    assert "graph.result:" in out


def test_importing_the_package_loads_no_cli_server_or_engine() -> None:
    code = (
        "import sys, rxsubstrate; "
        "print(sorted(m for m in sys.modules if m.startswith(('rxsubstrate.cli', "
        "'rxsubstrate.server', 'rxsubstrate.engine')) or m == 'argparse'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=STOP_TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
