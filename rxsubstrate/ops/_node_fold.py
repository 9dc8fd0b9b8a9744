"""The shell every stateful per-node operator shares: ``NodeFold`` and ``fold_nodes``.

``assemble``, ``snapshots``, ``text`` and ``typed`` each keep some state per node and react to
that node's deltas, result and error. What they have in common lives here once: a fresh fold per
subscription, the event's position in the stream (for ``MalformedEvent``), events that belong to
no node dropped, and a ``SubstrateError`` raised by the fold sent to ``on_error``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from reactivex import Observable, abc

from .._errors import SubstrateError
from .._events import Event, NodeDelta, NodeError, NodeResult

__all__ = ["NodeFold", "fold_nodes"]

T = TypeVar("T")


class NodeFold(Generic[T]):
    """One subscription's state; each method returns the values to emit (none by default).

    Raise a ``SubstrateError`` from any method to end the stream with it.
    """

    def delta(self, event: NodeDelta, position: int) -> Iterable[T]:
        return ()

    def result(self, event: NodeResult, position: int) -> Iterable[T]:
        return ()

    def error(self, event: NodeError, position: int) -> Iterable[T]:
        return ()

    def completed(self) -> Iterable[T]:
        """What is still held when the source completes."""
        return ()

    def step(self, event: Event, position: int) -> Iterable[T]:
        """The values for one event of the stream (none for an event of no node)."""
        if isinstance(event, NodeDelta):
            return self.delta(event, position)
        if isinstance(event, NodeResult):
            return self.result(event, position)
        if isinstance(event, NodeError):
            return self.error(event, position)
        return ()


def fold_nodes(make: Callable[[], NodeFold[T]]) -> Callable[[Observable[Event]], Observable[T]]:
    """An operator that runs a new ``make()`` fold over each subscription's node events."""

    def operator(source: Observable[Event]) -> Observable[T]:
        def subscribe(
            observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            fold = make()
            position = -1

            def on_next(event: Event) -> None:
                nonlocal position
                position += 1
                try:
                    for value in fold.step(event, position):
                        observer.on_next(value)
                except SubstrateError as exc:
                    observer.on_error(exc)

            def on_completed() -> None:
                try:
                    for value in fold.completed():
                        observer.on_next(value)
                except SubstrateError as exc:
                    observer.on_error(exc)
                    return
                observer.on_completed()

            return source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return operator
