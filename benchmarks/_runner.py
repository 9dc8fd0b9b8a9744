"""The suite: each section measures one question and fills one table (and, for the sweeps, a plot).

Every measurement runs in a fresh child process (``_child``), one at a time, against one
loopback server process started here; rounds go round all the consumers of a section in turn
(a, b, c, a, b, c, ...), so a slow spell of a noisy machine hits them all alike. A figure is the
median over the rounds, with the lowest and highest round beside it, and a ratio is taken round
by round (``_samples``). The quick run, CI's smoke test, measures everything once, each
section's consumers one after another in one child process: start-up would cost more than the
runs, and its figures mean nothing but "it ran, and counted right".
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from ._consumers import Job, engine_dag
from ._imports import FORBIDDEN, import_micros, loaded_forbidden
from ._plots import Series, draw_growth, draw_per_delta
from ._samples import Samples, ratios, spread
from ._server import ServerProcess
from ._table import Section
from .bench_server import ServerProcess as ServeProcess

__all__ = ["SECTIONS", "Settings", "Suite", "run_child"]

_CHILD_TIMEOUT: Final = 600.0
PLOTS: Final = Path(__file__).resolve().parent / "plots"
ROOT: Final = Path(__file__).resolve().parents[1]
# What many runs at once need from rxsubstrate serve.
SERVE_FLAGS: Final = ("--max-runs", "1000", "--max-connections", "900")


@dataclass(frozen=True)
class Settings:
    """Sizes and rounds; ``quick()`` is the CI smoke run (every row, small numbers, once)."""

    n: int = 200_000
    scale: tuple[int, ...] = (50_000, 100_000, 200_000, 400_000, 800_000)
    levels: tuple[int, ...] = (1, 10, 50, 200, 500)
    run_events: int = 2_000
    merge_runs: int = 100
    rounds: int = 5
    sweep_rounds: int = 3
    import_repeat: int = 7
    engine_events: int = 100_000
    server_runs: int = 200
    quick: bool = False

    @classmethod
    def quick_run(cls) -> Settings:
        return cls(
            n=5_000,
            scale=(2_000, 5_000),
            levels=(1, 10),
            run_events=200,
            merge_runs=10,
            rounds=1,
            sweep_rounds=1,
            import_repeat=1,
            engine_events=1_000,
            server_runs=5,
            quick=True,
        )


def run_child(consumer: str, job: Job, *, profile: bool = False) -> dict[str, Any] | str:
    """One measurement (or profile) in a fresh process; its result, or an error message."""
    spec = json.dumps({"consumer": consumer, "job": asdict(job)})
    argv = [sys.executable, "-m", "benchmarks._child", *(["--profile"] if profile else []), spec]
    outcome: dict[str, Any] | str = _run(argv, parse=not profile)
    return outcome


def _run(argv: list[str], *, parse: bool = True) -> Any:
    """A child's last line of JSON (or its whole output), or why it failed."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"timed out after {_CHILD_TIMEOUT:.0f} s"
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit status {done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1]) if parse else done.stdout


