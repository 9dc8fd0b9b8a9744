"""Bounded, interruptible work on the event loop: a budget, and walks that pause to let it run.

CPU-heavy work in a node (generating JSON for a schema) is written as a *walk*: a generator that
yields ``None`` every ``TICK`` work steps and returns its result. ``drive`` runs a walk on the
loop, giving the loop a turn at every pause, so one node never holds the loop for more than a few
milliseconds; ``finish`` runs it at once (a check at ``prepare``). The work is bounded by a
``Budget`` of steps and of output size, spent as the work goes, not counted after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Final, TypeAlias, TypeVar

from .._errors import InvalidNodeArgs

__all__ = ["TICK", "Budget", "OverBudget", "Walk", "drive", "finish"]

TICK: Final = 256
"""Work steps between two pauses of a walk (a step is about a microsecond or two)."""

T = TypeVar("T")
Walk: TypeAlias = Generator[None, None, T]


class OverBudget(InvalidNodeArgs):
    """The work would take more steps, or produce more output, than its budget allows."""


class Budget:
    """What one piece of work may still spend: ``steps`` of work and ``size`` characters out.

    Args:
        what: names the work in the ``OverBudget`` message, e.g. ``"json_schema"``.
        steps: work steps allowed.
        size: output characters allowed.
    """

    def __init__(self, what: str, *, steps: int, size: int) -> None:
        self._what = what
        self._steps = steps
        self._size = size
        self.steps_left = steps
        self.size_left = size
        self._since_pause = 0

    def spend(self, steps: int = 1) -> bool:
        """Spend work steps; True when the walk should pause now.

        Raises:
            OverBudget: past the step budget.
        """
        self.steps_left -= steps
        if self.steps_left < 0:
            raise OverBudget(f"{self._what} is over budget: more than {self._steps:,} work steps")
        self._since_pause += steps
        if self._since_pause >= TICK:
            self._since_pause = 0
            return True
        return False

    def produce(self, size: int) -> None:
        """Count output about to be made.

        Raises:
            OverBudget: past the output budget.
        """
        self.size_left -= size
        if self.size_left < 0:
            raise OverBudget(
                f"{self._what} is over budget: its output would pass {self._size:,} characters"
            )


def finish(walk: Walk[T]) -> T:
    """Run a walk to its end without pausing (for work already known to be small)."""
    while True:
        try:
            next(walk)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


async def drive(walk: Walk[T]) -> T:
    """Run a walk on the running loop, giving other tasks a turn at each of its pauses."""
    while True:
        try:
            next(walk)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        await asyncio.sleep(0)
