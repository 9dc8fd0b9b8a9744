"""Operators for runs: pipe a ``RunStream`` (an ``Observable[Event]``) through them.

Each is a function returning ``Callable[[Observable[X]], Observable[Y]]``, as reactivex's own
operators are, so they mix freely with ``reactivex.operators``::

    from rxsubstrate import ops

    stream.pipe(ops.for_node(a), ops.text()).subscribe(print)     # Observable[str]

Nothing here starts threads: callbacks run on whichever thread the source emits on.
"""

from .._merge import RunEvent, RunsFailed, merge_runs
from .._output_builder import MAX_ARRAY_GROWTH
from .._public import publish
from ._assemble import NodeOutput, assemble
from ._deltas import deltas
from ._errors import errors
from ._for_node import for_node
from ._graph_result import graph_result
from ._group_by_node import group_by_node
from ._node_ref import NodeEvent, NodeLike, TypedNode
from ._raise_on_error import raise_on_error
from ._results import results
from ._snapshots import Snapshot, snapshots
from ._text import text
from ._to_sse import to_sse
from ._typed import typed

__all__ = [
    "MAX_ARRAY_GROWTH",
    "NodeEvent",
    "NodeLike",
    "NodeOutput",
    "RunEvent",
    "RunsFailed",
    "Snapshot",
    "TypedNode",
    "assemble",
    "deltas",
    "errors",
    "for_node",
    "graph_result",
    "group_by_node",
    "merge_runs",
    "raise_on_error",
    "results",
    "snapshots",
    "text",
    "to_sse",
    "typed",
]

publish(globals())
