"""``rxsubstrate serve`` under load and under attack, on loopback (issue 11 §4).

Every scenario starts a fresh server process (``rxsubstrate serve --port 0``, 1,024 file
descriptors as on a default Linux login) and reports its peak RSS:

- load: 500 concurrent streaming runs, each checked whole against a reference run (no event
  lost, repeated or changed), with one worker and with two (how many runs each served);
- attacks: each attack in ``_attacks.ATTACKS`` started, then rounds of 50 concurrent honest
  streaming runs beside it; what the attack's own requests got, and the honest runs' time to
  first event and whole-run time (p50 / p99, ms) against the same rounds with no attack;
- decoding a large body on the loop, in a thread or in a process: time per body and the loop's
  worst lag meanwhile (what other runs on that loop would feel).

``--baseline DIR`` also runs every server scenario against the checkout in DIR (e.g. the commit
before these limits, from ``git archive``), with its default flags, for a before/after table.

Run: ``python -m benchmarks.bench_server [--quick] [--markdown] [--baseline DIR]``. It prints
figures; it asserts nothing (a failed honest run is a figure too).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from ._attacks import ATTACKS, AttackReport, HonestReport, Target, honest_runs, reference_run
from ._table import Section, machine, render

ROOT: Final = Path(__file__).resolve().parents[1]
SERVER_FDS: Final = 1024
# This server's limits raised to what the load scenario needs; a baseline has no such flags.
LOAD_FLAGS: Final = ("--max-runs", "1000", "--max-connections", "900")


class ServerProcess:
    """``rxsubstrate serve`` from ``source`` in a child process, stopped on exit."""

    def __init__(self, source: Path, *args: str) -> None:
        self._source = source
        self._args = args
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in __exit__)
        self._process: subprocess.Popen[str] | None = None
        self.target = Target("127.0.0.1", 0)

    def __enter__(self) -> ServerProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "rxsubstrate", "serve", "--port", "0", *self._args],
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=tempfile.gettempdir(),
            env={**os.environ, "PYTHONPATH": str(self._source)},
            preexec_fn=_limit_fds,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if match is None:
            self.__exit__()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.target = Target("127.0.0.1", int(match.group(1)))
        return self

    def __exit__(self, *_: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._log.close()

    def peak_rss_mb(self) -> float:
        """The peak RSS of the server and its workers, in MB (summed over the processes)."""
        assert self._process is not None
        pids = [self._process.pid, *_children(self._process.pid)]
        return sum(_status_kb(pid, "VmHWM") for pid in pids) / 1024

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def wait_until_serving(self, workers: int) -> None:
        """With workers, wait for their "is serving" lines (the supervisor logs them)."""
        deadline = time.monotonic() + 60
        while self.log().count(" is serving") < workers and time.monotonic() < deadline:
            time.sleep(0.1)


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FDS, SERVER_FDS))


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as children:
            return [int(p) for p in children.read().split()]
    except OSError:
        return []


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- scenarios --------------------------------------------------------------------------------


async def _beside(
    target: Target, attack_name: str | None, rounds: int
) -> tuple[HonestReport, AttackReport]:
    stop = asyncio.Event()
    report = AttackReport()
    reference = await reference_run(target)
    attack = None
    if attack_name is not None:
        attack = asyncio.create_task(ATTACKS[attack_name](target, stop, report))
        await asyncio.sleep(2.0)  # let its connections and first requests land
    try:
        honest = await honest_runs(target, reference, concurrent=50, rounds=rounds)
    finally:
        stop.set()
        if attack is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(attack, 120)
    return honest, report


def attacks_section(source: Path, label: str, rounds: int, flags: tuple[str, ...]) -> Section:
    section = Section(
        f"Attacks beside 50 honest streaming runs ({rounds} rounds), {label}",
        [
            "attack",
            "attack requests got",
            "answer KB",
            "server peak RSS MB",
            "honest runs whole",
            "first event p50 / p99 ms",
            "run p50 / p99 ms",
        ],
    )
    for name in [None, *ATTACKS]:
        with ServerProcess(source, "--chunk-delay", "0.002", *flags) as server:
            honest, report = asyncio.run(_beside(server.target, name, rounds))
            section.add(
                name or "(none)",
                report.summary(),
                f"{report.answer_bytes / 1024:,.0f}" if report.statuses else "-",
                f"{server.peak_rss_mb():.0f}",
                honest.intact(),
                honest.ttfe(),
                honest.duration(),
            )
            for failure, count in honest.failures.most_common(2):
                section.notes.append(f"{name}: {count} honest run(s) failed: {failure}")
    section.notes.append(
        "Each row is a fresh server (1,024 file descriptors, --chunk-delay 0.002); the attack"
        " starts 2 s before the honest runs and goes on until they end."
    )
    return section


def load_section(source: Path, label: str, runs: int, flags: tuple[str, ...]) -> Section:
    section = Section(
        f"Load: {runs} concurrent streaming runs, {label}",
        [
            "workers",
            "runs whole",
            "wall s",
            "runs/s",
            "first event p50 / p99 ms",
            "server peak RSS MB",
            "runs per worker",
        ],
    )
    for workers in (1, 2):
        with ServerProcess(source, "--workers", str(workers), *flags) as server:
            if workers > 1:
                server.wait_until_serving(workers)
            reference = asyncio.run(reference_run(server.target))
            started = time.perf_counter()
            honest = asyncio.run(honest_runs(server.target, reference, concurrent=runs, rounds=1))
            wall = time.perf_counter() - started
            rss = server.peak_rss_mb()
            served_by = Counter(
                re.findall(r"(rxsubstrate-worker-\d+) .*POST /compose", server.log())
            )
            section.add(
                workers,
                honest.intact(),
                f"{wall:.2f}",
                f"{len(honest.total) / wall:,.0f}",
                honest.ttfe(),
                f"{rss:.0f}",
                " / ".join(str(n) for _, n in sorted(served_by.items())) or len(honest.total),
            )
            for failure, count in honest.failures.most_common(2):
                section.notes.append(f"{workers} worker(s): {count} run(s) failed: {failure}")
    section.notes.append(
        "Every run's events are checked against a reference run: each node's deltas and result"
        " exactly as there, one graph.result, last. The client runs in this process."
    )
    return section


# -- decoding a large body: where --------------------------------------------------------------


def _bodies() -> dict[str, bytes]:
    accepted = {
        "id": "a",
        "node": "Box",
        "args": {"value": [{"k": i, "s": "abc" * 8} for i in range(80_000)]},
    }
    return {
        "largest accepted (3.6 MB, 240k values)": json.dumps(
            {"dag": {"nodes": [accepted]}}
        ).encode(),
        "8 MB of tiny containers (refused)": b'{"dag": {"x": ['
        + b",".join([b"[]"] * 2_700_000)
        + b"]}}",
    }


def _decode(body: bytes) -> Any:
    from rxsubstrate.server import ServerLimits
    from rxsubstrate.server._body import decode_dag
    from rxsubstrate.server._refusal import Refusal

    try:
        return decode_dag(body, ServerLimits())
    except Refusal as refusal:
        return refusal.message


async def _lag_while(work: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Seconds per ``work()`` and the loop's worst lag (a 1 ms ticker's overshoot) meanwhile."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        while not done:
            before = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - before - 0.001)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    for _ in range(repeat):
        outcome = work()
        if asyncio.isfuture(outcome) or asyncio.iscoroutine(outcome):
            await outcome
    elapsed = (time.perf_counter() - started) / repeat
    done = True
    await tick
    return elapsed, worst


def decode_section(repeat: int) -> Section:
    section = Section(
        "Decoding a large body: on the loop, in a thread, in a process",
        ["body", "where", "ms per body", "worst loop lag ms"],
    )

    async def measure() -> None:
        loop = asyncio.get_running_loop()
        with (
            concurrent.futures.ThreadPoolExecutor(1) as threads,
            concurrent.futures.ProcessPoolExecutor(1) as processes,
        ):
            await loop.run_in_executor(processes, _decode, b"{}")  # started before timing
            for name, body in _bodies().items():
                ways: dict[str, Callable[[], Any]] = {
                    "on the loop": functools.partial(_decode, body),
                    "thread": functools.partial(loop.run_in_executor, threads, _decode, body),
                    "process (dag sent back)": functools.partial(
                        loop.run_in_executor, processes, _decode, body
                    ),
                }
                for where, work in ways.items():
                    seconds, lag = await _lag_while(work, repeat)
                    section.add(name, where, f"{seconds * 1000:.0f}", f"{lag * 1000:.0f}")

    asyncio.run(measure())
    section.notes.append(
        "The server decodes bodies over 64 KiB in one thread beside the loop: the shape scan"
        " works in chunks of a few ms, and only the final msgspec call of an accepted body holds"
        " the GIL in one piece. A process keeps the loop freest, but the decoded dag must come"
        " back (unpickled under the GIL, as costly as decoding) and, in the embedded server, a"
        " process pool inside the user's program re-imports its __main__."
    )
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_server")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and runs")
    parser.add_argument("--markdown", action="store_true", help="markdown tables")
    parser.add_argument("--baseline", type=Path, help="also run the server from this checkout")
    parser.add_argument("--only", choices=["load", "attacks", "decode"], action="append")
    args = parser.parse_args(argv)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the clients need many sockets

    rounds, runs = (2, 100) if args.quick else (6, 500)
    servers: list[tuple[Path, str, tuple[str, ...]]] = [(ROOT, "this checkout", LOAD_FLAGS)]
    if args.baseline is not None:
        servers.insert(0, (args.baseline.resolve(), f"baseline {args.baseline}", ()))
    print(f"# rxsubstrate serve under load and attack\n\nMachine: {machine()}\n", flush=True)
    for source, label, flags in servers:
        if not args.only or "load" in args.only:
            print(
                render(load_section(source, label, runs, flags), markdown=args.markdown), flush=True
            )
        if not args.only or "attacks" in args.only:
            print(
                render(attacks_section(source, label, rounds, flags), markdown=args.markdown),
                flush=True,
            )
    if not args.only or "decode" in args.only:
        print(render(decode_section(2 if args.quick else 5), markdown=args.markdown), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
