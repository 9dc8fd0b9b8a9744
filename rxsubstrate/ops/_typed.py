"""``typed``: a node's output as its msgspec Struct (``ComputeText`` -> ``ComputeTextOut``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec
from reactivex import Observable, abc

from .._errors import MalformedEvent, NodeFailed
from .._events import Event, NodeError, NodeResult, encode_event
from ._node_ref import TypedNode

__all__ = ["typed"]

OutT = TypeVar("OutT")


def typed(node: TypedNode[OutT]) -> Callable[[Observable[Event]], Observable[OutT]]:
    """The node's ``node.result`` decoded to its output Struct, e.g. ``ComputeTextOut``.

    It takes the node, not just an event, because an event carries the node's id but not its
    kind: the node's ``output_type`` says what to decode to, and so also types the result
    (``stream.pipe(typed(a))`` is ``Observable[ComputeTextOut]`` for a ``ComputeText`` ``a``).
    For several nodes, use one ``typed`` per node (e.g. on ``group_by_node()`` groups or on a
    shared stream).

    The node's ``node.error`` ends the stream with ``NodeFailed``: there will be no output to
    type. Other events are dropped.

    ::

        ---d(a)--r(a)--r(b)--g--|      typed(a)
        ---------A--------------|      A = a.output_type(**r(a).data)

    Args:
        node: a node with an ``id`` and an ``output_type`` (every node class of
            ``rxsubstrate``'s graph API has both).

    Raises:
        MalformedEvent: (as ``on_error``) the result does not fit ``output_type``.
        NodeFailed: (as ``on_error``) the node reported ``node.error``.
    """
    node_id = node.id
    output_type = node.output_type

    def operator(source: Observable[Event]) -> Observable[OutT]:
        def subscribe(
            observer: abc.ObserverBase[OutT], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            position = -1

            def on_next(event: Event) -> None:
                nonlocal position
                position += 1
                if isinstance(event, NodeResult) and event.node_id == node_id:
                    try:
                        value = msgspec.convert(event.data, output_type)
                    except msgspec.ValidationError as exc:
                        detail = f"not a {output_type.__name__}: {exc}"
                        observer.on_error(MalformedEvent(detail, encode_event(event), position))
                        return
                    observer.on_next(value)
                elif isinstance(event, NodeError) and event.node_id == node_id:
                    observer.on_error(
                        NodeFailed(event.node_id, event.data.type, event.data.message)
                    )

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return operator
