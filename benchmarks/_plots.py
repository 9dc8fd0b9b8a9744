"""The suite's plots (PNG, matplotlib): how cost grows with stream length, with concurrent runs,
and, for ``snapshots()``, with an output's size. Each point is a median; its bar spans the
rounds' min-max, so a reader sees where a curve bends and how much of a bend is noise.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

__all__ = ["Series", "draw_growth", "draw_per_delta"]

# consumer -> [(x, [per-round values of the left panel], [per-round values of the right panel])]
Series = dict[str, list[tuple[float, list[float], list[float]]]]

# Ticks for a log axis that read at a glance.
_NICE = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
_STYLE = {
    "reference": dict(color="0.45", linestyle="--", marker="s"),
    "rx.iter": dict(color="tab:blue", marker="o"),
    "rx.async_iter": dict(color="tab:green", marker="^"),
    "rx.concurrent": dict(color="tab:green", marker="^"),
    "sdk.iter": dict(color="tab:red", marker="v"),
    "sdk.concurrent": dict(color="tab:red", marker="v"),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errorbar(axis: Any, name: str, xs: list[float], rounds: list[list[float]]) -> None:
    medians = [statistics.median(r) for r in rounds]
    below = [m - min(r) for m, r in zip(medians, rounds, strict=True)]
    above = [max(r) - m for m, r in zip(medians, rounds, strict=True)]
    axis.errorbar(xs, medians, yerr=[below, above], label=name, capsize=3, **_STYLE.get(name, {}))


def draw_growth(
    series: Series, path: Path, *, title: str, xlabel: str, left: str, right: str
) -> None:
    """Two panels against the same x (log scale): ``left`` (events/s) and ``right`` (MB)."""
    plt = _pyplot()
    figure, (rate, memory) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for name, points in series.items():
        xs = [x for x, _, _ in points]
        _errorbar(rate, name, xs, [r for _, r, _ in points])
        _errorbar(memory, name, xs, [m for _, _, m in points])
    for axis, label in ((rate, left), (memory, right)):
        axis.set_xscale("log")
        axis.set_xticks([x for x, _, _ in next(iter(series.values()))])
        axis.get_xaxis().set_major_formatter(_plain_ticks())
        axis.get_xaxis().set_minor_formatter(_no_ticks())
        axis.set_xlabel(xlabel)
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.grid(True, alpha=0.3)
    rate.legend(fontsize="small")
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_per_delta(curves: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    """Per-delta cost (us, log scale) against the output's size so far (MB)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.2), layout="constrained")
    for name, points in curves.items():
        style = {"linestyle": "--", "color": "0.45"} if "reference" in name else {}
        axis.plot([x for x, _ in points], [y for _, y in points], label=name, **style)
    axis.set_yscale("log")
    low = min(y for points in curves.values() for _, y in points)
    high = max(y for points in curves.values() for _, y in points)
    axis.set_yticks([t for t in _NICE if low / 2 <= t <= high * 2])
    axis.get_yaxis().set_major_formatter(_plain_ticks("{:g}"))
    axis.get_yaxis().set_minor_formatter(_no_ticks())
    axis.set_xlabel("output so far, MB")
    axis.set_ylabel("time per delta, us (log)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize="small")
    figure.suptitle(title)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plain_ticks(form: str = "{:,.0f}") -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _pos: form.format(value))


def _no_ticks() -> Any:
    from matplotlib.ticker import NullFormatter

    return NullFormatter()
