"""``Engine``: the registry of node implementations, and the two steps of a run.

``prepare`` validates a serialized graph into a ``Plan`` (raising ``GraphInvalid`` before anything
runs); ``execute`` runs a plan and yields its events. The server maps the first to HTTP 400 and
writes the second as Server-Sent Events.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from .._events import Event
from ._builtins import builtin_impls
from ._cache import ResultCache
from ._impl import NodeImpl
from ._limits import Limits
from ._plan import Plan, build_plan
from ._run import run_plan
from ._text import TextGenerator, generate_text

__all__ = ["Engine"]

_Impl = TypeVar("_Impl", bound=NodeImpl)


class Engine:
    """Runs Substrate graphs locally: built-in stand-ins for the text and JSON nodes, plus any node
    kind you register.

    The built-in nodes produce output with the same structure as Substrate's (the same fields,
    deltas and ``array.item`` chunks) from a deterministic word generator, not a language model:
    the same node kind and arguments always give the same output.

    Graphs are a stranger's programs: ``limits`` bounds what one may ask (its size before it
    runs, what its nodes build while they run), and the engine keeps one result cache, shared
    by its runs, for nodes sent with ``cache_age``.

    Args:
        chunk_delay: seconds to wait after each delta a node streams, so a local stream paces like
            a remote one (0 in tests).
        text_generator: makes the built-in nodes' text; the default is plain seeded words.
        limits: the bounds on each graph and run; the defaults suit a server open to clients.

    Example:
        >>> engine = Engine()
        >>> @engine.node("Shout")
        ... async def shout(args, context):
        ...     return {"text": args["text"].upper()}
    """

    def __init__(
        self,
        *,
        chunk_delay: float = 0.0,
        text_generator: TextGenerator = generate_text,
        limits: Limits | None = None,
    ) -> None:
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay must be >= 0, got {chunk_delay}")
        self._chunk_delay = chunk_delay
        self.limits = Limits() if limits is None else limits
        self._impls: dict[str, NodeImpl] = builtin_impls(text_generator, self.limits)
        self._cache = ResultCache(entries=self.limits.cache_entries, size=self.limits.cache_bytes)

    def register(self, kind: str, impl: NodeImpl) -> None:
        """Run nodes of ``kind`` with ``impl`` (replacing a built-in one, if any).

        ``kind`` may be a Substrate node (``"GenerateImage"``; its arguments are still checked
        against the reference) or a name of your own (arguments unchecked).

        Args:
            kind: the node kind, as in the graph's ``"node"`` field.
            impl: an async generator function yielding deltas, or an async function returning the
                output; both are called with ``(args, context)``.
        """
        if not isinstance(kind, str) or not kind:
            raise TypeError(f"kind must be a non-empty string, got {kind!r}")
        if not callable(impl):
            raise TypeError(
                f"impl must be an async function or async generator function, got {impl!r}"
            )
        self._impls[kind] = impl

    def node(self, kind: str) -> Callable[[_Impl], _Impl]:
        """``register`` as a decorator: ``@engine.node("MyKind")``; returns the function as is."""

        def decorate(impl: _Impl) -> _Impl:
            self.register(kind, impl)
            return impl

        return decorate

    def prepare(self, dag: Any) -> Plan:
        """Validate a serialized graph (as ``Substrate.serialize`` makes it, decoded from JSON).

        The plan keeps the implementations registered now; later ``register`` calls do not
        change it.

        Raises:
            GraphInvalid: what is wrong, before anything has run (over ``limits`` included).
        """
        return build_plan(dag, dict(self._impls), self.limits)

    def execute(self, plan: Plan) -> AsyncGenerator[Event, None]:
        """Run a plan: ``NodeDelta``, ``NodeResult`` and ``NodeError`` events as they happen, then
        one ``GraphResult``.

        Independent nodes run concurrently, each in its own task on the running loop, up to
        ``limits.max_running_nodes`` at once. Closing the iterator (``aclose``) or cancelling its
        consumer cancels every node still running.
        """
        return run_plan(
            plan,
            chunk_delay=self._chunk_delay,
            max_running=self.limits.max_running_nodes,
            cache=self._cache,
        )
