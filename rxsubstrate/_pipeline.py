"""``RunPipeline``: what ``RunStream.pipe`` returns, an Observable whose ``run()`` and ``await``
say why a pipeline gave nothing, and refuse to block the loop that would deliver it.

reactivex's ``run()`` (and ``await``) raise a bare ``SequenceContainsNoElementsError`` when the
Observable completes empty, which for a run means its node failed, is not in the graph, or is
hidden. Here the run itself is watched while it goes: the pipeline sets a ``Witness`` in a
context variable while it subscribes, the ``RunStream`` at its root shows it each batch of
events, and an empty end raises ``NodeFailed`` (the node failed) or ``NoValue`` with the reason.

The nodes a pipeline is about are known when it is built: ``for_node``, ``text`` and ``typed``
mark the operators they return (``selecting``), and ``pipe`` reads the marks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final, TypeVar

from reactivex import Observable, abc
from reactivex.internal.exceptions import SequenceContainsNoElementsError

from ._errors import NodeFailed, NoValue, WouldDeadlock
from ._events import Event, GraphResult, NodeDelta, NodeError, NodeResult
from ._wire import VISIBLE

if TYPE_CHECKING:
    from ._client import RunStream

__all__ = [
    "RunPipeline",
    "Witness",
    "awaited",
    "narrowed",
    "piped",
    "run_explained",
    "selecting",
    "witness_for",
]

T = TypeVar("T")
Op = TypeVar("Op", bound=Callable[..., Any])
_NODES: Final = "_rxsubstrate_node_ids"
_witness: ContextVar[Witness | None] = ContextVar("rxsubstrate_witness", default=None)
_BLOCKS_ITS_LOOP: Final = (
    "run() would block the running event loop, which delivers the run's events;"
    " use `await pipeline` (or `async for ... in rxsubstrate.aiterate(pipeline)`) here"
)


def selecting(node_ids: frozenset[str], operator: Op) -> Op:
    """Mark ``operator`` as one that lets through only ``node_ids``' values; returns it."""
    setattr(operator, _NODES, node_ids)
    return operator


def witness_for(stream: RunStream) -> Witness | None:
    """The witness of the pipeline being run whose root is ``stream``, if any."""
    witness = _witness.get()
    return witness if witness is not None and witness.stream is stream else None


class Witness:
    """What one run of a pipeline's root said about its nodes, to explain an empty end.

    A copy of the context it is set in may outlive the run (a connection pooled on the client's
    loop thread keeps the context it was opened in): ``forget()`` lets go of the stream, and
    with it the client, once the run is over.
    """

    __slots__ = ("dag", "failures", "outputs", "results", "selected", "stream")

    def __init__(self, stream: RunStream, selected: frozenset[str] | None) -> None:
        self.stream: RunStream | None = stream
        self.dag = stream.dag
        self.selected = selected
        self.failures: dict[str, NodeFailed] = {}
        self.results: set[str] = set()
        self.outputs: dict[str, Any] | None = None

    def saw(self, batch: list[Event]) -> None:
        """The run's events (deltas, most of them, say nothing it needs)."""
        for event in batch:
            if type(event) is NodeDelta:
                continue
            if isinstance(event, NodeResult):
                self.results.add(event.node_id)
            elif isinstance(event, NodeError):
                self.failures.setdefault(event.node_id, NodeFailed.from_event(event))
            elif isinstance(event, GraphResult):
                self.outputs = event.outputs

    def forget(self) -> None:
        """The run is over: keep neither its stream nor its outputs."""
        self.stream = None
        self.outputs = None

    def error(self) -> Exception:
        """Why the pipeline gave no value: the node's ``NodeFailed``, or ``NoValue``."""
        dag = self.dag
        nodes = None if dag is None else _dag_nodes(dag)  # None: a replay, whose dag is unknown
        selected = self.selected
        if selected is not None and not selected:
            return NoValue(
                "the pipeline gave no value: its node operators (for_node, text, typed) select"
                " no node in common"
            )
        if selected is not None:
            wanted = sorted(selected)
        elif nodes is not None:
            wanted = sorted(nodes)
        else:
            wanted = sorted({*self.failures, *self.results, *(self.outputs or {})})
        failures = [f for f in map(self._failure, wanted) if f is not None]
        if len(failures) == 1 and (selected is not None or len(wanted) == 1):
            return failures[0]
        reasons = [self._reason(node_id, nodes) for node_id in wanted] or ["the run had no node"]
        return NoValue("the pipeline gave no value: " + "; ".join(reasons), wanted)

    def _failure(self, node_id: str) -> NodeFailed | None:
        failure = self.failures.get(node_id)
        output = (self.outputs or {}).get(node_id)
        if failure is None and isinstance(output, dict) and {"type", "message"} <= set(output):
            failure = NodeFailed(node_id, str(output["type"]), str(output["message"]))
        return failure

    def _reason(self, node_id: str, nodes: dict[str, bool] | None) -> str:
        failure = self._failure(node_id)
        if failure is not None:
            return str(failure)
        if node_id in self.results or node_id in (self.outputs or {}):
            return f"node {node_id} finished, but the pipeline's operators let nothing through"
        if nodes is None:
            return (
                f"node {node_id} sent no result (a recording does not say whether it is part"
                " of the graph, or hidden)"
            )
        if node_id not in nodes:
            known = ", ".join(sorted(nodes)) or "none"
            return f"node {node_id} is not part of this graph (its nodes: {known})"
        if not nodes[node_id]:
            return f"node {node_id} is hidden (hide=True) and the server sent none of its events"
        return f"node {node_id} sent no result"


