"""``publish``: a public package's names say, in reprs and tracebacks, where users import them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["publish"]


def publish(namespace: dict[str, Any], also: Iterable[str] = ()) -> None:
    """Set ``__module__`` to the package for each class and function of its ``__all__`` that a
    private module inside it defines (``rxsubstrate._errors`` -> ``rxsubstrate``), and for the
    names in ``also`` (public here, defined elsewhere).

    Call it at the end of the package's ``__init__`` with ``globals()``. Only do so where the
    classes' string annotations (if any) resolve in the package too: msgspec resolves a
    Struct's annotations in its ``__module__`` (which is why ``rxsubstrate.outputs``, whose
    generated Structs have string annotations, does not call it).
    """
    package = namespace["__name__"]
    for name in namespace["__all__"]:
        value = namespace[name]
        module = getattr(value, "__module__", None)
        if not callable(value) or not isinstance(module, str):
            continue
        if module.startswith(package + "._") or name in also:
            value.__module__ = package
