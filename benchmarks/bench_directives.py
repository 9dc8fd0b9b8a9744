"""Cost per directive: today's engine (jq and jinja in sandbox processes) against the in-process
evaluation it replaced.

For each kind (jq, jinja, format, string-concat) one graph node takes ``N`` directives of that
kind as its arguments, and the engine resolves them one after another, so the time per directive
is the latency a node sees (including the engine's own bookkeeping). The in-process rows call
what the engine used to call for one directive (``jq.compile(q).input_value(v).all()``, a jinja
``SandboxedEnvironment`` template rendered, ``str.format``, ``"".join``), without the engine
around them. "first jq" is a fresh engine's first directive, prepared (compiled) and run: it
starts a sandbox process.

Every figure is the median, with the min-max spread, of ``--runs`` fresh processes; the suite
(``python -m benchmarks``) prints this table as its "directives" section.

Run: ``python -m benchmarks.bench_directives [--quick] [--markdown]``. It prints figures; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import string
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Final

from ._samples import spread
from ._table import Section, machine, render

ITEMS: Final = [{"name": f"item {i}", "n": i} for i in range(100)]
JQ_QUERY: Final = ".items | map(.n) | add"
TEMPLATE: Final = "{% for i in items %}{{ i.name }},{% endfor %}"
F_STRING: Final = "{a} and {b[c]}: {n:>5}"
KINDS: Final = ("jq", "jinja", "format", "string-concat")


def directive(kind: str) -> Any:
    """One directive of ``kind`` over the same data as its in-process counterpart."""
    from rxsubstrate import sb

    if kind == "jq":
        return sb.jq({"items": ITEMS}, JQ_QUERY)
    if kind == "jinja":
        return sb.jinja(TEMPLATE, items=ITEMS)
    if kind == "format":
        return sb.format(F_STRING, a="windmills", b={"c": "turn"}, n=42)
    return sb.concat("said: ", "windmills", " / ", "turn", "!")


def in_process(kind: str, compiled_once: bool) -> Callable[[], Any]:
    """What the engine called for one directive before the sandbox (it compiled each time)."""
    if kind == "jq":
        import jq

        value = {"items": ITEMS}
        if compiled_once:
            program = jq.compile(JQ_QUERY)
            return lambda: program.input_value(value).all()
        return lambda: jq.compile(JQ_QUERY).input_value(value).all()
    if kind == "jinja":
        import jinja2.sandbox

        env = jinja2.sandbox.SandboxedEnvironment()
        if compiled_once:
            template = env.from_string(TEMPLATE)
            return lambda: template.render({"items": ITEMS})
        return lambda: env.from_string(TEMPLATE).render({"items": ITEMS})
    if kind == "format":
        formatter = string.Formatter()
        fields = {"a": "windmills", "b": {"c": "turn"}, "n": 42}
        return lambda: formatter.vformat(F_STRING, (), fields)
    return lambda: "".join(("said: ", "windmills", " / ", "turn", "!"))


def measure_in_process(kind: str, n: int, compiled_once: bool) -> dict[str, float]:
    call = in_process(kind, compiled_once)
    for _ in range(min(n, 20)):
        call()
    started = time.perf_counter()
    for _ in range(n):
        call()
    return {"per_directive": (time.perf_counter() - started) / n}


async def measure_engine(kind: str, n: int) -> dict[str, float]:
    from rxsubstrate import Box, serialize
    from rxsubstrate.engine import Engine

    engine = Engine()
    # An engine from before the sandbox (no prepare_async, no aclose) can be measured too.
    prepare: Any = getattr(engine, "prepare_async", None)

    async def run(value: Any) -> tuple[float, float]:
        """Seconds to prepare the graph and run it, and to run it alone."""
        dag = serialize(Box(value=value))
        started = time.perf_counter()
        plan = await prepare(dag) if prepare else engine.prepare(dag)
        running = time.perf_counter()
        async for _ in engine.execute(plan):
            pass
        done = time.perf_counter()
        return done - started, done - running

    try:
        first, _ = await run(directive("jq"))  # starts a sandbox process
        await run([directive(kind) for _ in range(min(n, 20))])  # warm
        _, empty = await run([])
        _, full = await run([directive(kind) for _ in range(n)])
    finally:
        if hasattr(engine, "aclose"):
            await engine.aclose()
    return {"per_directive": (full - empty) / n, "first": first}


MODES: Final = ("in-process", "compiled-once", "engine")
QUICK_N: Final = 20


def one(kind: str, mode: str, n: int) -> dict[str, float]:
    if mode in ("in-process", "compiled-once"):
        return measure_in_process(kind, n, compiled_once=mode == "compiled-once")
    return asyncio.run(measure_engine(kind, n))


def cells() -> list[tuple[str, str]]:
    """Every (kind, mode) measured: compiled-once for the kinds that compile."""
    return [
        (kind, mode)
        for kind in KINDS
        for mode in MODES
        if mode != "compiled-once" or kind in ("jq", "jinja")
    ]


def fresh(argv: list[str]) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_directives", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def spread_us(values: list[float]) -> str:
    """Median (min-max) in microseconds."""
    return spread([v * 1e6 for v in values], lambda us: f"{us:,.1f}")


def every_cell(n: int) -> list[dict[str, float]]:
    """Every cell once, in this process (the quick run)."""
    return [one(kind, mode, n) for kind, mode in cells()]


def directives_section(
    quick: bool, runs: int | None = None, measured: list[dict[str, float]] | None = None
) -> Section:
    """The table: every cell in ``runs`` fresh processes (round-robin); the quick run measures
    each cell once, all in one process (``every_cell``; ``measured`` when done already)."""
    n = QUICK_N if quick else 300
    runs = 1 if quick else (runs or 5)
    got: dict[tuple[str, str], list[dict[str, float]]] = {cell: [] for cell in cells()}
    if quick:
        if measured is None:
            measured = fresh(["--all", str(n)])
        for cell, result in zip(cells(), measured, strict=True):
            got[cell].append(result)
    else:
        for _ in range(runs):  # round-robin, so a noisy spell hits them all
            for kind, mode in cells():
                got[kind, mode].append(fresh(["--child", kind, mode, str(n)]))
    section = Section(
        f"Directives: time per directive, {n} in a row in one node (us)",
        [
            "directive",
            "in-process, before",
            "in-process, compiled once",
            "engine now",
            "x in-process",
        ],
    )

    def per(kind: str, mode: str) -> list[float]:
        return [r["per_directive"] for r in got.get((kind, mode), [])]

    for kind in KINDS:
        before, now, once = per(kind, "in-process"), per(kind, "engine"), per(kind, "compiled-once")
        ratio = [a / b for a, b in zip(now, before, strict=True)]
        section.add(
            kind,
            spread_us(before),
            spread_us(once) if once else "",
            spread_us(now),
            spread(ratio, lambda r: f"{r:,.2f}", "x"),
        )
    firsts = [r["first"] for kind in KINDS for r in got[kind, "engine"]]
    section.add("first jq, prepared and run", "", "", spread_us(firsts), "")
    section.notes += [
        f"Median (min-max) of {runs} fresh process(es) per cell; x in-process round by round.",
        "in-process, before: the library call the engine made per directive, alone (it "
        "compiled the query or template every time); compiled once: the same call with the "
        "query or template compiled beforehand, the least an in-process evaluation costs.",
        "engine now: a whole run's time per directive, less the same run without directives: "
        "jq and jinja go to a sandbox process and back (each process keeps its last 64 "
        "compiled queries and templates); format and string-concat stay in-process, with "
        "their size budgets.",
    ]
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer directives, one process")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--runs", type=int, help="fresh processes per cell (default 5)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "MODE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--all", metavar="N", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, mode, n = args.child
        print(json.dumps(one(kind, mode, int(n))))
    elif args.all:
        print(json.dumps(every_cell(args.all)))
    else:
        print(render(directives_section(args.quick, args.runs), markdown=args.markdown))
        print(f"Machine: {machine()}")


if __name__ == "__main__":
    main()
