"""``errors``: the ``node.error`` events, as values (``raise_on_error`` raises them instead)."""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable

from .._events import Event, NodeError
from ._of_type import of_type

__all__ = ["errors"]


def errors() -> Callable[[Observable[Event]], Observable[NodeError]]:
    """Keep the ``node.error`` events: which nodes failed, and why.

    ::

        ---d(a)--e(b)--r(a)--e(c)--g--|      errors()
        ---------e(b)--------e(c)-----|
    """
    return of_type(NodeError)
