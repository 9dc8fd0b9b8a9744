"""The jinja2 sandbox for ``sb.jinja`` directives (imported only when a graph uses one)."""

from __future__ import annotations

import operator
from typing import Any, Final

import jinja2.exceptions
import jinja2.sandbox
from jinja2 import TemplateError, TemplateSyntaxError

__all__ = ["SANDBOX", "TemplateError", "TemplateSyntaxError"]

_MAX_REPEAT: Final = 100_000  # longest string or list a template may build with * or **


class _BoundedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """The jinja sandbox, also refusing ``*`` and ``**`` results that would be huge."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 1000:
                raise jinja2.exceptions.SecurityError("exponent too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            too_long = isinstance(times, int) and len(seq) * times > _MAX_REPEAT
            if isinstance(seq, str | list) and too_long:
                raise jinja2.exceptions.SecurityError("the repeated value would be too long")
        return operator.mul(left, right)


SANDBOX: Final = _BoundedSandbox()
