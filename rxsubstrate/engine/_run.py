"""One run of a plan: node tasks started as their inputs are ready, events in a bounded mailbox.

Each node runs in its own asyncio task, started once everything it reads has been computed, so
independent nodes run concurrently, up to ``max_running`` tasks at once per run; the rest wait
their turn in graph order and start as running ones finish. Tasks put their deltas and their
outcome in one mailbox (bounded, so a slow consumer slows the nodes rather than growing a buffer);
the ``events`` generator, the only reader, turns outcomes into ``node.result``/``node.error``,
fails the nodes downstream of a failed node with ``dependency_error`` at once, and starts what
became ready. Readiness is tracked over the plan's graph of nodes and futures, each edge counted
once per run. The generator owns every task: when it ends, however it ends (``aclose``,
cancellation of its consumer), it cancels and awaits the tasks still running.

A node's options are honoured here: with ``cache_age`` its output may come from the engine's
``ResultCache`` (as a ``node.result`` with no deltas); with ``max_retries`` an implementation
that fails with an ``api_error`` before streaming any delta runs again.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final

import msgspec

from .._errors import InvalidNodeArgs
from .._events import ErrorData, Event, GraphResult, NodeDelta, NodeError, NodeResult
from .._output_builder import OutputBuilder
from .._quote import clip
from ._cache import ResultCache
from ._impl import NodeContext
from ._mailbox import Mailbox
from ._plan import Plan, PlannedNode, Schedule, args_problem
from ._resolve import Resolver
from ._sandbox import Sandbox
from ._trusted import WholeOutput, trust

__all__ = ["run_plan"]

_MAILBOX_SIZE: Final = 64
_WAITING, _STARTED, _DONE, _LOST = range(4)
_log = logging.getLogger("rxsubstrate.engine")


@dataclasses.dataclass(frozen=True, slots=True)
class _Outcome:
    node_id: str
    result: dict[str, Any] | ErrorData


@dataclasses.dataclass(slots=True)
class _Progress:
    """How far one attempt of a node got: once a delta is out, it cannot be retried."""

    streamed: bool = False


async def run_plan(
    plan: Plan, *, chunk_delay: float, max_running: int, cache: ResultCache, sandbox: Sandbox
) -> AsyncGenerator[list[Event], None]:
    """Run ``plan`` and yield its events as they happen, in the lists they became ready in (a
    consumer that handles many at once pays one hand-off per list); ``GraphResult`` comes last,
    alone.

    ``sandbox`` evaluates the run's jq and jinja directives.
    """
    run = _Run(plan, chunk_delay, max_running, cache, sandbox)
    try:
        run.launch()
        while run.running:
            events: list[Event] = []
            for message in await run.mailbox.take():
                if isinstance(message, NodeDelta):
                    events.append(message)
                else:
                    events += run.settle(message)
            yield events
        yield [run.graph_result()]
    finally:
        await run.cancel()


class _Waits:
    """What each vertex of a schedule still waits for, in one run."""

    def __init__(self, schedule: Schedule) -> None:
        self._readers = schedule.readers
        self._nodes = len(schedule.node_ids)
        self._left = list(schedule.needs)
        self._state = bytearray(len(self._left))

    def first(self) -> list[int]:
        """The nodes ready at the start (after the futures that read nothing), in graph order."""
        for vertex in range(self._nodes, len(self._left)):
            if self._left[vertex] == 0 and self._state[vertex] == _WAITING:
                self._state[vertex] = _DONE
                self._release(vertex, into=None)
        ready = [v for v in range(self._nodes) if self._left[v] == 0]
        for vertex in ready:
            self._state[vertex] = _STARTED
        return ready

    def succeeded(self, node: int) -> list[int]:
        """The nodes that ``node``'s success made ready."""
        self._state[node] = _DONE
        ready: list[int] = []
        self._release(node, into=ready)
        return ready

    def _release(self, vertex: int, into: list[int] | None) -> None:
        stack = [vertex]
        while stack:
            for reader in self._readers[stack.pop()]:
                self._left[reader] -= 1
                if self._left[reader] or self._state[reader] != _WAITING:
                    continue
                if reader >= self._nodes:
                    self._state[reader] = _DONE  # a future whose inputs are all computed
                    stack.append(reader)
                elif into is not None:
                    self._state[reader] = _STARTED
                    into.append(reader)

    def failed(self, node: int) -> list[tuple[int, int]]:
        """The nodes that can no longer run because ``node`` failed, each with the failed node
        it reads through (``node`` itself, or one of these), nearest first."""
        self._state[node] = _LOST
        lost: list[tuple[int, int]] = []
        frontier = collections.deque([(node, node)])
        while frontier:
            vertex, through = frontier.popleft()
            for reader in self._readers[vertex]:
                if self._state[reader] != _WAITING:
                    continue  # already lost through another input
                self._state[reader] = _LOST
                if reader < self._nodes:
                    lost.append((reader, through))
                    frontier.append((reader, reader))
                else:
                    frontier.append((reader, through))
        return lost


