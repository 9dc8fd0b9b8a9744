"""``graph_result``: the run's final outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable
from reactivex import operators as ops

from .._events import Event, GraphResult
from ._of_type import of_type

__all__ = ["graph_result"]


def graph_result() -> Callable[[Observable[Event]], Observable[dict[str, Any]]]:
    """The outputs of the run, ``{node_id: output}``, from its ``graph.result``.

    This is ``GraphResult.outputs``, the mapping users index by node id (a failed node maps to
    its error object), whether the server sent it inside the non-streaming response's
    ``{"data": ...}`` envelope or bare (``GraphResult.outputs`` says how the two are told
    apart). For the whole event, keep it with ``ops.filter`` on ``GraphResult``.

    ::

        ---d(a)--r(a)--g--|      graph_result()
        ---------------o--|      o = g.outputs
    """

    def outputs(event: GraphResult) -> dict[str, Any]:
        return event.outputs

    return lambda source: source.pipe(of_type(GraphResult), ops.map(outputs))
