"""Computing futures at run time, from the outputs of the nodes that already finished.

* ``trace``: a path into a node's output, ``.attr`` and ``[item]`` steps (a key may itself be a
  future); a list index may be negative, as in Python.
* ``string-concat``: the items joined; a non-string value is joined as JSON, ``None`` as ``""``.
* ``format``: Python ``str.format`` with the variables (item access only: no attribute access).
* ``jinja``: a jinja2 template rendered in jinja's immutable sandbox.
* ``jq``: a jq query; one output gives that value, none gives ``None``, several give their list.

jq and jinja run in the engine's sandbox processes (``_sandbox``), awaited without blocking the
loop; trace, string-concat and format are cheap and run here, bounded as they build. Every value
is on the budget of ``DirectiveLimits``: a future's value at most ``value_size`` bytes, the future
values substituted into one node's arguments at most ``args_size``, both counted before anything
is built or copied.

Any failure (a missing attribute, an index out of range, a template error, a budget overrun) is an
``InvalidNodeArgs`` naming the future, which the executor reports on the consuming node.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]  # string.Formatter's own field-name splitter
import asyncio
import dataclasses
import importlib.util
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import msgspec

from .._errors import GraphInvalid, InvalidNodeArgs
from .._quote import clip, describe
from ._budget import Budget, OverBudget
from ._dag import (
    Concat,
    Directive,
    Format,
    Jinja,
    Jq,
    Source,
    Trace,
    directive_futures,
    placeholder_id,
    placeholders,
)
from ._sandbox import Sandbox
from ._sandbox_worker import Op, Reply

__all__ = ["Resolver", "check_literals", "check_literals_async", "directive_name"]

_EXTRA_HINT: Final = "pip install 'rxsubstrate[engine]'"
_MAX_FORMAT_PARTS: Final = 10_000  # replacement fields and literal runs of one format string
_HUGE_SPEC: Final = re.compile(r"\d{6,}")


@dataclasses.dataclass(slots=True)
class _Value:
    value: Any
    size: int | None = None  # bytes of JSON, measured when first needed


class Resolver:
    """Resolves the futures of one run; each future is computed once, failures included.

    Args:
        futures: every future's directive, by id.
        outputs: the outputs of finished nodes, by node id (read when a trace is resolved).
        sandbox: evaluates jq and jinja; its ``limits`` are the size budgets.
    """

    def __init__(
        self,
        futures: Mapping[str, Directive],
        outputs: Mapping[str, dict[str, Any]],
        sandbox: Sandbox,
    ) -> None:
        self._futures = futures
        self._outputs = outputs
        self._sandbox = sandbox
        self._limits = sandbox.limits
        self._settled: dict[str, _Value | InvalidNodeArgs] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._turn = asyncio.Lock()

    async def resolve(self, args: Any) -> Any:
        """A node's ``args`` with every placeholder replaced by a copy of its future's value.

        Raises:
            InvalidNodeArgs: a future could not be computed, or the arguments would be over
                ``args_size``.
        """
        for future_id in dict.fromkeys(placeholders(args)):
            await self.future(future_id)
        try:
            return self._substitute(args, _sizes("argument substitution", self._limits.args_size))
        except RecursionError:
            raise InvalidNodeArgs("the arguments nest too deeply") from None

    async def future(self, future_id: str) -> Any:
        """The value of one future, computing it (and what it reads, first) if need be."""
        for pending in self._unsettled(future_id):
            await self._settle(pending)
        return self._known(future_id).value

    def _unsettled(self, future_id: str) -> Iterator[str]:
        """The futures ``future_id`` needs that are not computed yet, itself last, each after
        what it reads (a walk without recursion: a long chain of futures is no deep stack)."""
        if future_id in self._settled:
            return
        done: set[str] = set()
        on_path = {future_id}
        stack = [(future_id, self._reads(future_id))]
        while stack:
            current, reads = stack[-1]
            step = next(reads, None)
            if step is None:
                stack.pop()
                on_path.discard(current)
                done.add(current)
                yield current
            elif step in on_path:
                raise InvalidNodeArgs(f"future {clip(step)} reads itself through other futures")
            elif step not in done and step not in self._settled:
                on_path.add(step)
                stack.append((step, self._reads(step)))

    def _reads(self, future_id: str) -> Iterator[str]:
        directive = self._futures.get(future_id)
        if directive is None:
            raise InvalidNodeArgs(f"an argument refers to a missing future {clip(future_id)}")
        yield from directive_futures(directive)

    async def _settle(self, future_id: str) -> None:
        lock = self._locks.setdefault(future_id, asyncio.Lock())
        async with lock:
            if future_id in self._settled:
                return
            directive = self._futures[future_id]
            try:
                self._settled[future_id] = _Value(await self._compute(directive))
            except (_Failed, OverBudget) as exc:
                name = directive_name(directive)
                self._settled[future_id] = InvalidNodeArgs(
                    f"future {clip(future_id)} ({name}): {exc}"
                )
            except InvalidNodeArgs as exc:  # a future it reads failed: the same message
                self._settled[future_id] = exc
            except RecursionError:
                self._settled[future_id] = InvalidNodeArgs(
                    f"future {clip(future_id)}: its arguments nest too deeply"
                )

    def _known(self, future_id: str) -> _Value:
        """A settled future's value; a failed one raises its failure again."""
        outcome = self._settled.get(future_id)
        if outcome is None:
            raise InvalidNodeArgs(f"future {clip(future_id)} is read before it is computed")
        if isinstance(outcome, InvalidNodeArgs):
            raise InvalidNodeArgs(outcome.message)
        return outcome

    async def _compute(self, directive: Directive) -> Any:
        limits = self._limits
        match directive:
            case Trace():
                return self._trace(directive)
            case Concat(items=items):
                return self._concat(items)
            case Format(f_string=f_string, variables=variables):
                fields = self._substitute(
                    variables, _sizes("variable substitution", limits.args_size)
                )
                text = self._text(f_string, "f_string")
                budget = _sizes("the result", limits.value_size)
                try:
                    return _BoundedFormatter(budget).vformat(text, (), fields)
                except OverBudget:
                    raise
                except KeyError as exc:  # a field naming what its variables lack
                    raise _Failed(
                        f"no value for {describe(exc.args[0] if exc.args else None)}"
                    ) from None
                except (IndexError, ValueError, TypeError) as exc:
                    raise _Failed(f"{type(exc).__name__}: {clip(str(exc), 200)}") from None
            case Jinja(template=template, variables=variables):
                fields = self._substitute(
                    variables, _sizes("variable substitution", limits.args_size)
                )
                text = self._text(template, "template")
                return await self._evaluate("jinja", text, fields)
            case Jq(target=target, query=query):
                value = self._source(target, _sizes("its target", limits.args_size))
                outputs = await self._evaluate("jq", query, value)
                return None if not outputs else outputs[0] if len(outputs) == 1 else outputs

    async def _evaluate(self, op: Op, text: str, value: Any) -> Any:
        # One sandbox process at a time per run: a run full of runaways leaves the others free.
        async with self._turn:
            task = self._sandbox.submit(op, text, value, self._limits.value_size)
            return _value(await task.wait())

    def _concat(self, items: list[Source]) -> str:
        budget = _sizes("the result", self._limits.value_size)
        parts = []
        for item in items:
            if item.future_id is not None:
                known = self._known(item.future_id)
                value = known.value
                if not isinstance(value, str):
                    budget.produce(self._size(known))  # before encoding it
            else:
                value = item.val  # literal text: the plan refuses a future inside it
            text = _as_text(value)
            budget.produce(len(text))
            parts.append(text)
        return "".join(parts)

    def _substitute(self, value: Any, budget: Budget) -> Any:
        """``value`` with its placeholders replaced by copies of settled futures' values, each
        counted on ``budget`` before it is copied."""
        future_id = placeholder_id(value)
        if future_id is not None:
            known = self._known(future_id)
            budget.produce(self._size(known))
            return _copy(known.value)
        if type(value) is dict:
            return {key: self._substitute(item, budget) for key, item in value.items()}
        if type(value) is list:
            return [self._substitute(item, budget) for item in value]
        return value

    def _source(self, source: Source, budget: Budget) -> Any:
        if source.future_id is not None:
            known = self._known(source.future_id)
            budget.produce(self._size(known))
            return known.value
        return self._substitute(source.val, budget)

    def _text(self, source: Source, what: str) -> str:
        value = self._source(source, _sizes(f"its {what}", self._limits.value_size))
        if not isinstance(value, str):
            raise _Failed(f"its {what} must be a string, got {describe(value)}")
        return value

    def _size(self, known: _Value) -> int:
        if known.size is None:
            value = known.value
            known.size = len(value) + 2 if isinstance(value, str) else _json_size(value)
        return known.size

    def _trace(self, trace: Trace) -> Any:
        if trace.origin_node_id not in self._outputs:
            raise _Failed(f"node {clip(trace.origin_node_id)!r} has not run yet")
        value: Any = self._outputs[trace.origin_node_id]
        path = trace.origin_node_id
        for op in trace.op_stack:
            key = self._known(op.future_id).value if op.future_id is not None else op.key
            if op.accessor == "attr":
                if not isinstance(value, dict) or not isinstance(key, str) or key not in value:
                    raise _Failed(
                        f"{clip(path)} has no attribute {describe(key)} ({_shape(value)})"
                    )
                value, path = value[key], f"{path}.{key}"
            elif isinstance(value, list) and isinstance(key, int) and not isinstance(key, bool):
                if not -len(value) <= key < len(value):
                    raise _Failed(f"index {key} is out of range for {clip(path)} ({_shape(value)})")
                value, path = value[key], f"{path}[{key}]"
            elif isinstance(value, dict) and isinstance(key, str) and key in value:
                value, path = value[key], f"{path}[{key!r}]"
            else:
                raise _Failed(f"{clip(path)} has no item {describe(key)} ({_shape(value)})")
        return value


