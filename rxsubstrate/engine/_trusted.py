"""How the built-in streaming nodes skip the engine's care for a stranger's deltas.

The engine checks each delta of a user's implementation with a JSON round trip (which also
detaches it from the implementation's objects) and folds it into an ``OutputBuilder`` to report
the node's output. The built-ins make a new dict of JSON values for every delta, and the text
nodes know their whole output (their chunks, joined): per delta, the round trip and the fold cost
the engine more than the rest of a delta's way through it (3.3 -> 2.0 us per delta without the
fold, 223 MultiComputeText nodes of 8 choices).

So a built-in is marked ``@trusted_stream``: its deltas are taken as they are. One marked with
``whole_output=True`` yields ``WholeOutput(output)`` last, and the engine reports that output
instead of folding the deltas; the property tests that compare a run's reassembled deltas with its
``node.result`` hold the two to each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Final, Literal, TypeVar

__all__ = ["WholeOutput", "trust", "trusted_stream"]

_MARK: Final = "_rxsubstrate_trusted_stream"
F = TypeVar("F", bound=Callable[..., Any])
Trust = Literal["deltas", "whole"]


@dataclasses.dataclass(frozen=True, slots=True)
class WholeOutput:
    """The node's output, yielded last by a built-in marked ``whole_output=True``."""

    value: dict[str, Any]


def trusted_stream(*, whole_output: bool) -> Callable[[F], F]:
    """Mark a built-in streaming implementation (see the module's docstring)."""

    def mark(impl: F) -> F:
        setattr(impl, _MARK, "whole" if whole_output else "deltas")
        return impl

    return mark


def trust(impl: object) -> Trust | None:
    """How far the engine trusts ``impl``'s stream: None for a user's implementation (a bound
    method reads its function's mark)."""
    mark = getattr(impl, _MARK, None)
    return mark if mark in ("deltas", "whole") else None
