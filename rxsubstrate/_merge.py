"""Several runs as one stream: ``merge_runs`` (all at once) and ``stream_many`` (bounded).

Every event is wrapped as ``RunEvent(run, event)``, ``run`` being the label the run was given
(a mapping's key, or its position). The merged stream completes when every run has ended.
The streams may be runs already piped through operators: ``RunEvent[L, T]`` holds what they
emit (``merge_runs({"a": s.pipe(ops.text())})`` is an ``Observable[RunEvent[str, str]]``).

Error policy: by default a run that fails does not stop the others; its error is kept, and
when the last run has ended the merged stream ends with ``RunsFailed``, an ``ExceptionGroup``
(and a ``SubstrateError``) holding every failure by label. So nothing is lost, and
``except* StreamInterrupted`` works. With ``fail_fast=True`` the first error ends the merged
stream at once, as itself, and the other runs are disposed (cancelled).
"""

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Generic, overload

import msgspec
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable
from typing_extensions import TypeVar

from ._errors import RunsFailed
from ._events import Event

__all__ = ["RunEvent", "RunsFailed", "merge_runs", "stream_many"]

L = TypeVar("L")
T = TypeVar("T", default=Event)  # RunEvent[str] is RunEvent[str, Event]


class RunEvent(msgspec.Struct, Generic[L, T], frozen=True):
    """One item of one of several merged runs.

    Attributes:
        run: the run's label: its key in the mapping given, or its position.
        event: what that run's stream emitted: an ``Event``, or for a piped stream what its
            operators emit (``str`` after ``ops.text()``).
    """

    run: L
    event: T


@overload
def merge_runs(
    runs: Mapping[L, Observable[T]], /, *, fail_fast: bool = False
) -> Observable[RunEvent[L, T]]: ...


@overload
def merge_runs(*runs: Observable[T], fail_fast: bool = False) -> Observable[RunEvent[int, T]]: ...


def merge_runs(*runs: Any, fail_fast: bool = False) -> Observable[RunEvent[Any, Any]]:
    """The events of several runs in one stream, each as ``RunEvent(run, event)``.

    Every run is subscribed at once (use ``stream_many`` to bound how many run together).

    ::

        a: ---1-----2---|
        b: -----x-----y-----|
        ---a1--bx--a2--by---|      merge_runs({"a": a, "b": b})

    Args:
        runs: one mapping ``{label: stream}``, or streams given positionally (labels 0..n-1).
        fail_fast: end everything at the first error instead of letting the other runs finish.

    Raises:
        RunsFailed: (as ``on_error``, after every run ended) the runs that failed, without
            ``fail_fast``.
    """
    if len(runs) == 1 and isinstance(runs[0], Mapping):
        return _merge(list(runs[0].items()), None, fail_fast)
    return _merge(list(enumerate(runs)), None, fail_fast)


@overload
def stream_many(
    streams: Mapping[L, Observable[T]],
    max_concurrency: int | None = None,
    *,
    fail_fast: bool = False,
) -> Observable[RunEvent[L, T]]: ...


@overload
def stream_many(
    streams: Sequence[Observable[T]],
    max_concurrency: int | None = None,
    *,
    fail_fast: bool = False,
) -> Observable[RunEvent[int, T]]: ...


def stream_many(
    streams: Mapping[Any, Observable[Any]] | Sequence[Observable[Any]],
    max_concurrency: int | None = None,
    *,
    fail_fast: bool = False,
) -> Observable[RunEvent[Any, Any]]:
    """``merge_runs`` with at most ``max_concurrency`` runs subscribed at a time.

    Runs start in the order given; when one ends, the next starts. Disposing the merged
    subscription disposes the running ones and starts no more.

    Args:
        streams: ``{label: stream}``, or a sequence (labels 0..n-1). Cold streams (a
            ``RunStream``) start their run when subscribed.
        max_concurrency: how many runs may be subscribed at once; None for no bound.
        fail_fast: as in ``merge_runs``.

    Raises:
        ValueError: ``max_concurrency`` is less than 1 (at call time).
    """
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
    pairs = list(streams.items()) if isinstance(streams, Mapping) else list(enumerate(streams))
    return _merge(pairs, max_concurrency, fail_fast)


def _merge(
    runs: list[tuple[Any, Observable[Any]]], limit: int | None, fail_fast: bool
) -> Observable[RunEvent[Any, Any]]:
    def subscribe(
        observer: abc.ObserverBase[RunEvent[Any, Any]], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        merge = _Merge(observer, scheduler, runs, limit, fail_fast)
        with merge.lock:
            merge.start_more()
        return CompositeDisposable(Disposable(merge.stop), merge.running)

    return Observable(subscribe)


class _Merge:
    """One subscription to merged runs: which runs wait, run and failed, and when it ends.

    One re-entrant lock serialises the observer's calls (runs emit on their own threads) and
    the bookkeeping. Disposing is done outside it: a run's disposal may wait for its thread,
    which may be waiting for this lock.
    """

    def __init__(
        self,
        observer: abc.ObserverBase[RunEvent[Any, Any]],
        scheduler: abc.SchedulerBase | None,
        runs: list[tuple[Any, Observable[Any]]],
        limit: int | None,
        fail_fast: bool,
    ) -> None:
        self.lock = threading.RLock()
        self.running = CompositeDisposable()
        self._observer = observer
        self._scheduler = scheduler
        self._waiting = deque(runs)
        self._limit = limit
        self._fail_fast = fail_fast
        self._failures: dict[Any, Exception] = {}
        self._active = 0
        self._ended = False
        self._starting = False

    def stop(self) -> None:
        """The subscriber disposed: start no more runs and emit nothing more."""
        self._ended = True  # one assignment: no lock needed, and none taken (see above)

    def start_more(self) -> None:
        """Start waiting runs up to the limit; call it holding the lock.

        A run may end inside its own subscribe (a synchronous source): this loop, not
        recursion, starts the next one.
        """
        if self._starting:
            return
        self._starting = True
        try:
            while (
                self._waiting
                and not self._ended
                and (self._limit is None or self._active < self._limit)
            ):
                label, run = self._waiting.popleft()
                self._active += 1
                inner = SingleAssignmentDisposable()
                self.running.add(inner)
                inner.disposable = run.subscribe(
                    partial(self._on_next, label),
                    partial(self._on_error, label, inner),
                    partial(self._on_completed, inner),
                    scheduler=self._scheduler,
                )
        finally:
            self._starting = False
        self._end_if_done()

    def _end_if_done(self) -> None:
        if self._ended or self._active or self._waiting:
            return
        self._ended = True
        if self._failures:
            self._observer.on_error(RunsFailed(self._failures))
        else:
            self._observer.on_completed()

    def _on_next(self, label: Any, event: Any) -> None:
        with self.lock:
            if not self._ended:
                self._observer.on_next(RunEvent(label, event))

    def _on_error(self, label: Any, inner: SingleAssignmentDisposable, error: Exception) -> None:
        cancel_others = False
        with self.lock:
            self._active -= 1
            if self._ended:
                return
            if self._fail_fast:
                self._ended = cancel_others = True
                self._observer.on_error(error)
            else:
                self._failures[label] = error
                self.start_more()
        self.running.remove(inner)
        if cancel_others:
            self.running.dispose()

    def _on_completed(self, inner: SingleAssignmentDisposable) -> None:
        with self.lock:
            self._active -= 1
            if not self._ended:
                self.start_more()
        self.running.remove(inner)
