"""One ``OutputBuilder`` per node, as ``assemble`` and ``snapshots`` fold a stream's deltas."""

from __future__ import annotations

from .._errors import MalformedEvent
from .._events import NodeDelta, encode_event
from .._output_builder import BadDelta, OutputBuilder

__all__ = ["NodeBuilders"]


class NodeBuilders(dict[str, OutputBuilder]):
    """The outputs under construction, by node id."""

    def apply(self, event: NodeDelta, position: int) -> OutputBuilder:
        """Fold one delta into its node's builder (made on the node's first delta).

        Raises:
            MalformedEvent: the delta breaks the protocol (a bad ``array.item`` index);
                ``position`` is the event's place in the stream.
        """
        builder = self.get(event.node_id)
        if builder is None:
            builder = self[event.node_id] = OutputBuilder()
        try:
            builder.apply(event.data)
        except BadDelta as exc:
            raise MalformedEvent(str(exc), encode_event(event), position) from None
        return builder
