"""``deltas``: the ``node.delta`` events."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from .._events import Event, NodeDelta
from ._of_type import of_type

__all__ = ["deltas"]


def deltas() -> Callable[[Observable[Event]], Observable[NodeDelta]]:
    """Keep the ``node.delta`` events: the streamed chunks of node outputs.

    ::

        ---d(a)--r(a)--d(b)--g--|      deltas()
        ---d(a)--------d(b)-----|
    """
    return of_type(NodeDelta)