def check_literals(futures: Mapping[str, Directive], sandbox: Sandbox) -> None:
    """Compile every literal jq query, jinja template and format string, blocking this thread
    (jq and jinja compile in the sandbox, one at a time).

    Raises:
        GraphInvalid: one does not compile, goes over budget compiling, or needs a package of
            the ``engine`` extra that is not installed.
    """
    for future_id, directive, compile_task in _compile_tasks(futures):
        _check_reply(future_id, directive, sandbox.submit(*compile_task).result())


async def check_literals_async(futures: Mapping[str, Directive], sandbox: Sandbox) -> None:
    """``check_literals`` awaited on the running loop, which it never blocks (cancelling it
    stops the compile under way)."""
    for future_id, directive, compile_task in _compile_tasks(futures):
        _check_reply(future_id, directive, await sandbox.submit(*compile_task).wait())


def directive_name(directive: Directive) -> str:
    """The directive's wire name, e.g. ``string-concat``."""
    return str(type(directive).__struct_config__.tag)


def _compile_tasks(
    futures: Mapping[str, Directive],
) -> Iterator[tuple[str, Directive, tuple[Op, str]]]:
    """Check format strings here; yield the sandbox task compiling each distinct jq query and
    jinja template once (the first future that has it names it)."""
    seen: set[tuple[Op, str]] = set()
    for future_id, directive in futures.items():
        try:
            compile_task = _literal_task(directive)
        except (ValueError, OverBudget) as exc:
            raise _not_compiling(future_id, directive, str(exc)) from None
        except _MissingExtra as exc:
            raise GraphInvalid(f"future {clip(future_id)}: {exc}") from None
        if compile_task is not None and compile_task not in seen:
            seen.add(compile_task)
            yield future_id, directive, compile_task


