"""Computing futures at run time, from the outputs of the nodes that already finished.

* ``trace``: a path into a node's output, ``.attr`` and ``[item]`` steps (a key may itself be a
  future); a list index may be negative, as in Python.
* ``string-concat``: the items joined; a non-string value is joined as JSON, ``None`` as ``""``.
* ``format``: Python ``str.format`` with the variables (item access only: no attribute access).
* ``jinja``: a jinja2 template rendered in a sandbox.
* ``jq``: a jq query; one output gives that value, none gives ``None``, several give their list.

Any failure (a missing attribute, an index out of range, a template error) is an
``InvalidNodeArgs`` naming the future, which the executor reports on the consuming node.
"""

from __future__ import annotations

import importlib
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import msgspec

from ._dag import Concat, Directive, Format, Jinja, Jq, Source, Trace, placeholder_id
from ._errors import InvalidNodeArgs
from ._messages import clip, describe

__all__ = ["MissingExtra", "Resolver", "check_literals", "directive_name"]

_EXTRA_HINT: Final = "pip install 'rxsubstrate[engine]'"


class MissingExtra(ValueError):
    """A directive needs a package of the ``engine`` extra that is not installed."""


def _jq() -> Any:
    """The jq package, imported on first use: only graphs with ``sb.jq`` need it."""
    try:
        import jq
    except ImportError:
        raise MissingExtra(f"the jq directive needs the jq package: {_EXTRA_HINT}") from None
    return jq


def _jinja() -> Any:
    """The jinja sandbox module, imported on first use: only ``sb.jinja`` needs jinja2."""
    try:
        module = importlib.import_module(f"{__package__}._jinja")
    except ImportError:
        raise MissingExtra(f"the jinja directive needs the jinja2 package: {_EXTRA_HINT}") from None
    return module


class Resolver:
    """Resolves the futures of one run; each future is computed once.

    Args:
        futures: every future's directive, by id.
        outputs: the outputs of finished nodes, by node id (read when a trace is resolved).
    """

    def __init__(self, futures: Mapping[str, Directive], outputs: Mapping[str, dict[str, Any]]):
        self._futures = futures
        self._outputs = outputs
        self._values: dict[str, Any] = {}

    def resolve(self, value: Any) -> Any:
        """``value`` with every placeholder replaced by a copy of its future's value.

        Raises:
            InvalidNodeArgs: a future could not be computed.
        """
        future_id = placeholder_id(value)
        if future_id is not None:
            return _copy(self.future(future_id))
        if type(value) is dict:
            return {key: self.resolve(item) for key, item in value.items()}
        if type(value) is list:
            return [self.resolve(item) for item in value]
        return value

    def future(self, future_id: str) -> Any:
        """The value of one future (computed on first use)."""
        if future_id not in self._values:
            directive = self._futures[future_id]
            try:
                self._values[future_id] = self._compute(directive)
            except _Failed as exc:
                raise InvalidNodeArgs(
                    f"future {clip(future_id)} ({directive_name(directive)}): {exc}"
                ) from None
            except RecursionError:
                raise InvalidNodeArgs(
                    f"future {clip(future_id)}: futures nest too deeply"
                ) from None
        return self._values[future_id]

    def _compute(self, directive: Directive) -> Any:
        match directive:
            case Trace():
                return self._trace(directive)
            case Concat(items=items):
                return "".join(_as_text(self._source(item)) for item in items)
            case Format(f_string=f_string, variables=variables):
                fields = self.resolve(variables)
                return _fail_on(
                    (KeyError, IndexError, ValueError, TypeError),
                    lambda: _FORMATTER.vformat(self._text(f_string, "f_string"), (), fields),
                )
            case Jinja(template=template, variables=variables):
                fields = self.resolve(variables)
                jinja = _jinja()
                return _fail_on(
                    (jinja.TemplateError, ValueError, TypeError, OverflowError),
                    lambda: jinja.SANDBOX.from_string(self._text(template, "template")).render(
                        fields
                    ),
                )
            case Jq(target=target, query=query):
                value = self._source(target)
                jq = _jq()
                outputs = _fail_on(
                    (ValueError,), lambda: jq.compile(query).input_value(value).all()
                )
                return None if not outputs else outputs[0] if len(outputs) == 1 else outputs

    def _source(self, source: Source) -> Any:
        if source.future_id is not None:
            return self.future(source.future_id)
        return self.resolve(source.val)

    def _text(self, source: Source, what: str) -> str:
        value = self._source(source)
        if not isinstance(value, str):
            raise _Failed(f"its {what} must be a string, got {describe(value)}")
        return value

    def _trace(self, trace: Trace) -> Any:
        value: Any = self._outputs[trace.origin_node_id]
        path = trace.origin_node_id
        for op in trace.op_stack:
            key = self.future(op.future_id) if op.future_id is not None else op.key
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


def check_literals(directive: Directive) -> None:
    """Compile the jq query, and a literal jinja template or format string, of a directive.

    Raises:
        MissingExtra: the directive needs a package that is not installed.
        ValueError: it does not compile (the message says where).
    """
    match directive:
        case Jq(query=query):
            _jq().compile(query)
        case Jinja(template=template):
            jinja = _jinja()
            if template.future_id is not None:
                return
            if not isinstance(template.val, str):
                raise ValueError(f"its template must be a string, got {describe(template.val)}")
            try:
                jinja.SANDBOX.parse(template.val)
            except jinja.TemplateSyntaxError as exc:
                raise ValueError(str(exc)) from None
        case Format(f_string=Source(future_id=None, val=f_string)):
            if not isinstance(f_string, str):
                raise ValueError(f"its f_string must be a string, got {describe(f_string)}")
            list(_FORMATTER.parse(f_string))


def directive_name(directive: Directive) -> str:
    """The directive's wire name, e.g. ``string-concat``."""
    return str(type(directive).__struct_config__.tag)


class _Failed(Exception):
    """A directive could not be computed; the message says why."""


def _fail_on(errors: tuple[type[BaseException], ...], compute: Callable[[], Any]) -> Any:
    try:
        return compute()
    except errors as exc:
        if isinstance(exc, KeyError):  # a format field naming what its variables lack
            raise _Failed(f"no value for {describe(exc.args[0] if exc.args else None)}") from None
        raise _Failed(f"{type(exc).__name__}: {clip(str(exc), 200)}") from None


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


def _copy(value: Any) -> Any:
    """A deep copy, so a node cannot change another node's output by changing its arguments."""
    if type(value) in (dict, list):
        return msgspec.json.decode(msgspec.json.encode(value))
    return value


class _ItemOnlyFormatter(string.Formatter):
    """``str.format`` without attribute access (``{x.__class__}``) and without huge widths."""

    _ATTRIBUTE = re.compile(r"\.(?![^\[]*\])")
    _HUGE = re.compile(r"\d{6,}")

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if self._ATTRIBUTE.search(field_name):
            raise ValueError(f"attribute access in {{{field_name}}} is not allowed; use [key]")
        return super().get_field(field_name, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> Any:
        if self._HUGE.search(format_spec):
            raise ValueError(f"format spec {format_spec!r} is too large")
        return super().format_field(value, format_spec)


_FORMATTER: Final = _ItemOnlyFormatter()
