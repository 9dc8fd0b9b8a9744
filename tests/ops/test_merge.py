"""Marble tests of ``merge_runs`` and ``stream_many``."""

from __future__ import annotations

import pytest
import reactivex
from reactivex.abc import ObserverBase
from reactivex.disposable import Disposable
from reactivex.testing import ReactiveTest, TestScheduler

from rxsubstrate import Event, RunEvent, RunsFailed, StreamInterrupted, merge_runs
from rxsubstrate._merge import stream_many

from ._make import g, r

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe

RA, RB, G = r("a", x=1), r("b", x=2), g()


def test_merge_runs_labels_each_event_and_completes_when_all_complete() -> None:
    scheduler = TestScheduler()
    one = scheduler.create_hot_observable(on_next(210, RA), on_next(230, G), on_completed(240))
    two = scheduler.create_hot_observable(on_next(220, RB), on_completed(300))
    result = scheduler.start(lambda: merge_runs({"one": one, "two": two}))
    assert result.messages == [
        on_next(210, RunEvent("one", RA)),
        on_next(220, RunEvent("two", RB)),
        on_next(230, RunEvent("one", G)),
        on_completed(300),
    ]
    assert one.subscriptions == [subscribe(200, 240)]
    assert two.subscriptions == [subscribe(200, 300)]


def test_merge_runs_positional_labels_are_positions() -> None:
    scheduler = TestScheduler()
    one = scheduler.create_hot_observable(on_next(210, RA), on_completed(220))
    two = scheduler.create_hot_observable(on_next(215, RB), on_completed(220))
    result = scheduler.start(lambda: merge_runs(one, two))
    assert [m.value.value for m in result.messages[:-1]] == [RunEvent(0, RA), RunEvent(1, RB)]


def test_a_failed_run_lets_the_others_finish_then_all_failures_are_raised() -> None:
    scheduler = TestScheduler()
    broken = StreamInterrupted(3)
    one = scheduler.create_hot_observable(on_next(210, RA), on_error(220, broken))
    two = scheduler.create_hot_observable(on_next(230, RB), on_completed(300))
    result = scheduler.start(lambda: merge_runs({"one": one, "two": two}))
    assert [m.value.value for m in result.messages[:-1]] == [
        RunEvent("one", RA),
        RunEvent("two", RB),
    ]
    assert result.messages[-1].time == 300
    error = result.messages[-1].value.exception
    assert isinstance(error, RunsFailed)
    assert error.failures == {"one": broken}
    assert error.exceptions == (broken,)
    assert two.subscriptions == [subscribe(200, 300)]


def test_fail_fast_ends_at_the_first_error_and_disposes_the_others() -> None:
    scheduler = TestScheduler()
    broken = StreamInterrupted(1)
    one = scheduler.create_hot_observable(on_next(210, RA), on_error(220, broken))
    two = scheduler.create_hot_observable(on_next(230, RB), on_completed(300))
    result = scheduler.start(lambda: merge_runs({"one": one, "two": two}, fail_fast=True))
    assert result.messages == [on_next(210, RunEvent("one", RA)), on_error(220, broken)]
    assert two.subscriptions == [subscribe(200, 220)]


def test_stream_many_subscribes_at_most_max_concurrency_runs() -> None:
    scheduler = TestScheduler()
    runs = [
        scheduler.create_cold_observable(on_next(10, RA), on_completed(20 + 10 * i))
        for i in range(3)
    ]
    result = scheduler.start(lambda: stream_many(runs, max_concurrency=2))
    assert runs[0].subscriptions == [subscribe(200, 220)]
    assert runs[1].subscriptions == [subscribe(200, 230)]
    assert runs[2].subscriptions == [subscribe(220, 260)]
    assert [m.time for m in result.messages] == [210, 210, 230, 260]
    assert [m.value.value.run for m in result.messages[:-1]] == [0, 1, 2]


def test_disposing_the_merged_stream_disposes_every_run() -> None:
    scheduler = TestScheduler()
    one = scheduler.create_hot_observable(on_next(210, RA), on_completed(900))
    two = scheduler.create_hot_observable(on_next(220, RB), on_completed(900))
    scheduler.start(lambda: merge_runs(one, two), disposed=500)
    assert one.subscriptions == [subscribe(200, 500)]
    assert two.subscriptions == [subscribe(200, 500)]


def test_synchronous_runs_are_started_by_a_loop_not_recursion() -> None:
    items: list[RunEvent[int]] = []
    done: list[bool] = []

    def one_event(observer: ObserverBase[Event], _: object = None) -> Disposable:
        # Emits inside subscribe, with no trampoline between one run and the next.
        observer.on_next(RA)
        observer.on_completed()
        return Disposable()

    runs = [reactivex.create(one_event) for _ in range(3000)]
    stream_many(runs, max_concurrency=1).subscribe(
        items.append, on_completed=lambda: done.append(True)
    )
    assert len(items) == 3000
    assert done == [True]


def test_empty_merge_completes_and_bad_concurrency_is_refused() -> None:
    done: list[bool] = []
    merge_runs().subscribe(on_completed=lambda: done.append(True))
    assert done == [True]
    with pytest.raises(ValueError, match="max_concurrency"):
        stream_many([], max_concurrency=0)
