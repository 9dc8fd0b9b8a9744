"""``assemble``: each node's whole output, from its deltas, checked against its result."""

import logging
from collections.abc import Callable
from typing import Any

import msgspec
from reactivex import Observable, abc

from .._errors import MalformedEvent
from .._events import Event, NodeDelta, NodeError, NodeResult
from .._output_builder import OutputBuilder
from ._node_builders import NodeBuilders

__all__ = ["NodeOutput", "assemble"]

logger = logging.getLogger("rxsubstrate.ops")


class NodeOutput(msgspec.Struct, frozen=True):
    """One node's whole output.

    Attributes:
        node_id: the node.
        data: the output: the ``node.result``'s data when it arrived (the server's word is
            final), else what the deltas assembled to.
        from_result: True when ``data`` is the node's ``node.result``; False for a node that sent
            deltas but no result before the stream completed (its output may be partial).
        assembled: what the deltas assembled to, only when the node streamed deltas and they
            disagree with its result; None otherwise.
    """

    node_id: str
    data: dict[str, Any]
    from_result: bool = True
    assembled: dict[str, Any] | None = None

    @property
    def mismatch(self) -> bool:
        """True when the node's deltas did not add up to its result."""
        return self.assembled is not None


def assemble() -> Callable[[Observable[Event]], Observable[NodeOutput]]:
    """Rebuild each node's output from its deltas; emit it once per node.

    A node's ``NodeOutput`` is emitted when its ``node.result`` arrives, with the result as
    ``data``. If the node streamed deltas whose assembly differs from the result, the assembly is
    kept in ``NodeOutput.assembled`` and a warning is logged on the ``rxsubstrate.ops`` logger:
    the mismatch is reported, not hidden. A node that sent deltas but no result gets its
    assembled output at completion, with ``from_result=False``. A node that fails gets no
    output (see ``errors()`` or ``raise_on_error()``); ``graph.result`` is not used.

    Deltas merge as the protocol says (strings appended, ``array.item`` merged at its index,
    objects field by field, other values replaced), at a cost per delta proportional to the
    chunk.

    ::

        ---d(a,"He")--d(a,"y")--r(a,"Hey")--d(b,"x")--|      assemble()
        ------------------------o(a,"Hey")------------o(b,"x",from_result=False)|

    Raises:
        MalformedEvent: (as ``on_error``) a delta whose ``array.item`` index is not a
            non-negative integer, or opens more than ``MAX_ARRAY_GROWTH`` slots at once.
    """

    def operator(source: Observable[Event]) -> Observable[NodeOutput]:
        def subscribe(
            observer: abc.ObserverBase[NodeOutput], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            builders = NodeBuilders()
            position = -1

            def on_next(event: Event) -> None:
                nonlocal position
                position += 1
                if isinstance(event, NodeDelta):
                    try:
                        builders.apply(event, position)
                    except MalformedEvent as exc:
                        observer.on_error(exc)
                elif isinstance(event, NodeResult):
                    observer.on_next(_checked(event, builders.pop(event.node_id, None)))
                elif isinstance(event, NodeError):
                    builders.pop(event.node_id, None)

            def on_completed() -> None:
                for node_id, builder in builders.items():
                    observer.on_next(NodeOutput(node_id, builder.value(), from_result=False))
                builders.clear()
                observer.on_completed()

            return source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return operator


def _checked(result: NodeResult, builder: OutputBuilder | None) -> NodeOutput:
    if builder is None:
        return NodeOutput(result.node_id, result.data)
    assembled = builder.value()
    if assembled == result.data:
        return NodeOutput(result.node_id, result.data)
    logger.warning(
        "node %s: its %d deltas assemble to an output that differs from its node.result; "
        "NodeOutput.assembled holds the assembly",
        result.node_id,
        builder.version,
    )
    return NodeOutput(result.node_id, result.data, assembled=assembled)
