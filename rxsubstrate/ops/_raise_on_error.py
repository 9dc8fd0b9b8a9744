"""``raise_on_error``: a node's failure ends the stream as ``NodeFailed``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable
from reactivex import operators as ops

from .._errors import NodeFailed
from .._events import NodeError
from ._node_ref import NodeLike, node_ids

__all__ = ["raise_on_error"]

_E = TypeVar("_E")


def raise_on_error(*nodes: NodeLike | str) -> Callable[[Observable[_E]], Observable[_E]]:
    """Turn a ``node.error`` into ``on_error(NodeFailed(node_id, type, message))``.

    Only the errors of the given nodes raise; with no node, any node's error does. Every other
    event passes through unchanged, including the errors of nodes not named, so a branch whose
    failure is expected can go on.

    ::

        ---d(a)--r(a)--e(b)--g--|      raise_on_error()
        ---d(a)--r(a)--#                # = NodeFailed("b", ...)

    Args:
        nodes: node objects or ids; none means every node.
    """
    ids = node_ids(nodes) if nodes else None

    def check(event: _E) -> _E:
        if isinstance(event, NodeError) and (ids is None or event.node_id in ids):
            raise NodeFailed.from_event(event)
        return event

    # ops.map sends what the mapper raises to on_error and disposes the source.
    return ops.map(check)
