"""The jinja2 environment ``sb.jinja`` templates render in, inside the sandbox process.

It is jinja's ``ImmutableSandboxedEnvironment`` (no ``_``-attributes, no unsafe callables, no
mutating ``list.append`` and the like, ``range`` capped, no loader: ``include``, ``import`` and
``extends`` find nothing), which also refuses ``*`` and ``**`` results that would be huge. The
sandbox process bounds everything else (time, memory, output size). ``_sandbox_worker`` loads this
file by path, so it imports nothing of rxsubstrate.
"""

from __future__ import annotations

import operator
from typing import Any, Final

import jinja2.exceptions
import jinja2.sandbox

__all__ = ["SANDBOX"]

_MAX_REPEAT: Final = 100_000  # longest string, list or tuple a template may build with *
_MAX_EXPONENT: Final = 1000


class _BoundedSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The immutable jinja sandbox, also refusing ``*`` and ``**`` results that would be huge."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > _MAX_EXPONENT:
                raise jinja2.exceptions.SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            too_long = isinstance(times, int) and len(seq) * times > _MAX_REPEAT
            if isinstance(seq, str | list | tuple) and too_long:
                raise jinja2.exceptions.SecurityError("the repeated value would be too long")
        return operator.mul(left, right)


SANDBOX: Final = _BoundedSandbox()
