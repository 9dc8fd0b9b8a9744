"""One measurement in a fresh process: ``python -m benchmarks._child '<json spec>'``.

A fresh process per measurement gives each consumer its own peak RSS and a cold heap; the timing
is taken inside it, around the run only (imports and client set-up happen before the clock
starts). The result is one JSON line on stdout:
``{"seconds", "cpu", "count", "rss_kb", "base_rss_kb"}``: wall and CPU seconds (every thread)
of the run, and the peak RSS at its end and before it (after the imports). ``--profile`` prints a
cProfile report instead, merged over every thread (rxsubstrate's ``iter()`` decodes on the
client's loop thread, not the caller's).
"""

from __future__ import annotations

import contextlib
import cProfile
import importlib
import io
import json
import pstats
import resource
import sys
import threading
import time
from typing import Any, Final

from ._consumers import CONSUMERS, Job

__all__ = ["measure", "profile"]

# What each family of consumers imports: loaded before the clock starts.
_PRELOAD: Final = {
    "rx": ["rxsubstrate", "rxsubstrate.ops", "rxsubstrate._graph", "reactivex.operators"],
    "sdk": ["substrate", "httpx", "httpx_sse"],
    "httpx-sse": ["httpx", "httpx_sse"],
    "aiohttp": ["aiohttp"],
    "sse": ["aiohttp"],
    "reference": ["aiohttp", "msgspec", "rxsubstrate._events"],
    "engine": ["rxsubstrate", "rxsubstrate.engine", "rxsubstrate.server"],
    # engine.first_event is cold on purpose: only what a user's "import rxsubstrate" loads.
    "engine.first_event": ["rxsubstrate"],
    "ops": ["rxsubstrate", "rxsubstrate.ops"],
}


def _preload(name: str) -> None:
    for module in _PRELOAD.get(name, _PRELOAD.get(name.split(".")[0], [])):
        with contextlib.suppress(ImportError):  # the consumer will say what is missing
            importlib.import_module(module)


def _peak_rss_kb() -> int:
    """This process's peak RSS in KiB.

    Not ``ru_maxrss``: Linux carries that over ``exec`` from the parent's memory, so a child of
    a big runner would report the runner's size. ``VmHWM`` belongs to this process's own memory.
    """
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(name: str, job: Job) -> dict[str, Any]:
    """Run consumer ``name`` once; return its time, count and peak RSS."""
    consumer = CONSUMERS[name]
    _preload(name)
    base = _peak_rss_kb()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    outcome = consumer(job)
    seconds = time.perf_counter() - start
    result = outcome if isinstance(outcome, dict) else {"count": outcome}
    return {
        "seconds": seconds,
        "cpu": _cpu_seconds() - cpu,
        "rss_kb": _peak_rss_kb(),
        "base_rss_kb": base,
        **result,
    }


def profile(name: str, job: Job, top: int = 25) -> str:
    """Run consumer ``name`` under cProfile (every thread); the top lines by tottime."""
    consumer = CONSUMERS[name]
    _preload(name)
    profilers: list[cProfile.Profile] = []

    def start_in_thread(*_args: Any) -> None:
        # Called once in each new thread: hand that thread over to a profiler of its own.
        thread_profiler = cProfile.Profile()
        profilers.append(thread_profiler)
        thread_profiler.enable()

    main = cProfile.Profile()
    threading.setprofile(start_in_thread)
    main.enable()
    try:
        consumer(job)
    finally:
        main.disable()
        threading.setprofile(None)
    out = io.StringIO()
    stats = pstats.Stats(main, stream=out)
    for thread_profiler in profilers:
        stats.add(thread_profiler)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def serve() -> None:
    """Requests from stdin, one JSON line each, answered on stdout, until stdin closes: the
    quick run's one process for everything (a smoke test, where start-up would cost more than
    the runs). ``{"consumer", "job"}`` is measured; ``{"call": "module:function", "args"}`` is
    called (another benchmark's report). A failure answers ``{"error": ...}``."""
    for family in _PRELOAD:  # all at once, while the benchmark server starts
        _preload(family)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if "call" in request:
                module, function = request["call"].split(":")
                answer = getattr(importlib.import_module(module), function)(*request["args"])
            else:
                answer = measure(request["consumer"], Job(**request["job"]))
        except Exception as exc:  # reported in its row; the other requests still run
            answer = {"error": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


def main(argv: list[str]) -> int:
    if "--serve" in argv:
        serve()
        return 0
    spec = json.loads(argv[-1])
    job = Job(**spec["job"])
    if "--profile" in argv:
        print(profile(spec["consumer"], job))
    else:
        print(json.dumps(measure(spec["consumer"], job)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
