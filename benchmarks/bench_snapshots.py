"""Per-delta cost of ``ops.snapshots()`` and ``ops.assemble()`` as an output grows.

One node's output grows to about 1 MB over tens of thousands of deltas; the script times each
delta's trip through the operator and prints the mean per-delta time in the first and the last
tenth of the stream. A cost proportional to the chunk gives a ratio near 1; one proportional to
the output so far gives a ratio that grows with the output. ``apply_delta`` of the tests' plain
reference merge (which rebuilds a string per chunk) is printed for comparison.

Run: ``python -m benchmarks.bench_snapshots [--quick]``. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from reactivex import Observable
from reactivex.subject import Subject

from rxsubstrate import NodeDelta
from rxsubstrate.ops import assemble, snapshots
from tests.delta_reference import apply_delta

CHUNK = "lorem ipsum dolor sit amet, consectetur adipiscin "  # 50 chars


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer deltas, one repeat")
    args = parser.parse_args()
    count = 5_000 if args.quick else 20_000  # x 50 chars: 0.25 MB / 1 MB
    repeats = 1 if args.quick else 3
    size = count * len(CHUNK)
    print(f"{count:,} deltas of {len(CHUNK)} chars, output {size / 1e6:.2f} MB; best of {repeats}")
    print(f"{'measure':<40} {'first 10% us':>13} {'last 10% us':>12} {'ratio':>6}")
    cases: list[tuple[str, Callable[[], list[float]]]] = [
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
    for name, case in cases:
        runs = [tenths(case()) for _ in range(repeats)]
        first = min(r[0] for r in runs)
        last = min(r[1] for r in runs)
        print(f"{name:<40} {first * 1e6:>13.2f} {last * 1e6:>12.2f} {last / first:>6.2f}")


if __name__ == "__main__":
    main()
