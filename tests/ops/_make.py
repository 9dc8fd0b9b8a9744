"""Operator tests' marble harness: event constructors with short names, as marble diagrams
use them, and ``marble`` to run an operator over events 10 ticks apart."""

from __future__ import annotations

from typing import Any

from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.hotobservable import HotObservable

from rxsubstrate import ErrorData, GraphResult, NodeDelta, NodeError, NodeResult
from rxsubstrate._wire import array_item

on_next = ReactiveTest.on_next
on_completed = ReactiveTest.on_completed
on_error = ReactiveTest.on_error
subscribe = ReactiveTest.subscribe


def d(node: str, **data: Any) -> NodeDelta:
    return NodeDelta(node, data)


def r(node: str, **data: Any) -> NodeResult:
    return NodeResult(node, data)


def e(node: str, message: str = "boom", type: str = "api_error") -> NodeError:
    return NodeError(node, ErrorData(type, message))


def g(**outputs: Any) -> GraphResult:
    return GraphResult({"data": outputs})


item = array_item


def marble(*events: Any, operator: Any, end: int = 400) -> tuple[list[Any], HotObservable[Any]]:
    """``operator`` over a hot source emitting ``events`` at 210, 220, ... and completing at
    ``end``; the messages it produced, and the source (for its subscriptions)."""
    scheduler = TestScheduler()
    messages = [ReactiveTest.on_next(210 + 10 * i, event) for i, event in enumerate(events)]
    source = scheduler.create_hot_observable(*messages, ReactiveTest.on_completed(end))
    result = scheduler.start(lambda: source.pipe(operator))
    return result.messages, source
