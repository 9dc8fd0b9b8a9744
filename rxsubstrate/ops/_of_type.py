"""The shared core of ``results``, ``deltas`` and ``errors``: keep one event class."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from reactivex import Observable
from reactivex import operators as ops

__all__ = ["of_type"]

_T = TypeVar("_T")


def of_type(cls: type[_T]) -> Callable[[Observable[Any]], Observable[_T]]:
    """Keep the items that are instances of ``cls``, typed as such."""
    return cast(
        "Callable[[Observable[Any]], Observable[_T]]",
        ops.filter(lambda item: isinstance(item, cls)),
    )