class _Run:
    def __init__(
        self,
        plan: Plan,
        chunk_delay: float,
        max_running: int,
        cache: ResultCache,
        sandbox: Sandbox,
    ) -> None:
        self.plan = plan
        self.mailbox: Mailbox[NodeDelta | _Outcome] = Mailbox(_MAILBOX_SIZE)
        self.running: dict[str, asyncio.Task[None]] = {}
        self._chunk_delay = chunk_delay
        self._max_running = max_running
        self._cache = cache
        self._ids = plan.schedule.node_ids
        self._vertex = {node_id: vertex for vertex, node_id in enumerate(self._ids)}
        self._waits = _Waits(plan.schedule)
        self._ready = collections.deque(self._waits.first())
        self._outputs: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, ErrorData] = {}
        self._resolver = Resolver(plan.futures, self._outputs, sandbox)

    def launch(self) -> None:
        """Start ready nodes, in graph order, while fewer than ``max_running`` run."""
        while self._ready and len(self.running) < self._max_running:
            node = self.plan.nodes[self._ids[self._ready.popleft()]]
            self.running[node.id] = asyncio.create_task(
                self._run_node(node), name=f"rxsubstrate node {clip(node.id)}"
            )

    def settle(self, outcome: _Outcome) -> list[Event]:
        """The events one finished node causes, after starting the nodes it made ready."""
        node_id, result = outcome.node_id, outcome.result
        del self.running[node_id]
        vertex = self._vertex[node_id]
        if isinstance(result, ErrorData):
            self._errors[node_id] = result
            events: list[Event] = [NodeError(node_id=node_id, data=result)]
            events += self._fail_downstream(vertex, result)
        else:
            self._outputs[node_id] = result
            self._ready.extend(self._waits.succeeded(vertex))
            events = [NodeResult(node_id=node_id, data=result)]
        self.launch()
        return events

    def _fail_downstream(self, vertex: int, error: ErrorData) -> list[Event]:
        root = self._ids[vertex]
        events: list[Event] = []
        for lost, through in self._waits.failed(vertex):
            via = self._ids[through]
            if via == root:
                message = f"dependency {clip(via)!r} failed: {error.message}"
            else:
                message = (
                    f"dependency {clip(via)!r} did not run because {clip(root)!r} failed:"
                    f" {error.message}"
                )
            failure = ErrorData(type="dependency_error", message=message)
            self._errors[self._ids[lost]] = failure
            events.append(NodeError(node_id=self._ids[lost], data=failure))
        return events

    def graph_result(self) -> GraphResult:
        shown: dict[str, Any] = {}
        for node in self.plan.nodes.values():
            if node.visible:
                error = self._errors.get(node.id)
                shown[node.id] = (
                    self._outputs.get(node.id) if error is None else msgspec.to_builtins(error)
                )
        return GraphResult(data={"data": shown})

    async def cancel(self) -> None:
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _run_node(self, node: PlannedNode) -> None:
        try:
            output = await self._compute(node)
        except InvalidNodeArgs as exc:
            outcome = _Outcome(node.id, ErrorData("invalid_request_error", exc.message))
        except Exception as exc:  # the user's implementation: any failure is the node's
            outcome = _Outcome(node.id, ErrorData("api_error", _message(exc), _status(exc)))
        else:
            outcome = _Outcome(node.id, output)
        self.mailbox.put_nowait(outcome)  # over the bound by one at most per node: never waits

    async def _compute(self, node: PlannedNode) -> dict[str, Any]:
        args: dict[str, Any] = await self._resolver.resolve(node.args)
        if node.schema is not None:
            problem = args_problem(args, node.schema, lambda _value: False)
            if problem is not None:
                raise InvalidNodeArgs(f"{problem} (once its futures were resolved)")
        options = node.options
        if not options.cache_age:
            return await self._attempts(node, args)
        key = ResultCache.key(node.impl, node.kind, args, options.cache_keys)
        cached = self._cache.get(key, options.cache_age)
        if cached is not None:
            return cached
        output = await self._attempts(node, args)
        self._cache.put(key, output)
        return output

    async def _attempts(self, node: PlannedNode, args: dict[str, Any]) -> dict[str, Any]:
        """The implementation's output, retried up to ``max_retries`` times while it fails with
        an ``api_error`` before streaming anything (a delta sent cannot be taken back)."""
        attempt = 0
        while True:
            progress = _Progress()
            try:
                return await self._call(node, args, progress)
            except InvalidNodeArgs:
                raise
            except Exception as exc:  # the user's implementation, as in _run_node
                if progress.streamed or attempt >= node.options.max_retries:
                    raise
                attempt += 1
                # Each attempt gets its own copy of the arguments, whatever the last one did.
                args = await self._resolver.resolve(node.args)
                _log.debug(
                    "%s: attempt %d of %d failed, retrying: %s",
                    clip(node.id),
                    attempt,
                    node.options.max_retries + 1,
                    clip(_message(exc)),
                )

    async def _call(
        self, node: PlannedNode, args: dict[str, Any], progress: _Progress
    ) -> dict[str, Any]:
        result = node.impl(args, NodeContext(node_id=node.id, kind=node.kind))
        if isinstance(result, AsyncIterator):
            return await self._stream(node, result, progress)
        if inspect.isawaitable(result):
            return msgspec.json.decode(_encode(await result, node, "its output"))  # type: ignore[no-any-return]
        raise TypeError(
            f"the implementation of {node.kind} returned {type(result).__name__}; it must be an"
            " async generator function (streaming) or an async function (whole result)"
        )

    async def _stream(
        self, node: PlannedNode, deltas: AsyncIterator[Any], progress: _Progress
    ) -> dict[str, Any]:
        output = OutputBuilder()
        whole: WholeOutput | None = None
        trusted = trust(node.impl)
        mailbox = self.mailbox
        try:
            async for delta in deltas:
                if trusted is None:
                    # A JSON round trip checks a user's delta and detaches it from the
                    # implementation's objects; the builder copies what it keeps, so the event
                    # may share the data.
                    data = msgspec.json.decode(_encode(delta, node, "a delta"))
                    output.apply(data)
                elif type(delta) is WholeOutput:
                    whole = delta
                    continue
                else:
                    data = delta
                    if trusted == "deltas":
                        output.apply(data)
                progress.streamed = True
                event = NodeDelta(node_id=node.id, data=data)
                # With no delay asked for, the node goes on until the mailbox is full: other
                # tasks get the loop every _MAILBOX_SIZE deltas at the most, instead of a loop
                # turn per delta (which cost the engine a third of its speed, two thirds at 200
                # runs).
                if mailbox.has_room():
                    mailbox.put_nowait(event)
                else:
                    await mailbox.put(event)
                if self._chunk_delay:
                    await asyncio.sleep(self._chunk_delay)
        finally:
            close = getattr(deltas, "aclose", None)
            if close is not None:
                await close()
        if trusted == "whole":
            if whole is None:
                raise TypeError(f"the built-in {node.kind} ended without its whole output")
            return whole.value
        return output.value()


def _encode(value: Any, node: PlannedNode, what: str) -> bytes:
    if not isinstance(value, dict):
        raise TypeError(
            f"the implementation of {node.kind} gave {type(value).__name__} as {what},"
            " expected a dict"
        )
    try:
        return msgspec.json.encode(value)
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(
            f"the implementation of {node.kind} gave {what} that is not JSON: {exc}"
        ) from None


def _status(exc: Exception) -> int | None:
    """The HTTP status an exception carries (an upstream's error), if it carries one."""
    for name in ("status", "status_code"):
        value = getattr(exc, name, None)
        if type(value) is int:
            return value
    return None


def _message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
