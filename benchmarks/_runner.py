"""The suite: each section measures one question and fills one table.

Every measurement runs in a fresh child process (``_child``), one at a time, against one
loopback server process started here; repetitions go round all the consumers of a section in
turn (a, b, c, a, b, c, ...), so a slow spell of a noisy machine hits them all alike and the
ratios within a table hold. The best (shortest) time of the repetitions is reported, as
``timeit`` does: noise only ever adds time.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from ._consumers import Job
from ._imports import FORBIDDEN, import_micros, loaded_forbidden
from ._server import ServerProcess
from ._table import Section

__all__ = ["SECTIONS", "Settings", "Suite"]

_CHILD_TIMEOUT: Final = 600.0


@dataclass(frozen=True)
class Settings:
    """Sizes and repetitions; ``quick()`` is the CI smoke run (every row, small numbers)."""

    n: int = 200_000
    scale: tuple[int, ...] = (50_000, 200_000, 800_000)
    runs: int = 200
    run_events: int = 2_000
    merge_runs: int = 100
    repeat: int = 3
    import_repeat: int = 7
    engine_events: int = 100_000

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            n=20_000,
            scale=(5_000, 20_000, 80_000),
            runs=50,
            run_events=500,
            merge_runs=20,
            repeat=1,
            import_repeat=1,
            engine_events=5_000,
        )


@dataclass
class Result:
    """One consumer's best repetition, or why it failed."""

    seconds: float = float("inf")
    cpu: float = 0.0
    count: int = 0
    rss_kb: int = 0
    base_rss_kb: int = 0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def keep_best(self, other: dict[str, Any]) -> None:
        if other["seconds"] < self.seconds:
            self.seconds, self.cpu, self.count = other["seconds"], other["cpu"], other["count"]
            self.extra = {k: v for k, v in other.items() if k not in _MEASURED}
        self.rss_kb = max(self.rss_kb, other["rss_kb"])
        self.base_rss_kb = max(self.base_rss_kb, other["base_rss_kb"])


_MEASURED: Final = {"seconds", "cpu", "count", "rss_kb", "base_rss_kb"}


