"""``RunPython``: a Python function for the hosted service to run, pickled as the official SDK does.

Written by hand, as in the SDK, because its Python signature (a function) is not its wire form
(``pkl_function``, the function pickled with cloudpickle and base64-encoded, and the
``python_version`` to run it with). The local engine does not run it: unpickling runs arbitrary
code, and a dag is a program from a stranger.
"""

from __future__ import annotations

import base64
import sys
import types
from collections.abc import Callable
from typing import Any, Unpack

from ._future import Future
from ._node import Node, NodeOptions
from ._outputs import RunPythonOut

__all__ = ["RunPython"]


class RunPython(Node[RunPythonOut]):
    """Run a Python function on the hosted Substrate service (https://substrate.run/nodes#RunPython).

    ``RunPython(function=f, kwargs={"x": a.future.text})`` pickles ``f`` by value with
    cloudpickle (``pip install 'rxsubstrate[runpython]'``), exactly as the official SDK does,
    and records the running interpreter's version; the service calls ``f(**kwargs)``. The
    embedded engine answers this node with an error: it never runs pickled code.

    Args:
        function: the function to run (a ``def`` or a ``lambda``). While it is pickled, its
            ``__module__`` reads ``"__main__"`` (so that its code travels with it); that is the
            SDK's way, and it is restored at once.
        kwargs: keyword arguments for the function; values may be futures.
        pip_install: packages to install in the function's sandbox.
        pkl_function: an already pickled function (base64 text), instead of ``function``.
        python_version: the interpreter version to run it with (default: this one's, with
            ``function``).
        hide: leave this node's output out of the run's results.
        **options: ``id``, ``depends``, ``cache_age``, ``cache_keys`` and ``max_retries``, as for
            ``Node`` (or the official SDK's ``_depends``, ``_cache_age``, ... spellings).

    Raises:
        TypeError: neither or both of ``function`` and ``pkl_function``, or ``function`` is not
            a Python function.
        ImportError: ``function`` was given and cloudpickle is not installed.
    """

    kind = "RunPython"
    output_type = RunPythonOut

    def __init__(
        self,
        function: Callable[..., Any] | None = None,
        kwargs: dict[str, Any] | Future | None = None,
        pip_install: list[str | Future] | Future | None = None,
        *,
        pkl_function: str | Future | None = None,
        python_version: str | Future | None = None,
        hide: bool = False,
        **options: Unpack[NodeOptions],
    ) -> None:
        if (function is None) == (pkl_function is None):
            raise TypeError(
                "RunPython takes the function to run (function=...), or an already pickled one"
                " (pkl_function=...): exactly one of them"
            )
        if function is not None:
            pkl_function = _pickle_function(function)
            if python_version is None:
                python_version = sys.version.split()[0]
        super().__init__(
            self.kind,
            hide=hide,
            pkl_function=pkl_function,
            kwargs={} if kwargs is None else kwargs,
            pip_install=pip_install,
            python_version=python_version,
            **options,
        )


def _pickle_function(function: Callable[..., Any]) -> str:
    """``function`` pickled by value with cloudpickle and base64-encoded, as the SDK sends it."""
    if not isinstance(function, types.FunctionType):
        raise TypeError(
            f"RunPython(function=...) takes a Python function (def or lambda), got {function!r}"
        )
    try:
        import cloudpickle
    except ImportError:
        raise ImportError(
            "RunPython(function=...) pickles the function with cloudpickle, as the official SDK"
            " does: pip install 'rxsubstrate[runpython]' (or cloudpickle)"
        ) from None
    module = function.__module__
    function.__module__ = "__main__"  # pickled by value: its module need not exist where it runs
    try:
        pickled: bytes = cloudpickle.dumps(function)
    finally:
        function.__module__ = module
    return base64.b64encode(pickled).decode("ascii")