def _literal_task(directive: Directive) -> tuple[Op, str] | None:
    """The sandbox task that compiles ``directive``'s literal query or template, if any; a
    literal format string is checked here.

    Raises:
        _MissingExtra: the directive needs a package that is not installed.
        ValueError, OverBudget: it does not compile.
    """
    match directive:
        case Jq(query=query):
            _require("jq", "the jq directive needs the jq package")
            return ("jq-compile", query)
        case Jinja(template=template):
            _require("jinja2", "the jinja directive needs the jinja2 package")
            if template.future_id is not None:
                return None
            if not isinstance(template.val, str):
                raise ValueError(f"its template must be a string, got {describe(template.val)}")
            return ("jinja-compile", template.val)
        case Format(f_string=Source(future_id=None, val=f_string)):
            if not isinstance(f_string, str):
                raise ValueError(f"its f_string must be a string, got {describe(f_string)}")
            formatter = _BoundedFormatter(_sizes("the format string", len(f_string)))
            for _literal, field_name, _spec, _conversion in formatter.parse(f_string):
                if field_name:
                    _field_keys(field_name)
    return None


def _check_reply(future_id: str, directive: Directive, reply: Reply) -> None:
    if reply.status != "ok":
        raise _not_compiling(future_id, directive, str(reply.value))