class OneProcess:
    """The quick run's single child (``_child --serve``): every request in one process."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._child", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, request: dict[str, Any]) -> Any:
        """The answer to ``request``, or why there is none."""
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        return json.loads(line) if line else "the benchmark process ended"

    def close(self) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()


class Suite:
    """Runs the sections against one server; ``failures`` counts rows that failed a check.

    Args:
        plots: draw the sweeps' plots into ``benchmarks/plots`` (and name them in the tables).
    """

    server: ServerProcess  # set before any section runs

    def __init__(self, settings: Settings, *, plots: bool = False) -> None:
        self.settings = settings
        self.plots = plots
        self.failures = 0
        self._one = OneProcess() if settings.quick else None
        # The import probes are processes of their own: in the quick run they go at once, beside
        # everything else, since their start-up is most of what they cost.
        self._probes = ThreadPoolExecutor(3)
        self._imports = self._start_import_probes() if settings.quick else None

    def close(self) -> None:
        if self._one is not None:
            self._one.close()
        self._probes.shutdown()

    def _start_import_probes(self) -> tuple[Future[int], Future[int], Future[list[str]]]:
        repeat = self.settings.import_repeat
        return (
            self._probes.submit(import_micros, "import aiohttp, reactivex, msgspec", repeat),
            self._probes.submit(import_micros, "import rxsubstrate", repeat),
            self._probes.submit(loaded_forbidden),
        )

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

    def measure(self, jobs: dict[str, Job], rounds: int | None = None) -> dict[str, Samples]:
        """Every consumer ``rounds`` times, round-robin, each in a fresh process.

        A key may carry a label after a space (``"rx.iter 50000"``): the consumer is the first
        word.
        """
        results = {name: Samples() for name in jobs}
        for _ in range(1 if self._one is not None else rounds or self.settings.rounds):
            for name, job in jobs.items():
                if not results[name].error:
                    self._keep(results[name], self._measure_one(name.split(" ")[0], job))
        return results

    def _measure_one(self, consumer: str, job: Job) -> dict[str, Any] | str:
        if self._one is None:
            return run_child(consumer, job)
        answer: dict[str, Any] | str = self._one.ask({"consumer": consumer, "job": asdict(job)})
        return answer

    def call(self, target: str, *args: Any) -> Any:
        """``module:function(*args)``'s JSON-able answer, or why it failed (a failed check):
        in the quick run's process, else in a fresh one of its own."""
        if self._one is not None:
            outcome = self._one.ask({"call": target, "args": list(args)})
        else:
            code = (
                "import json, sys, importlib; m, f = sys.argv[1].split(':');"
                " print(json.dumps(getattr(importlib.import_module(m), f)"
                "(*json.loads(sys.argv[2]))))"
            )
            outcome = _run([sys.executable, "-c", code, target, json.dumps(list(args))])
        if isinstance(outcome, dict) and "error" in outcome:
            outcome = outcome["error"]
        if isinstance(outcome, str):
            self.failures += 1
        return outcome

    def _keep(self, samples: Samples, outcome: dict[str, Any] | str) -> None:
        error = outcome if isinstance(outcome, str) else outcome.get("error", "")
        if error:
            samples.error = error
            self.failures += 1
        else:
            assert isinstance(outcome, dict)
            samples.rounds.append(outcome)

    def _image(self, section: Section, name: str) -> Path | None:
        """Where to draw ``section``'s plot, named in it; None when plots are off."""
        if not self.plots:
            return None
        PLOTS.mkdir(exist_ok=True)
        section.image = f"plots/{name}.png"
        return PLOTS / f"{name}.png"

    def _plot(self, section: Section, name: str, series: Series, title: str, rate: str) -> None:
        """A sweep's plot (events/s and peak RSS against its x), when every point was measured."""
        path = self._image(section, name)
        if path is not None and len({len(points) for points in series.values()}) == 1:
            xlabel = {"events": "events in the stream", "runs": "runs at once"}[section.columns[1]]
            draw_growth(series, path, title=title, xlabel=xlabel, left=rate, right="peak RSS MB")

    def _notes_rounds(self, section: Section, rounds: int) -> None:
        section.notes.append(
            f"Median (min-max) of {rounds} rounds, each consumer in a fresh process; ratios"
            " taken round by round. The server runs in another process."
            if not self.settings.quick
            else "Quick run: one round, every consumer in one process; the figures mean little."
        )

    # -- sections -----------------------------------------------------------------------------

    def throughput(self) -> Iterator[Section]:
        n = self.settings.n
        names = [
            "reference",
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
        for mode, how in (
            ("chunked", "64 KiB writes that cut events anywhere"),
            ("events", "one write per event"),
        ):
            job = self.job(n, mode)
            results = self.measure({name: job for name in names})
            section = Section(
                f"Throughput: {n:,} events ({job.bytes / 1e6:.1f} MB), {how}",
                ["consumer", "M events/s", "x reference", "x SDK", "CPU us/event", "peak RSS MB"],
            )
            reference, sdk = results["reference"], results["sdk.iter"]
            for name in names:
                result = results[name]
                if _failed(section, name, result, 6):
                    continue
                cpu = [c / job.events * 1e6 for c in result.values("cpu")]
                section.add(
                    name,
                    spread(result.rates(job.events), _millions),
                    _ratio(result, reference, job.events),
                    _ratio(result, sdk, job.events),
                    spread(cpu, _two),
                    spread(_mbs(result), _one),
                )
            section.notes += [
                "reference: the tight loop rxsubstrate is held to (aiohttp, split on blank lines,"
                " one msgspec decode of the read's events into the same typed events, nothing"
                " else); x SDK: over the official SDK's stream().iter(); aiohttp.raw reads the"
                " body without parsing (the transport's ceiling).",
                "CPU us/event: the consumer process's CPU time (all threads) per event.",
            ]
            self._notes_rounds(section, self.settings.rounds)
            if mode == "events":
                section.notes.append(
                    "With one write per event the server's pace is the limit: every consumer that"
                    " keeps up reads about as fast as aiohttp.raw; CPU us/event tells them apart."
                )
            yield section

    def scale(self) -> Iterator[Section]:
        s = self.settings
        names = ["reference", "rx.iter", "rx.async_iter", "sdk.iter"]
        section = Section(
            "Scale: events/s and memory as the stream grows",
            ["consumer", "events", "M events/s", "x reference", "peak RSS MB", "RSS growth MB"],
        )
        series: Series = {name: [] for name in names}
        for n in s.scale:
            job = self.job(n)
            results = self.measure({name: job for name in names}, s.sweep_rounds)
            for name in names:
                result = results[name]
                if _failed(section, f"{name} ({n:,})", result, 6):
                    continue
                growth = [r["rss_kb"] / 1024 - r["base_rss_kb"] / 1024 for r in result.rounds]
                section.add(
                    name,
                    f"{n:,}",
                    spread(result.rates(n), _millions),
                    _ratio(result, results["reference"], n),
                    spread(_mbs(result), _one),
                    spread(growth, _one),
                )
                series[name].append((n, [r / 1e6 for r in result.rates(n)], _mbs(result)))
        self._notes_rounds(section, s.sweep_rounds)
        section.notes.append(
            "RSS growth: peak RSS at the end of the run less the peak before it (after imports)."
        )
        self._plot(section, "scale", series, "One run of mixed events, 64 KiB writes", "M events/s")
        yield section

    def concurrency(self) -> Iterator[Section]:
        s = self.settings
        names = ["reference", "rx.concurrent", "sdk.concurrent"]
        section = Section(
            f"Concurrency: runs of {s.run_events:,} events at once, one client",
            ["consumer", "runs", "M events/s (aggregate)", "x reference", "x SDK", "peak RSS MB"],
        )
        series: Series = {name: [] for name in names}
        for runs in s.levels:
            job = self.job(s.run_events, runs=runs)
            results = self.measure({name: job for name in names}, s.sweep_rounds)
            events = s.run_events * runs
            for name in names:
                result = results[name]
                if _failed(section, f"{name} ({runs} runs)", result, 6):
                    continue
                section.add(
                    name,
                    runs,
                    spread(result.rates(events), _millions),
                    _ratio(result, results["reference"], events),
                    _ratio(result, results["sdk.concurrent"], events),
                    spread(_mbs(result), _one),
                )
                series[name].append((runs, [r / 1e6 for r in result.rates(events)], _mbs(result)))
        self._notes_rounds(section, s.sweep_rounds)
        section.notes.append(
            "reference: the tight loop, that many at once on one loop and one aiohttp session;"
            " rx.concurrent: asyncio.gather of async_iter() runs on one Substrate client;"
            " sdk.concurrent: asyncio.gather of (await async_stream(node)).async_iter() runs."
        )
        title = f"Concurrent runs of {s.run_events:,} mixed events each, one process"
        self._plot(section, "concurrency", series, title, "M events/s (aggregate)")
        yield section

    def operators(self) -> Iterator[Section]:
        s = self.settings
        section = Section("Operators", ["operator", "events", "M events/s", "peak RSS MB"])
        job = self.job(s.run_events, runs=s.merge_runs)
        result = self.measure({"ops.merge_runs": job})["ops.merge_runs"]
        events = s.merge_runs * s.run_events
        if not _failed(section, "merge_runs", result, 4):
            section.add(
                f"merge_runs of {s.merge_runs} runs",
                f"{events:,}",
                spread(result.rates(events), _millions),
                spread(_mbs(result), _one),
            )
        section.notes.append(
            f"merge_runs: {s.merge_runs} runs of {s.run_events:,} events from the loopback "
            "server, merged into one Observable and subscribed with no running loop."
        )
        self._notes_rounds(section, s.rounds)
        report = self.call("benchmarks.bench_snapshots:measure", s.quick)
        if isinstance(report, str):
            section.preformatted = f"bench_snapshots FAILED: {report}"
        else:
            section.preformatted = report["table"]
            path = self._image(section, "snapshots")
            if path is not None:
                draw_per_delta(
                    report["curves"],
                    path,
                    "Per-delta cost as one node's output grows to 1 MB (50-char deltas)",
                )
        yield section

    def engine(self) -> Iterator[Section]:
        s = self.settings
        job = Job(url="", events=s.engine_events, bytes=0)
        names = ["engine.produce", "engine.e2e", "engine.first_event"]
        results = self.measure({name: job for name in names})
        section = Section(
            "Embedded engine: Substrate() with no arguments",
            ["measure", "events", "M events/s", "time ms", "peak RSS MB"],
        )
        for name, label in (
            ("engine.produce", "engine produces"),
            ("engine.e2e", "engine through Substrate()"),
        ):
            result = results[name]
            if not _failed(section, label, result, 5):
                count = int(result.median("count"))
                section.add(
                    label,
                    f"{count:,}",
                    spread([count / t / 1e6 for t in result.values("seconds")], _two),
                    spread([t * 1000 for t in result.values("seconds")], _zero),
                    spread(_mbs(result), _one),
                )
        first = results["engine.first_event"]
        for key, label in (("cold", "first event, cold"), ("warm", "first event, warm")):
            if not _failed(section, label, first, 5):
                section.add(label, "", "", spread([t * 1000 for t in first.values(key)], _one), "")
        section.notes += [
            "engine produces: Engine().execute(plan) counted in-process, no HTTP. "
            "engine through Substrate(): the same graph (MultiComputeText nodes of 8 choices, "
            "all running at once) streamed over loopback and read with iter().",
            "first event (a one-node run), cold: from Substrate() in a process that has only "
            "imported rxsubstrate (loads the engine, starts its server); warm: the median of 5 "
            "more runs on that client.",
        ]
        self._notes_rounds(section, s.rounds)
        yield section

    def serve(self) -> Iterator[Section]:
        """``rxsubstrate serve`` against the minimal aiohttp SSE server (this suite's own)
        writing the same events, pre-encoded: one run, and many at once."""
        s = self.settings
        section = Section(
            "Server: rxsubstrate serve against a minimal aiohttp SSE server, same events",
            ["server", "runs", "events", "M events/s", "x ceiling", "x one write per event"],
        )
        one, many = engine_dag(s.engine_events), engine_dag(s.run_events)
        results: dict[str, Samples] = {}
        firsts = Samples()
        recorded: dict[str, int] = {}
        for _ in range(s.rounds):
            # A fresh server each round: its first run is the cold one.
            with ServeProcess(ROOT, *SERVE_FLAGS) as serve:
                self._keep(firsts, self._measure_one("sse.first", _serve_job(serve, engine_dag(1))))
                for name, dag in (("one", one), ("many", many)):
                    if name not in recorded:
                        recorded[name] = self.server.record(name, _record(serve, dag))
                jobs: dict[str, Job] = {}
                for runs, name, dag in ((1, "one", one), (s.server_runs, "many", many)):
                    events = recorded[name]
                    for label, mode in (("ceiling", "chunked"), ("per event", "events")):
                        url = self.server.recorded_url(name, mode)
                        jobs[f"sse.read {label} {runs}"] = Job(url, events, 0, runs=runs)
                    jobs[f"sse.read serve {runs}"] = _serve_job(serve, dag, events, runs)
                jobs["engine.e2e embedded 1"] = Job("", s.engine_events, 0)
                jobs["engine.produce alone 1"] = Job("", s.engine_events, 0)
                jobs[f"engine.produce alone {s.server_runs}"] = Job(
                    "", s.run_events, 0, runs=s.server_runs
                )
                for key, samples in self.measure(jobs, rounds=1).items():
                    target = results.setdefault(key, Samples())
                    target.rounds += samples.rounds
                    target.error = target.error or samples.error
        rows = (
            ("ceiling", "minimal aiohttp, 64 KiB writes (ceiling)"),
            ("per event", "minimal aiohttp, one write per event"),
            ("serve", "rxsubstrate serve"),
        )
        for runs in (1, s.server_runs):
            events = recorded.get("one" if runs == 1 else "many", 0) * runs
            ceiling = results[f"sse.read ceiling {runs}"]
            per_event = results[f"sse.read per event {runs}"]
            labelled = [(f"sse.read {key} {runs}", label) for key, label in rows]
            labelled.append((f"engine.produce alone {runs}", "the engine alone, no HTTP"))
            if runs == 1:
                labelled.append(("engine.e2e embedded 1", "embedded engine, read by iter()"))
            for key, label in labelled:
                result = results[key]
                if _failed(section, f"{label} ({runs})", result, 6):
                    continue
                count = int(result.median("count")) if key.startswith("engine") else events
                section.add(
                    label,
                    runs,
                    f"{count:,}",
                    spread(result.rates(count), _millions),
                    _ratio(result, ceiling, count),
                    _ratio(result, per_event, count),
                )
        if not _failed(section, "first event", firsts, 6):
            for key, label in (("cold", "first event, cold"), ("warm", "first event, warm")):
                ms = spread([t * 1000 for t in firsts.values(key)], _one, " ms")
                section.add(f"rxsubstrate serve, {label}", 1, "", ms, "", "")
        section.notes += [
            "The same graph each time (MultiComputeText nodes of 8 choices, all running at once;"
            " the engine's text is seeded, so every run sends the same bytes); the minimal server"
            " writes the bytes serve sent, recorded once. Read by aiohttp without parsing (the"
            " server is what is measured), every event counted. The embedded row is the same"
            " graph from Substrate(), server and reader in one process. The engine alone: the"
            " same runs executed in-process and counted, no HTTP: what serve can send at most.",
            f"{s.server_runs} runs at once: graphs of about {s.run_events:,} events each.",
            "First event, cold: a fresh serve process's first run (its engine not yet warmed);"
            " warm: the median of its next five.",
            "serve makes every event in Python (the engine's stand-in text, one delta per"
            " token) and the minimal server only copies bytes, so the 64 KiB ceiling is out of"
            " reach of any server that makes its events: the engine alone, with no HTTP, makes"
            " them at a fraction of it. Against the minimal server's one write per event, the"
            " way an SSE server writes as events come, serve holds its own.",
        ]
        self._notes_rounds(section, s.rounds)
        yield section

    def directives(self) -> Iterator[Section]:
        from .bench_directives import QUICK_N, directives_section

        if self.settings.quick:
            cells = self.call("benchmarks.bench_directives:every_cell", QUICK_N)
        else:
            cells = None  # each cell in fresh processes of its own
        if isinstance(cells, str):
            section = Section("Directives", ["directive"])
            section.notes.append(f"bench_directives FAILED: {cells}")
            yield section
            return
        yield directives_section(quick=self.settings.quick, measured=cells)

    def imports(self) -> Iterator[Section]:
        repeat = self.settings.import_repeat
        section = Section(
            "Import cost (python -X importtime, sum of self times)",
            ["import", "ms", "over its dependencies"],
        )
        base, ours, loaded = self._imports or self._start_import_probes()
        base_us, ours_us, forbidden = base.result(), ours.result(), loaded.result()
        section.add("import aiohttp, reactivex, msgspec", f"{base_us / 1000:.1f}", "")
        section.add(
            "import rxsubstrate", f"{ours_us / 1000:.1f}", f"+{(ours_us - base_us) / 1000:.1f} ms"
        )
        if forbidden:
            self.failures += 1
            section.add("modules it must not load", "FAILED: loads " + ", ".join(forbidden), "")
        else:
            section.add("modules it must not load", "none loaded", "")
        section.notes += [
            f"Median of {repeat} fresh processes. Not loaded by import rxsubstrate: "
            + ", ".join(FORBIDDEN)
            + ".",
        ]
        yield section


def _serve_job(serve: ServeProcess, dag: dict[str, Any], events: int = 0, runs: int = 1) -> Job:
    return Job(serve.target.url, events, 0, runs=runs, body={"dag": dag})


def _record(serve: ServeProcess, dag: dict[str, Any]) -> bytes:
    """The SSE bytes of one run of ``dag`` on ``serve``."""
    request = urllib.request.Request(
        f"{serve.target.url}/compose",
        data=json.dumps({"dag": dag}).encode(),
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    with urllib.request.urlopen(request, timeout=_CHILD_TIMEOUT) as response:
        body: bytes = response.read()
    return body


def _failed(section: Section, name: str, result: Samples, width: int) -> bool:
    """A failed consumer's row says FAILED; its error goes below the table, where it fits."""
    if not result.error:
        return False
    section.add(name, "FAILED", *[""] * (width - 2))
    section.notes.append(f"{name} FAILED: {result.error}")
    return True


def _mbs(result: Samples) -> list[float]:
    return [kb / 1024 for kb in result.values("rss_kb")]


def _ratio(result: Samples, base: Samples, events: int) -> str:
    if base.error or not base.rounds:
        return "n/a"
    return spread(ratios(result, base, events), _two, "x")


def _millions(rate: float) -> str:
    return f"{rate / 1e6:.2f}"


def _zero(value: float) -> str:
    return f"{value:,.0f}"


def _one(value: float) -> str:
    return f"{value:.1f}"


def _two(value: float) -> str:
    return f"{value:.2f}"


#: Section name (for ``--only``) -> the method that yields its tables.
SECTIONS: Final[dict[str, Callable[[Suite], Iterator[Section]]]] = {
    "throughput": Suite.throughput,
    "scale": Suite.scale,
    "concurrency": Suite.concurrency,
    "operators": Suite.operators,
    "engine": Suite.engine,
    "server": Suite.serve,
    "directives": Suite.directives,
    "imports": Suite.imports,
}