def _dag_nodes(dag: dict[str, Any]) -> dict[str, bool]:
    """Each node of a serialized dag: whether its output is part of the result."""
    nodes = dag.get("nodes")
    found: dict[str, bool] = {}
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found[node["id"]] = bool(node.get(VISIBLE))
    return found


def narrowed(selected: frozenset[str] | None, operators: Iterable[object]) -> frozenset[str] | None:
    """``selected`` narrowed by the marked operators among ``operators``."""
    for operator in operators:
        node_ids = getattr(operator, _NODES, None)
        if isinstance(node_ids, frozenset):
            selected = node_ids if selected is None else selected & node_ids
    return selected


class RunPipeline(Observable[T]):
    """A ``RunStream`` piped through operators: the same Observable, with ``run()`` and
    ``await`` that explain an empty end (``NoValue``, ``NodeFailed``)."""

    def __init__(
        self, inner: Observable[T], stream: RunStream, selected: frozenset[str] | None
    ) -> None:
        super().__init__()
        self._inner = inner
        self._stream = stream
        self._selected = selected

    def subscribe(
        self,
        on_next: abc.ObserverBase[T] | abc.OnNext[T] | None = None,
        on_error: abc.OnError | None = None,
        on_completed: abc.OnCompleted | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        # Straight to the pipeline: this wrapper adds nothing per event.
        return self._inner.subscribe(on_next, on_error, on_completed, scheduler=scheduler)

    def pipe(self, *operators: Callable[[Any], Any]) -> Any:
        return piped(self._inner, self._stream, self._selected, operators)

    def run(self, scheduler: abc.SchedulerBase | None = None) -> T:
        """Wait for the pipeline to complete and return its last value (reactivex's ``run``).

        Raises:
            NodeFailed: it gave no value because the node it selects failed.
            NoValue: it gave no value; the message says why.
            WouldDeadlock: called inside a running event loop (``await`` the pipeline there).
        """
        return run_explained(self._inner, self._stream, self._selected, scheduler)

    def __await__(self) -> Generator[Any, None, T]:
        """The pipeline's last value, on the running loop; empty, it raises as ``run()``."""
        return awaited(self._inner, self._stream, self._selected)

    def __iter__(self) -> Iterator[T]:
        """``for x in pipeline``: ``rxsubstrate.iterate(pipeline)`` (without this, Python would
        fall back on reactivex's slicing and loop forever on empty slices)."""
        from ._iterate import iterate

        return iterate(self)

    def __aiter__(self) -> AsyncIterator[T]:
        """``async for x in pipeline``: ``rxsubstrate.aiterate(pipeline)``."""
        from ._iterate import aiterate

        return aiterate(self)


def piped(
    source: Observable[Any],
    stream: RunStream,
    selected: frozenset[str] | None,
    operators: tuple[Callable[[Any], Any], ...],
) -> Any:
    """``source.pipe(*operators)``, a ``RunPipeline`` when it is a plain Observable (not a
    ``ConnectableObservable``, a subject, or anything else with an API of its own to keep)."""
    result = source if not operators else Observable.pipe(source, *operators)
    if type(result) is Observable:
        return RunPipeline(result, stream, narrowed(selected, operators))
    return result


def run_explained(
    source: Observable[T],
    stream: RunStream,
    selected: frozenset[str] | None,
    scheduler: abc.SchedulerBase | None,
) -> T:
    """reactivex's ``run`` of ``source``, with an empty end explained."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise WouldDeadlock(_BLOCKS_ITS_LOOP)
    witness = Witness(stream, selected)
    token = _witness.set(witness)
    try:
        return Observable.run(source, scheduler)
    except SequenceContainsNoElementsError as exc:
        if isinstance(exc, NoValue):
            raise
        raise witness.error() from None
    finally:
        _witness.reset(token)
        witness.forget()


def awaited(
    source: Observable[T], stream: RunStream, selected: frozenset[str] | None
) -> Generator[Any, None, T]:
    """``await source`` (its last value), with an empty end explained; use as ``__await__``."""
    witness = Witness(stream, selected)
    token = _witness.set(witness)
    try:
        waiting = Observable.__await__(source)  # subscribes now, within the witness's context
    finally:
        _witness.reset(token)
    try:
        return (yield from waiting)
    except SequenceContainsNoElementsError as exc:
        if isinstance(exc, NoValue):
            raise
        raise witness.error() from None
    finally:
        witness.forget()
