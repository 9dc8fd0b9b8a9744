"""``snapshots``: a node's output as it stands after every delta, as immutable values."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reactivex import Observable

from .._events import Event, NodeDelta, NodeError, NodeResult
from .._output_builder import OutputBuilder, materialise
from ._node_builders import NodeBuilders
from ._node_fold import NodeFold, fold_nodes

__all__ = ["Snapshot", "snapshot_fold", "snapshots"]


class Snapshot:
    """One node's output as it stood at one moment; it never changes afterwards.

    Making a snapshot costs O(1): it refers to the node's append-only output builder and a
    version. ``output`` materialises on first access (O(size of the output)) and is cached; it
    may be read on any thread, and long after later deltas arrived.

    Attributes:
        node_id: the node.
        version: how many of the node's deltas the snapshot includes.
        final: True for the snapshot made from the node's ``node.result``: its output is the
            server's final word, whatever the deltas said.
    """

    __slots__ = ("_builder", "_output", "final", "node_id", "version")

    def __init__(
        self, node_id: str, builder: OutputBuilder, version: int, *, final: bool = False
    ) -> None:
        self.node_id = node_id
        self.version = version
        self.final = final
        self._builder = builder
        self._output: Mapping[str, Any] | None = None

    @property
    def output(self) -> Mapping[str, Any]:
        """The output so far: read-only mappings, tuples for arrays, ``str`` for strings."""
        if self._output is None:
            self._output = materialise(self._builder, self.version)
        return self._output

    def to_builtins(self) -> dict[str, Any]:
        """A fresh, mutable, JSON-encodable copy of ``output`` (dicts and lists)."""
        return self._builder.value(self.version)

    def __repr__(self) -> str:
        kind = "final" if self.final else f"version={self.version}"
        return f"Snapshot({self.node_id!r}, {kind}, {dict(self.output)!r})"


def snapshots() -> Callable[[Observable[Event]], Observable[Snapshot]]:
    """After every delta, the node's output assembled so far; at its result, the final output.

    Each node's snapshots grow monotonically (strings only get longer, arrays only longer) and
    its last one is ``final``, made from ``node.result`` (a node that does not stream gets only
    that one). Errors, ``graph.result`` and unknown events emit nothing. The work per delta is
    proportional to the chunk, not to the output so far: a snapshot shares the builder and
    materialises lazily.

    ::

        ---d(a,"He")--d(a,"y")--r(a,"Hey")--|      snapshots()
        ---s("He")----s("Hey")--S("Hey")----|      S: final

    Raises:
        MalformedEvent: (as ``on_error``) a delta with a bad ``array.item`` index, as in
            ``assemble()``.
    """

    return fold_nodes(_Snapshots)


def snapshot_fold() -> NodeFold[Snapshot]:
    """``snapshots()``'s state for one stream, for code that reads events one by one."""
    return _Snapshots()


class _Snapshots(NodeFold[Snapshot]):
    def __init__(self) -> None:
        self._builders = NodeBuilders()

    def delta(self, event: NodeDelta, position: int) -> Iterable[Snapshot]:
        builder = self._builders.apply(event, position)
        return (Snapshot(event.node_id, builder, builder.version),)

    def result(self, event: NodeResult, position: int) -> Iterable[Snapshot]:
        self._builders.pop(event.node_id, None)
        return (Snapshot(event.node_id, OutputBuilder.of(event.data), 0, final=True),)

    def error(self, event: NodeError, position: int) -> Iterable[Snapshot]:
        self._builders.pop(event.node_id, None)
        return ()
