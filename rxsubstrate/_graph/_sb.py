"""``sb``: operations on futures that the server performs (concat, format, jinja, jq)."""

from __future__ import annotations

from typing import Any

from ._future import ConcatDirective, FormatDirective, Future, JinjaDirective, JqDirective

__all__ = ["sb"]


class sb:  # the official SDK's name, so that its code ports unchanged
    """Build a future from strings, values and other futures; the server computes it.

    Each operation returns a ``Future`` to pass as a node argument, e.g.
    ``ComputeText(prompt=sb.concat("is this true? ", a.future.text))``.
    """

    def __init__(self) -> None:
        raise TypeError("sb is a namespace: call sb.concat, sb.format, sb.jinja or sb.jq")

    @staticmethod
    def concat(*parts: str | Future | None) -> str | Future:
        """The parts joined into one string (``None`` counts as ``""``).

        As in the official SDK, no part gives ``""`` and a single part is returned as it is;
        only two or more parts make a ``string-concat`` future.
        """
        for part in parts:
            if part is not None and not isinstance(part, str | Future):
                raise TypeError(f"sb.concat takes strings and futures, got {part!r}")
        if not parts:
            return ""
        if len(parts) == 1:
            return parts[0] if parts[0] is not None else ""
        items = tuple(part if part is not None else "" for part in parts)
        return Future(ConcatDirective(items))

    @staticmethod
    def format(f_string: str | Future, **variables: Any) -> Future:
        """``f_string.format(**variables)``, computed on the server; variables may be futures."""
        _check_template("sb.format", f_string)
        directive = FormatDirective(f_string, variables)
        directive.encode()  # reject what JSON cannot carry now, not when the graph is sent
        return Future(directive)

    @staticmethod
    def jinja(template: str | Future, **variables: Any) -> Future:
        """The Jinja ``template`` rendered with ``variables`` (which may be futures)."""
        _check_template("sb.jinja", template)
        directive = JinjaDirective(template, variables)
        directive.encode()
        return Future(directive)

    @staticmethod
    def jq(target: Any, query: str) -> Future:
        """The result of the jq ``query`` applied to ``target`` (a future or JSON data)."""
        if not isinstance(query, str):
            raise TypeError(f"sb.jq: the query must be a string, got {query!r}")
        directive = JqDirective(target, query)
        directive.encode()
        return Future(directive)


def _check_template(operation: str, template: object) -> None:
    if not isinstance(template, str | Future):
        raise TypeError(f"{operation}: the template must be a string or a future, got {template!r}")