def _not_compiling(future_id: str, directive: Directive, why: str) -> GraphInvalid:
    name = directive_name(directive)
    return GraphInvalid(
        f"future {clip(future_id)}: the {name} directive does not compile: {clip(why, 300)}"
    )


class _MissingExtra(Exception):
    """A directive needs a package of the ``engine`` extra that is not installed."""


def _require(module: str, message: str) -> None:
    """Check here that the sandbox will be able to import ``module`` (without importing it)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise _MissingExtra(f"{message}: {_EXTRA_HINT}")


def _sizes(what: str, size: int) -> Budget:
    """A budget of ``size`` characters of output (and no work steps: sizes only)."""
    return Budget(what, steps=0, size=size)


class _Failed(Exception):
    """A directive could not be computed; the message says why."""


def _value(reply: Reply) -> Any:
    if reply.status != "ok":
        raise _Failed(reply.value)
    return reply.value


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(clip(key) for key in list(value)[:10])
        return f"an object with keys: {keys}" if keys else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return f"the value {describe(value)}"


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()


def _json_size(value: Any) -> int:
    return len(msgspec.json.encode(value))


def _copy(value: Any) -> Any:
    """A deep copy, so a node cannot change another node's output by changing its arguments."""
    if type(value) in (dict, list):
        return msgspec.json.decode(msgspec.json.encode(value))
    return value


def _field_keys(field_name: str) -> list[Any]:
    """The item keys of a replacement field (``x[a][0]`` -> ``[a, 0]``).

    Raises:
        ValueError: the field uses attribute access (``{x.__class__}``).
    """
    _first, rest = _string.formatter_field_name_split(field_name)
    keys = []
    for is_attribute, key in rest:
        if is_attribute:
            raise ValueError(f"attribute access in {{{field_name}}} is not allowed; use [key]")
        keys.append(key)
    return keys


class _BoundedFormatter(string.Formatter):
    """``str.format`` without attribute access, without huge widths, and with its output (and
    its number of parts) on a budget, counted as it is built."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._parts = 0

    def parse(self, format_string: str) -> Iterator[tuple[str, str | None, str | None, str | None]]:
        for part in super().parse(format_string):
            self._parts += 1
            if self._parts > _MAX_FORMAT_PARTS:
                raise OverBudget(
                    f"the format string is over budget: more than {_MAX_FORMAT_PARTS:,} fields"
                    " and literal runs"
                )
            self._budget.produce(len(part[0]))
            yield part

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        first, _rest = _string.formatter_field_name_split(field_name)
        value = self.get_value(first, args, kwargs)
        for key in _field_keys(field_name):
            value = value[key]
        return value, first

    def format_field(self, value: Any, format_spec: str) -> Any:
        if _HUGE_SPEC.search(format_spec):
            raise ValueError(f"format spec {format_spec!r} is too large")
        text = super().format_field(value, format_spec)
        self._budget.produce(len(text))
        return text
