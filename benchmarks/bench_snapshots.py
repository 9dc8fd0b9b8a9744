"""Per-delta cost of ``ops.snapshots()`` and ``ops.assemble()`` as an output grows.

One node's output grows to about 1 MB over tens of thousands of deltas; the script times each
delta's trip through the operator and prints the mean per-delta time in the first and the last
tenth of the stream. A cost proportional to the chunk gives a ratio near 1; one proportional to
the output so far gives a ratio that grows with the output. ``apply_delta`` of the tests' plain
reference merge (which rebuilds a string per chunk) is printed for comparison.

Run: ``python -m benchmarks.bench_snapshots [--quick] [--json]``; ``--json`` adds each case's
per-delta cost against the output's size, which the suite plots. It prints figures; it asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from reactivex import Observable
from reactivex.subject import Subject

from rxsubstrate import NodeDelta
from rxsubstrate.ops import assemble, snapshots
from tests.delta_reference import apply_delta

from ._samples import spread

CHUNK = "lorem ipsum dolor sit amet, consectetur adipiscin "  # 50 chars
BINS = 25


def text_deltas(count: int) -> list[NodeDelta]:
    return [NodeDelta("n", {"text": CHUNK}) for _ in range(count)]


def choices_deltas(count: int) -> list[NodeDelta]:
    return [
        NodeDelta(
            "n", {"choices": {"object": "array.item", "index": i % 4, "item": {"text": CHUNK}}}
        )
        for i in range(count)
    ]


def time_operator(
    operator: Callable[[Observable[Any]], Observable[Any]], deltas: list[NodeDelta], keep: bool
) -> list[float]:
    subject: Subject[Any] = Subject()
    kept: list[Any] = []
    subject.pipe(operator).subscribe(kept.append if keep else lambda _: None)
    times = []
    clock = time.perf_counter
    for delta in deltas:
        start = clock()
        subject.on_next(delta)
        times.append(clock() - start)
    subject.on_completed()
    return times


def time_apply_delta(deltas: list[NodeDelta]) -> list[float]:
    target: dict[str, Any] = {}
    times = []
    clock = time.perf_counter
    for delta in deltas:
        start = clock()
        apply_delta(target, delta.data)
        times.append(clock() - start)
    return times


def tenths(times: list[float]) -> tuple[float, float]:
    tenth = len(times) // 10
    first = sum(times[:tenth]) / tenth
    last = sum(times[-tenth:]) / tenth
    return first, last


def curve(times: list[float], bins: int = BINS) -> list[tuple[float, float]]:
    """(output size in MB at the bin's end, mean us per delta in the bin), ``bins`` points."""
    width = len(times) // bins
    return [
        ((i + 1) * width * len(CHUNK) / 1e6, sum(times[i * width : (i + 1) * width]) / width * 1e6)
        for i in range(bins)
    ]


def cases(count: int) -> list[tuple[str, Callable[[], list[float]]]]:
    return [
        ("snapshots(), text", lambda: time_operator(snapshots(), text_deltas(count), False)),
        (
            "snapshots(), text, all kept",
            lambda: time_operator(snapshots(), text_deltas(count), True),
        ),
        (
            "snapshots(), 4 choices",
            lambda: time_operator(snapshots(), choices_deltas(count), False),
        ),
        ("assemble(), text", lambda: time_operator(assemble(), text_deltas(count), False)),
        ("assemble(), 4 choices", lambda: time_operator(assemble(), choices_deltas(count), False)),
        ("apply_delta (plain reference), text", lambda: time_apply_delta(text_deltas(count))),
    ]


def measure(quick: bool) -> dict[str, Any]:
    """The report's text table and, per case, its per-delta cost curve (medians of repeats)."""
    count = 5_000 if quick else 20_000  # x 50 chars: 0.25 MB / 1 MB
    repeats = 1 if quick else 5
    size = count * len(CHUNK)
    lines = [
        f"{count:,} deltas of {len(CHUNK)} chars, output {size / 1e6:.2f} MB;"
        f" median of {repeats} (min-max)",
        f"{'measure':<40} {'first 10% us':>20} {'last 10% us':>22} {'ratio':>6}",
    ]
    curves: dict[str, list[tuple[float, float]]] = {}
    for name, case in cases(count):
        runs = [case() for _ in range(repeats)]
        ends = [tenths(times) for times in runs]
        first = [f * 1e6 for f, _ in ends]
        last = [la * 1e6 for _, la in ends]
        ratio = statistics.median(last) / statistics.median(first)
        lines.append(f"{name:<40} {spread(first, _us):>20} {spread(last, _us):>22} {ratio:>6.2f}")
        points = [curve(times) for times in runs]
        curves[name] = [
            (points[0][i][0], statistics.median(p[i][1] for p in points))
            for i in range(len(points[0]))
        ]
    return {"table": "\n".join(lines), "curves": curves}


def _us(value: float) -> str:
    return f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer deltas, one repeat")
    parser.add_argument("--json", action="store_true", help="the table and the curves as JSON")
    args = parser.parse_args()
    report = measure(args.quick)
    print(json.dumps(report) if args.json else report["table"])


if __name__ == "__main__":
    main()
