"""One run of a plan: node tasks started as their dependencies finish, events in a bounded queue.

Each node runs in its own asyncio task, started the moment every node it depends on has
succeeded, so independent nodes run concurrently. Tasks put their deltas and their outcome on one
queue (bounded, so a slow consumer slows the nodes rather than growing a buffer); the ``events``
generator, the only reader, turns outcomes into ``node.result``/``node.error``, fails the dependents
of a failed node with ``dependency_error`` at once, and starts what became ready. The generator owns
every task: when it ends, however it ends (``aclose``, cancellation of its consumer), it cancels
and awaits the tasks still running.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Final

import msgspec

from .._events import ErrorData, Event, GraphResult, NodeDelta, NodeError, NodeResult
from .._output_builder import OutputBuilder
from ._errors import InvalidNodeArgs
from ._impl import NodeContext
from ._plan import Plan, PlannedNode, args_problem
from ._resolve import Resolver

__all__ = ["run_plan"]

_QUEUE_SIZE: Final = 64


@dataclasses.dataclass(frozen=True, slots=True)
class _Outcome:
    node_id: str
    result: dict[str, Any] | ErrorData


async def run_plan(plan: Plan, *, chunk_delay: float) -> AsyncGenerator[Event, None]:
    """Run ``plan`` and yield its events as they happen; ``GraphResult`` comes last."""
    run = _Run(plan, chunk_delay)
    try:
        run.start_ready(tuple(plan.nodes))
        while run.running:
            message = await run.queue.get()
            if isinstance(message, NodeDelta):
                yield message
            else:
                for event in run.settle(message):
                    yield event
        yield run.graph_result()
    finally:
        await run.cancel()


class _Run:
    def __init__(self, plan: Plan, chunk_delay: float) -> None:
        self.plan = plan
        self.queue: asyncio.Queue[NodeDelta | _Outcome] = asyncio.Queue(_QUEUE_SIZE)
        self.running: dict[str, asyncio.Task[None]] = {}
        self._chunk_delay = chunk_delay
        self._waiting = {node.id: set(node.depends_on) for node in plan.nodes.values()}
        self._outputs: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, ErrorData] = {}
        self._root_cause: dict[str, str] = {}
        self._resolver = Resolver(plan.futures, self._outputs)

    def start_ready(self, candidates: tuple[str, ...]) -> None:
        """Start every candidate whose dependencies all succeeded."""
        for node_id in candidates:
            if node_id in self._waiting and not self._waiting[node_id]:
                del self._waiting[node_id]
                node = self.plan.nodes[node_id]
                self.running[node_id] = asyncio.create_task(
                    self._run_node(node), name=f"rxsubstrate node {node_id}"
                )

    def settle(self, outcome: _Outcome) -> list[Event]:
        """The events one finished node causes, after starting the nodes it made ready."""
        node_id, result = outcome.node_id, outcome.result
        del self.running[node_id]
        if isinstance(result, ErrorData):
            return [
                NodeError(node_id=node_id, data=result),
                *self._fail_dependents(node_id, result),
            ]
        self._outputs[node_id] = result
        dependents = self.plan.dependents[node_id]
        for dependent in dependents:
            # A dependent that already failed through another dependency is no longer waiting.
            if dependent in self._waiting:
                self._waiting[dependent].discard(node_id)
        self.start_ready(dependents)
        return [NodeResult(node_id=node_id, data=result)]

    def _fail_dependents(self, node_id: str, error: ErrorData) -> list[Event]:
        self._errors[node_id] = error
        self._root_cause[node_id] = node_id
        events: list[Event] = []
        frontier = [node_id]
        while frontier:
            failed = frontier.pop(0)
            root = self._root_cause[failed]
            for dependent in self.plan.dependents[failed]:
                if dependent not in self._waiting:
                    continue  # already failed through another dependency
                del self._waiting[dependent]
                reason = self._errors[root].message
                if failed == root:
                    message = f"dependency {failed!r} failed: {reason}"
                else:
                    message = f"dependency {failed!r} did not run because {root!r} failed: {reason}"
                error = ErrorData(type="dependency_error", message=message)
                self._errors[dependent] = error
                self._root_cause[dependent] = root
                events.append(NodeError(node_id=dependent, data=error))
                frontier.append(dependent)
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
        await self.queue.put(outcome)

    async def _compute(self, node: PlannedNode) -> dict[str, Any]:
        args: dict[str, Any] = self._resolver.resolve(node.args)
        if node.schema is not None:
            problem = args_problem(args, node.schema, lambda _value: False)
            if problem is not None:
                raise InvalidNodeArgs(f"{problem} (once its futures were resolved)")
        result = node.impl(args, NodeContext(node_id=node.id, kind=node.kind))
        if isinstance(result, AsyncIterator):
            return await self._stream(node, result)
        if inspect.isawaitable(result):
            return msgspec.json.decode(_encode(await result, node, "its output"))  # type: ignore[no-any-return]
        raise TypeError(
            f"the implementation of {node.kind} returned {type(result).__name__}; it must be an"
            " async generator function (streaming) or an async function (whole result)"
        )

    async def _stream(self, node: PlannedNode, deltas: AsyncIterator[Any]) -> dict[str, Any]:
        output = OutputBuilder()
        try:
            async for delta in deltas:
                # A JSON round trip checks the delta and detaches it from the implementation's
                # objects; the builder copies what it keeps, so the event may share the data.
                data = msgspec.json.decode(_encode(delta, node, "a delta"))
                output.apply(data)
                await self.queue.put(NodeDelta(node_id=node.id, data=data))
                await asyncio.sleep(self._chunk_delay)
        finally:
            close = getattr(deltas, "aclose", None)
            if close is not None:
                await close()
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
