"""``assemble``: each node's whole output, from its deltas, checked against its result."""

import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from reactivex import Observable

from .._events import Event, NodeDelta, NodeError, NodeResult
from .._output_builder import OutputBuilder
from ._node_builders import NodeBuilders
from ._node_fold import NodeFold, fold_nodes

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

    return fold_nodes(_Assembly)


class _Assembly(NodeFold[NodeOutput]):
    def __init__(self) -> None:
        self._builders = NodeBuilders()

    def delta(self, event: NodeDelta, position: int) -> Iterable[NodeOutput]:
        self._builders.apply(event, position)
        return ()

    def result(self, event: NodeResult, position: int) -> Iterable[NodeOutput]:
        return (_checked(event, self._builders.pop(event.node_id, None)),)

    def error(self, event: NodeError, position: int) -> Iterable[NodeOutput]:
        self._builders.pop(event.node_id, None)
        return ()

    def completed(self) -> Iterable[NodeOutput]:
        outputs = [
            NodeOutput(node_id, builder.value(), from_result=False)
            for node_id, builder in self._builders.items()
        ]
        self._builders.clear()
        return outputs


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
