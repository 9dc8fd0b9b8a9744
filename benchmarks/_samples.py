"""Repeated measurements: each consumer's rounds, their median and min-max spread.

A figure is the median over fresh processes, shown with the lowest and highest round beside it:
noise on a shared machine adds time and takes none away, but a best-of-N hides how much of it
there was. A ratio is taken round by round (two consumers measured one after the other, in the
same stretch of machine time) and its median and spread are reported, never a ratio of medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Samples", "ratios", "spread"]


@dataclass
class Samples:
    """One consumer's rounds (``_child.measure`` results), or why it failed."""

    rounds: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    def values(self, key: str) -> list[float]:
        return [float(r[key]) for r in self.rounds]

    def rates(self, events: int) -> list[float]:
        """Events per second, round by round."""
        return [events / s for s in self.values("seconds")]

    def median(self, key: str) -> float:
        return statistics.median(self.values(key))

    def median_rate(self, events: int) -> float:
        return statistics.median(self.rates(events))


def spread(values: list[float], show: Callable[[float], str], unit: str = "") -> str:
    """``median (min-max)``, the unit after the median; one value alone for one round."""
    middle = show(statistics.median(values)) + unit
    if len(values) == 1:
        return middle
    return f"{middle} ({show(min(values))}-{show(max(values))})"


def ratios(a: Samples, b: Samples, events: int) -> list[float]:
    """``a``'s rate over ``b``'s, round by round."""
    return [x / y for x, y in zip(a.rates(events), b.rates(events), strict=False)]