def run_child(consumer: str, job: Job, *, profile: bool = False) -> dict[str, Any] | str:
    """One measurement (or profile) in a fresh process; its result, or an error message."""
    spec = json.dumps({"consumer": consumer, "job": asdict(job)})
    argv = [sys.executable, "-m", "benchmarks._child", *(["--profile"] if profile else []), spec]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"timed out after {_CHILD_TIMEOUT:.0f} s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"
    if profile:
        return done.stdout
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class Suite:
    """Runs the sections against one server; ``failures`` counts rows that failed a check."""

    def __init__(self, server: ServerProcess, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.failures = 0

    def job(self, n: int, mode: str = "chunked", runs: int = 1) -> Job:
        stats = self.server.stats(n)
        return Job(
            url=self.server.url(n, mode),
            events=int(stats["events"]),  # type: ignore[call-overload]
            bytes=int(stats["bytes"]),  # type: ignore[call-overload]
            text_node=stats["text_node"],  # type: ignore[arg-type]
            text_output=stats["text_output"],  # type: ignore[arg-type]
            runs=runs,
        )

    def measure(self, jobs: dict[str, Job]) -> dict[str, Result]:
        """Every consumer ``repeat`` times, round-robin; the best time of each."""
        results = {name: Result() for name in jobs}
        for _ in range(self.settings.repeat):
            for name, job in jobs.items():
                if results[name].error:
                    continue
                outcome = run_child(name.split(" ")[0], job)
                if isinstance(outcome, str):
                    results[name].error = outcome
                    self.failures += 1
                else:
                    results[name].keep_best(outcome)
        return results

    # -- sections -----------------------------------------------------------------------------

    def throughput(self) -> Iterator[Section]:
        n = self.settings.n
        for mode, how in (
            ("chunked", "64 KiB writes that cut events anywhere"),
            ("events", "one write per event"),
        ):
            job = self.job(n, mode)
            names = [
                "rx.iter",
                "rx.async_iter",
                "rx.iterate",
                "rx.aiterate",
                "rx.subscribe",
                "rx.pipeline",
                "sdk.iter",
                "sdk.async_iter",
                "httpx-sse",
                "aiohttp.raw",
            ]
            results = self.measure({name: job for name in names})
            section = Section(
                f"Throughput: {n:,} events ({job.bytes / 1e6:.1f} MB), {how}",
                [
                    "consumer",
                    "events/s",
                    "MB/s",
                    "x SDK",
                    "of ceiling",
                    "CPU us/event",
                    "peak RSS MB",
                ],
            )
            sdk, ceiling = results["sdk.iter"], results["aiohttp.raw"]
            for name in names:
                result = results[name]
                if _failed(section, name, result, 7):
                    continue
                section.add(
                    name,
                    _rate(job.events / result.seconds),
                    f"{job.bytes / result.seconds / 1e6:.1f}",
                    _ratio(sdk, result),
                    _ratio(ceiling, result, percent=True),
                    f"{result.cpu / job.events * 1e6:.2f}",
                    _mb(result.rss_kb),
                )
            section.notes += [
                "x SDK: events/s over the official SDK's stream().iter(); of ceiling: over "
                "aiohttp reading the same body without parsing (aiohttp.raw).",
                "CPU us/event: the consumer process's CPU time (all threads) per event.",
                f"Best of {self.settings.repeat}, each in a fresh process; the server runs in "
                "another process.",
            ]
            if mode == "events":
                section.notes.append(
                    "With one write per event the server's pace is the limit: every consumer that "
                    "keeps up reads about as fast as aiohttp.raw (a slower reader even gets bigger "
                    "reads, hence over 100%); CPU us/event is the figure that tells them apart."
                )
            yield section

    def scale(self) -> Iterator[Section]:
        names = ["rx.iter", "rx.async_iter", "sdk.iter"]
        section = Section(
            "Scale: memory stays flat as the stream grows",
            ["consumer", "events", "events/s", "peak RSS MB", "RSS growth during run MB"],
        )
        growth: dict[str, list[int]] = {name: [] for name in names}
        for n in self.settings.scale:
            job = self.job(n)
            results = self.measure({name: job for name in names})
            for name in names:
                result = results[name]
                if _failed(section, f"{name} ({n:,})", result, 5):
                    continue
                section.add(
                    name,
                    f"{n:,}",
                    _rate(n / result.seconds),
                    _mb(result.rss_kb),
                    _mb(result.rss_kb - result.base_rss_kb),
                )
                growth[name].append(result.rss_kb)
        small, large = self.settings.scale[0], self.settings.scale[-1]
        for name, peaks in growth.items():
            if len(peaks) == len(self.settings.scale):
                section.notes.append(
                    f"{name}: peak RSS {_mb(peaks[0])} MB at {small:,} events, "
                    f"{_mb(peaks[-1])} MB at {large:,} ({_mb(peaks[-1] - peaks[0], sign=True)} MB)"
                )
        yield section

    def concurrency(self) -> Iterator[Section]:
        s = self.settings
        job = self.job(s.run_events, runs=s.runs)
        names = ["rx.concurrent", "sdk.concurrent"]
        results = self.measure({name: job for name in names})
        section = Section(
            f"Concurrency: {s.runs} runs of {s.run_events:,} events at once, one client",
            ["consumer", "events", "aggregate events/s", "x SDK", "peak RSS MB"],
        )
        sdk = results["sdk.concurrent"]
        for name in names:
            result = results[name]
            if _failed(section, name, result, 5):
                continue
            section.add(
                name,
                f"{s.runs * s.run_events:,}",
                _rate(s.runs * s.run_events / result.seconds),
                _ratio(sdk, result),
                _mb(result.rss_kb),
            )
        section.notes += [
            "rx.concurrent: asyncio.gather of async_iter() runs on one Substrate client; "
            "sdk.concurrent: asyncio.gather of (await async_stream(node)).async_iter() runs.",
        ]
        yield section

    def operators(self) -> Iterator[Section]:
        s = self.settings
        section = Section(
            "Operators",
            ["operator", "events", "events/s", "peak RSS MB"],
        )
        job = self.job(s.run_events, runs=s.merge_runs)
        result = self.measure({"ops.merge_runs": job})["ops.merge_runs"]
        label = f"merge_runs of {s.merge_runs} runs"
        if not _failed(section, "merge_runs", result, 4):
            events = s.merge_runs * s.run_events
            section.add(label, f"{events:,}", _rate(events / result.seconds), _mb(result.rss_kb))
        section.notes.append(
            f"merge_runs: {s.merge_runs} runs of {s.run_events:,} events from the loopback "
            "server, merged into one Observable and subscribed with no running loop."
        )
        snapshots = self.snapshots()
        if snapshots:
            section.preformatted = snapshots
        else:
            section.notes.append(
                "snapshots()/assemble() growth: benchmarks/bench_snapshots.py is not there yet."
            )
        yield section

    def snapshots(self) -> str:
        """The operators' own benchmark (``bench_snapshots.py``), its output as it prints it.

        The hook: the module runs as ``python -m benchmarks.bench_snapshots [--quick]`` and
        prints its table; a non-zero exit counts as a failed check.
        """
        if importlib.util.find_spec("benchmarks.bench_snapshots") is None:
            return ""
        argv = [sys.executable, "-m", "benchmarks.bench_snapshots"]
        if self.settings.repeat == 1:
            argv.append("--quick")
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=_CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.failures += 1
            return "bench_snapshots FAILED: timed out"
        if done.returncode != 0:
            self.failures += 1
            lines = done.stderr.strip().splitlines()
            return f"bench_snapshots FAILED: {lines[-1] if lines else done.returncode}"
        return done.stdout.rstrip()

    def engine(self) -> Iterator[Section]:
        s = self.settings
        job = Job(url="", events=s.engine_events, bytes=0)
        names = ["engine.produce", "engine.e2e", "engine.first_event"]
        results = self.measure({name: job for name in names})
        section = Section(
            "Embedded engine: Substrate() with no arguments",
            ["measure", "events", "events/s", "time", "peak RSS MB"],
        )
        for name, label in (
            ("engine.produce", "engine produces"),
            ("engine.e2e", "engine through Substrate()"),
        ):
            result = results[name]
            if not _failed(section, label, result, 5):
                section.add(
                    label,
                    f"{result.count:,}",
                    _rate(result.count / result.seconds),
                    f"{result.seconds * 1000:.0f} ms",
                    _mb(result.rss_kb),
                )
        first = results["engine.first_event"]
        for key, label in (("cold", "first event, cold"), ("warm", "first event, warm")):
            if not _failed(section, label, first, 5):
                section.add(label, "", "", f"{first.extra[key] * 1000:.1f} ms", "")
        section.notes += [
            "engine produces: Engine().execute(plan) counted in-process, no HTTP. "
            "engine through Substrate(): the same graph (MultiComputeText nodes of 8 choices, "
            "all running at once) streamed over loopback and read with iter().",
            "first event (a one-node run), cold: from Substrate() in a process that has only "
            "imported rxsubstrate (loads the engine, starts its server); warm: best of 5 more "
            "runs on that client.",
        ]
        yield section

    def imports(self) -> Iterator[Section]:
        repeat = self.settings.import_repeat
        section = Section(
            "Import cost (python -X importtime, sum of self times)",
            ["import", "ms", "over its dependencies"],
        )
        base = import_micros("import aiohttp, reactivex, msgspec", repeat)
        ours = import_micros("import rxsubstrate", repeat)
        section.add("import aiohttp, reactivex, msgspec", f"{base / 1000:.1f}", "")
        section.add("import rxsubstrate", f"{ours / 1000:.1f}", f"+{(ours - base) / 1000:.1f} ms")
        loaded = loaded_forbidden()
        if loaded:
            self.failures += 1
            section.add("modules it must not load", "FAILED: loads " + ", ".join(loaded), "")
        else:
            section.add("modules it must not load", "none loaded", "")
        section.notes += [
            f"Median of {repeat} fresh processes. Not loaded by import rxsubstrate: "
            + ", ".join(FORBIDDEN)
            + ".",
        ]
        yield section


def _failed(section: Section, name: str, result: Result, width: int) -> bool:
    """A failed consumer's row says FAILED; its error goes below the table, where it fits."""
    if not result.error:
        return False
    section.add(name, "FAILED", *[""] * (width - 2))
    section.notes.append(f"{name} FAILED: {result.error}")
    return True


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}"


def _mb(kib: int, *, sign: bool = False) -> str:
    return f"{kib / 1024:+.1f}" if sign else f"{kib / 1024:.1f}"


def _ratio(base: Result, result: Result, *, percent: bool = False) -> str:
    if base.error or not base.seconds:
        return "n/a"
    ratio = base.seconds / result.seconds
    return f"{ratio * 100:.0f}%" if percent else f"{ratio:.2f}x"


#: Section name (for ``--only``) -> the method that yields its tables.
SECTIONS: Final[dict[str, Callable[[Suite], Iterator[Section]]]] = {
    "throughput": Suite.throughput,
    "scale": Suite.scale,
    "concurrency": Suite.concurrency,
    "operators": Suite.operators,
    "engine": Suite.engine,
    "imports": Suite.imports,
}
