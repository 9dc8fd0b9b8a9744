"""``Engine``: the registry of node implementations, and the two steps of a run.

``prepare`` (or ``prepare_async``, on an event loop) validates a serialized graph into a ``Plan``
(raising ``GraphInvalid`` before anything runs); ``execute`` runs a plan and yields its events. The
server maps the first to HTTP 400 and writes the second as Server-Sent Events. ``close`` (or
``aclose``) stops the sandbox processes that evaluate jq and jinja directives.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

from .._events import Event
from ._builtins import builtin_impls
from ._cache import ResultCache
from ._impl import NodeImpl
from ._limits import DirectiveLimits, EngineLimits
from ._plan import Plan, build_plan
from ._resolve import check_literals, check_literals_async
from ._run import run_plan
from ._sandbox import Sandbox
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
        directive_limits: the budget of every jq, jinja, format and string-concat directive
            (time, memory, sizes); see ``DirectiveLimits`` for the defaults.

    jq queries and jinja templates are compiled and evaluated in a small pool of sandbox
    processes, started by the first graph that has one. ``close()`` (or ``await aclose()``)
    stops them; an engine that is never closed stops them when it is garbage collected or at
    exit, and a closed engine starts them again if it is used again.

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
        limits: EngineLimits | None = None,
        directive_limits: DirectiveLimits | None = None,
    ) -> None:
        if chunk_delay < 0:
            raise ValueError(f"chunk_delay must be >= 0, got {chunk_delay}")
        self._chunk_delay = chunk_delay
        self.limits = EngineLimits() if limits is None else limits
        self._impls: dict[str, NodeImpl] = builtin_impls(text_generator, self.limits)
        self._cache = ResultCache(entries=self.limits.cache_entries, size=self.limits.cache_bytes)
        self._sandbox = Sandbox(directive_limits or DirectiveLimits())
        self._closers: list[Callable[[], Awaitable[None]]] = []

    @property
    def directive_limits(self) -> DirectiveLimits:
        """The budget of every directive this engine evaluates."""
        return self._sandbox.limits

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

        Literal jq queries and jinja templates are compiled in the sandbox while this thread
        waits (at most ``directive_limits.timeout`` each, once a sandbox process is free); on an
        event loop, use ``prepare_async``. The plan keeps the implementations registered now;
        later ``register`` calls do not change it.

        Raises:
            GraphInvalid: what is wrong, before anything has run (over ``limits`` included).
        """
        plan = build_plan(dag, dict(self._impls), self.limits)
        check_literals(plan.futures, self._sandbox)
        return plan

    async def prepare_async(self, dag: Any) -> Plan:
        """``prepare`` for code on an event loop: the directives compile in the sandbox while
        the loop goes on serving (cancelling it stops them).

        Raises:
            GraphInvalid: what is wrong, before anything has run (over ``limits`` included).
        """
        plan = build_plan(dag, dict(self._impls), self.limits)
        await check_literals_async(plan.futures, self._sandbox)
        return plan

    def execute(self, plan: Plan) -> AsyncGenerator[Event, None]:
        """Run a plan: ``NodeDelta``, ``NodeResult`` and ``NodeError`` events as they happen, then
        one ``GraphResult``.

        Independent nodes run concurrently, each in its own task on the running loop, up to
        ``limits.max_running_nodes`` at once. Closing the iterator (``aclose``) or cancelling its
        consumer cancels every node still running.
        """
        return _flatten(self.execute_batches(plan))

    def execute_batches(self, plan: Plan) -> AsyncGenerator[list[Event], None]:
        """``execute``'s events in the lists they became ready in, for a consumer that handles
        many at once (the server encodes each list into its write buffer in one go)."""
        return run_plan(
            plan,
            chunk_delay=self._chunk_delay,
            max_running=self.limits.max_running_nodes,
            cache=self._cache,
            sandbox=self._sandbox,
        )

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Have ``aclose()`` await ``closer``: for node implementations that hold resources
        (an HTTP session) which must be released on the loop that serves the engine."""
        self._closers.append(closer)

    def close(self) -> None:
        """Stop the sandbox processes (blocking until they are gone; idempotent).

        Directives still evaluating fail with ``api_error``; the engine stays usable.
        """
        self._sandbox.close()

    async def aclose(self) -> None:
        """``close`` without blocking the running loop, and the ``on_close`` closers.

        At interpreter exit, when no thread can be started any more, it closes in place.
        """
        for closer in self._closers:
            await closer()
        if not self._sandbox.started:
            return
        try:
            await asyncio.to_thread(self.close)
        except RuntimeError:  # the default executor is shut down: the interpreter is exiting
            self.close()


async def _flatten(batches: AsyncGenerator[list[Event], None]) -> AsyncGenerator[Event, None]:
    try:
        async for batch in batches:
            for event in batch:
                yield event
    finally:
        await batches.aclose()  # cancels the run's node tasks
