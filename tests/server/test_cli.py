"""``rxsubstrate serve`` as a user starts it: a subprocess on a free port, stopped by a signal."""

from __future__ import annotations

import concurrent.futures
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
from typing import IO, Any

import pytest

from rxsubstrate.cli import main
from tests.wire import graph, node

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


class Log:
    """The lines a process writes to a pipe, collected by a thread; wait for one by pattern."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1) -> list[re.Match[str]]:
        """The first ``count`` matches of ``pattern``, waiting up to STARTUP_TIMEOUT for them."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: len(self._matches(pattern)) >= count, STARTUP_TIMEOUT
            ):
                pytest.fail(f"no {count} line(s) matching {pattern!r} in:\n{''.join(self.lines)}")
            return self._matches(pattern)[:count]

    def _matches(self, pattern: str) -> list[re.Match[str]]:
        return [m for line in self.lines if (m := re.search(pattern, line))]


class Served:
    def __init__(self, process: subprocess.Popen[str], url: str, log: Log) -> None:
        self.process = process
        self.url = url
        self.log = log

    def post(self, wire_graph: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST /compose ``graph``; the status and the JSON answer."""
        request = urllib.request.Request(
            f"{self.url}/compose",
            data=json.dumps({"dag": wire_graph}).encode(),
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
def serve_cli() -> Iterator[Any]:
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Served:
        process = subprocess.Popen(
            [sys.executable, "-m", "rxsubstrate", "serve", "--port", "0", *args],
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        processes.append(process)
        assert process.stderr is not None
        log = Log(process.stderr)
        if stdin is not None:
            assert process.stdin is not None
            process.stdin.write(stdin)
            process.stdin.close()
        line = first_line(process)
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line + "".join(log.lines)
        return Served(process, match.group(0), log)

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT)
        for stream in (process.stdout, process.stderr, process.stdin):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_answers_then_stops_on_a_signal(serve_cli: Any, sig: int) -> None:
    served = serve_cli()

    status, body = served.post(graph(node("a")))

    assert status == 200
    assert isinstance(body["data"]["a"]["text"], str)
    assert served.stop(sig) == 0


def test_serve_takes_its_api_key_from_the_environment(serve_cli: Any) -> None:
    served = serve_cli(env={"RXSUBSTRATE_API_KEY": "local-secret"})

    assert served.post(graph(node("a")))[0] == 401
    assert served.post(graph(node("a")), {"Authorization": "Bearer local-secret"})[0] == 200
    assert served.stop(signal.SIGTERM) == 0


def test_serve_takes_its_api_key_from_a_file(serve_cli: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("file-secret\n")
    served = serve_cli("--api-key-file", str(key_file))

    assert served.post(graph(node("a")))[0] == 401
    assert served.post(graph(node("a")), {"Authorization": "Bearer file-secret"})[0] == 200
    assert "file-secret" not in " ".join(served.process.args)  # type: ignore[arg-type]
    assert served.stop(signal.SIGTERM) == 0


def test_serve_takes_its_api_key_from_stdin(serve_cli: Any) -> None:
    served = serve_cli("--api-key-file", "-", stdin="stdin-secret\n")

    assert served.post(graph(node("a")))[0] == 401
    assert served.post(graph(node("a")), {"Authorization": "Bearer stdin-secret"})[0] == 200
    assert served.stop(signal.SIGTERM) == 0


def test_an_empty_key_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "key").write_text("\n")
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--api-key-file", str(tmp_path / "key")])
    assert exit_.value.code == 2
    assert "no key" in capsys.readouterr().err


def test_limits_are_flags(serve_cli: Any) -> None:
    served = serve_cli("--max-json-depth", "3")

    status, error = served.post(graph(node("a")))  # {dag {nodes [{args ... is 4 deep

    assert status == 400
    assert "deeper than 3 levels" in error["message"]
    assert served.stop(signal.SIGTERM) == 0


# -- --workers N ------------------------------------------------------------------------------

WORKER_STARTED = r"worker (\d+) started \(pid (\d+)\)"
WORKER_SERVING = r"worker (\d+) \(pid (\d+)\) is serving"


def post_many(served: Served, n: int) -> list[int]:
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: served.post(graph(node("a")))[0], range(n)))


def test_two_workers_share_the_runs_then_stop(serve_cli: Any) -> None:
    served = serve_cli("--workers", "2")
    served.log.wait_for(WORKER_SERVING, count=2)

    answers = [served.post(graph(node("a"))) for _ in range(4)]
    assert post_many(served, 40) == [200] * 40

    assert all(status == 200 for status, _ in answers)
    assert len({json.dumps(body) for _, body in answers}) == 1  # stateless: same graph, same output
    assert served.stop(signal.SIGTERM) == 0
    access_log = served.log.wait_for(r"(rxsubstrate-worker-\d+) .*POST /compose", count=44)
    assert {m.group(1) for m in access_log} == {"rxsubstrate-worker-0", "rxsubstrate-worker-1"}


def test_a_killed_worker_is_replaced_and_runs_go_on(serve_cli: Any) -> None:
    served = serve_cli("--workers", "2")
    serving = served.log.wait_for(WORKER_SERVING, count=2)
    index, victim = serving[0].group(1), int(serving[0].group(2))

    os.kill(victim, signal.SIGKILL)

    served.log.wait_for(rf"worker {index} \(pid {victim}\) was killed by SIGKILL")
    assert post_many(served, 10) == [200] * 10
    replacement = served.log.wait_for(WORKER_STARTED, count=3)[2]
    assert replacement.group(1) == index
    assert int(replacement.group(2)) != victim
    assert served.stop(signal.SIGTERM) == 0


def test_a_worker_that_stops_answering_is_killed_and_replaced(serve_cli: Any) -> None:
    served = serve_cli("--workers", "2", "--worker-timeout", "1")
    serving = served.log.wait_for(WORKER_SERVING, count=2)
    index, frozen = serving[1].group(1), int(serving[1].group(2))

    os.kill(frozen, signal.SIGSTOP)  # its loop answers nothing from now on

    served.log.wait_for(rf"worker {index} \(pid {frozen}\) sent no heartbeat")
    served.log.wait_for(rf"worker {index} \(pid {frozen}\) was killed by SIGKILL")
    assert served.log.wait_for(WORKER_STARTED, count=3)[2].group(1) == index, served.log.lines
    assert post_many(served, 10) == [200] * 10
    assert served.stop(signal.SIGTERM) == 0


def test_shutdown_waits_for_all_workers_against_one_deadline(serve_cli: Any) -> None:
    served = serve_cli("--workers", "2", "--worker-timeout", "600", "--shutdown-timeout", "1")
    started = served.log.wait_for(WORKER_SERVING, count=2)
    for match in started:  # none of them can stop gracefully now
        os.kill(int(match.group(2)), signal.SIGSTOP)

    assert served.stop(signal.SIGTERM) == 0  # within STOP_TIMEOUT, not a deadline per worker

    assert len(served.log.wait_for(r"did not stop in time; killing it", count=2)) == 2
    for match in started:
        with pytest.raises(ProcessLookupError):
            os.kill(int(match.group(2)), 0)


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

    assert main(["demo", "--chunk-delay", "0"]) == 0

    out = capsys.readouterr().out
    assert out.count(" done") == 2
    assert "graph.result:" in out
    assert out.startswith(
        "Note: this is the embedded engine; the built-in text is a local stand-in"
    )


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
