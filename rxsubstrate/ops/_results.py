"""``results``: the ``node.result`` events."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from .._events import Event, NodeResult
from ._of_type import of_type

__all__ = ["results"]


def results() -> Callable[[Observable[Event]], Observable[NodeResult]]:
    """Keep the ``node.result`` events: each node's whole output, once.

    ::

        ---d(a)--r(a)--e(b)--g--|      results()
        ---------r(a)-----------|
    """
    return of_type(NodeResult)
