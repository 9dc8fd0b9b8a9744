"""``typed``: a node's output as its msgspec Struct (``ComputeText`` -> ``ComputeTextOut``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import msgspec
from reactivex import Observable

from .._errors import MalformedEvent, NodeFailed
from .._events import Event, NodeError, NodeResult, encode_event
from .._pipeline import selecting
from ._node_fold import NodeFold, fold_nodes
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
    return selecting(frozenset((node.id,)), fold_nodes(lambda: _Typed(node.id, node.output_type)))


class _Typed(NodeFold[OutT]):
    def __init__(self, node_id: str, output_type: type[OutT]) -> None:
        self._node_id = node_id
        self._output_type = output_type

    def result(self, event: NodeResult, position: int) -> Iterable[OutT]:
        if event.node_id != self._node_id:
            return ()
        try:
            return (msgspec.convert(event.data, self._output_type),)
        except msgspec.ValidationError as exc:
            detail = f"not a {self._output_type.__name__}: {exc}"
            raise MalformedEvent(detail, encode_event(event), position) from None

    def error(self, event: NodeError, position: int) -> Iterable[OutT]:
        if event.node_id == self._node_id:
            raise NodeFailed.from_event(event)
        return ()
