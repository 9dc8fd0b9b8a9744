"""The sandbox process: compiles and evaluates jq queries and jinja templates, one at a time.

``_sandbox.Sandbox`` starts it as a script (``python -I -B -c BOOTSTRAP ...``), never as part of
the package: ``import rxsubstrate`` would cost each process 200 ms and 20 MB, and a fresh
interpreter holds nothing of the server (no keys in memory, no environment, no open sockets).
Before its first task it

* gets an empty environment and an empty working directory from its parent, and ``HOME`` set to
  that directory, so jq finds no module and ``$ENV``/``env`` hold nothing;
* sends its standard output to ``/dev/null`` and talks over a copy of it, so nothing a library
  prints can corrupt the replies (its standard error is ``/dev/null`` too);
* limits its address space (``RLIMIT_AS``), core dumps and file writes, and before each task its
  CPU time (``RLIMIT_CPU``): going over kills it, and its parent reports which budget.

jq programs run behind a prelude that binds ``$ENV`` to ``{}`` and redefines the builtins that
reach outside the input (``env``, ``input``, ``inputs``, ``debug``, ``stderr``,
``input_filename``, ``modulemeta``, ``get_search_list``); as the prelude comes first, a query's
``import`` or ``include`` is a syntax error, so no file is ever read.

Frames both ways are a 4-byte big-endian length and a JSON ``Request`` or ``Reply``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
import re
import resource
import select
import struct
import sys
import time
from types import ModuleType
from typing import Any, Final, Literal

import msgspec

__all__ = ["BOOTSTRAP", "EXIT_MEMORY", "HEADER", "READY", "Reply", "Request"]

HEADER: Final = struct.Struct(">I")
READY: Final = b"ready"
EXIT_MEMORY: Final = 3  # the exit status after a MemoryError (jq itself aborts: SIGABRT)
# argv: [-c, JSON sys.path, this file, JSON {"memory": bytes, "cpu": seconds}]
BOOTSTRAP: Final = (
    "import json, runpy, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "runpy.run_path(sys.argv[2], run_name='__main__')"
)

Op = Literal["jq", "jinja", "jq-compile", "jinja-compile"]


class Request(msgspec.Struct, array_like=True, frozen=True):
    """One task: ``op`` on ``text`` (a query or template) with ``value`` (the jq input or the
    jinja variables, as JSON); a result may be at most ``max_size`` bytes of JSON."""

    op: Op
    text: str
    value: msgspec.Raw = msgspec.Raw(b"null")
    max_size: int = 0


class Reply(msgspec.Struct, array_like=True, frozen=True):
    """``ok`` with the result (jq: the list of outputs), ``error`` with the program's own error
    message, or ``over`` with the budget it went over."""

    status: Literal["ok", "error", "over"]
    value: Any = None


_JQ_PRELUDE: Final = (
    'def env: {}; def input: error("No more inputs"); def inputs: empty; def debug: .; '
    "def debug(msg): .; def stderr: .; def input_filename: null; "
    'def modulemeta: error("jq modules are not available in directives"); '
    "def get_search_list: []; {} as $ENV |\n"
)
_JQ_LINE: Final = re.compile(r"(at <top-level>, line )(\d+)")
_CACHED: Final = 64  # compiled queries and templates kept per process


class _OverSize(Exception):
    """A result would be larger than the request's ``max_size``."""


def main() -> None:
    """Set the process up (see the module docstring), say ready, then serve until EOF."""
    config = msgspec.json.decode(sys.argv[3])
    requests, replies = _own_stdio()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    for preload in (_jq, _jinja):
        with contextlib.suppress(ImportError):  # reported as each task needs it
            preload()
    resource.setrlimit(resource.RLIMIT_AS, (config["memory"], config["memory"]))
    decoder = msgspec.json.Decoder(Request)
    _write(replies, READY)
    while (frame := _read(requests)) is not None:
        _limit_cpu(config["cpu"])
        try:
            reply = _handle(decoder.decode(frame))
            data = msgspec.json.encode(reply)
        except MemoryError:
            os._exit(EXIT_MEMORY)
        _write(replies, data)
        if reply.status == "over":
            return  # its memory may be fragmented or its state odd: the parent starts another


def _handle(request: Request) -> Reply:
    try:
        if request.op == "jq":
            return Reply("ok", _jq_outputs(request))
        if request.op == "jinja":
            return Reply("ok", _render(request))
        if request.op == "jq-compile":
            _jq_program(request.text)
        else:
            _template(request.text)
        return Reply("ok")
    except _OverSize:
        return Reply(
            "over",
            f"the result is over budget: its output would pass {request.max_size:,} characters",
        )
    except RecursionError:
        return Reply("over", "over budget (depth): it nests or recurses too deeply")
    except MemoryError:
        raise
    except Exception as exc:  # the query's or template's own failure, reported as data
        return Reply("error", f"{type(exc).__name__}: {exc}")


def _jq_outputs(request: Request) -> list[Any]:
    program = _jq_program(request.text)
    outputs, size = [], 0
    for output in program.input_text(bytes(request.value).decode()):
        size += len(msgspec.json.encode(output))
        if size > request.max_size:
            raise _OverSize
        outputs.append(output)
    return outputs


def _render(request: Request) -> str:
    variables = msgspec.json.decode(request.value)
    chunks, size = [], 0
    for chunk in _template(request.text).generate(variables):
        size += len(chunk)
        if size > request.max_size:
            raise _OverSize
        chunks.append(chunk)
    return "".join(chunks)


@functools.lru_cache(maxsize=_CACHED)
def _jq_program(query: str) -> Any:
    try:
        return _jq().compile(_JQ_PRELUDE + query)
    except ValueError as exc:
        message = _JQ_LINE.sub(lambda m: f"{m[1]}{int(m[2]) - 1}", str(exc))
        if re.search(r"unexpected (import|include)\b", message):
            message = "jq modules (import, include) are not available in directives: " + message
        raise ValueError(message) from None


@functools.lru_cache(maxsize=_CACHED)
def _template(source: str) -> Any:
    return _jinja().SANDBOX.from_string(source)


@functools.cache
def _jq() -> Any:
    import jq

    return jq


@functools.cache
def _jinja() -> ModuleType:
    """``_jinja.py`` beside this file, loaded by path (its package would import the client)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_jinja.py")
    spec = importlib.util.spec_from_file_location("rxsubstrate_sandbox_jinja", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _own_stdio() -> tuple[int, int]:
    """The request and reply descriptors; fd 1 then points at /dev/null."""
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return 0, replies


def _limit_cpu(seconds: int) -> None:
    """``seconds`` more CPU time from now (the soft limit moves; SIGXCPU kills at it)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = math.ceil(usage.ru_utime + usage.ru_stime)
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (used + seconds, hard))


def _read(fd: int) -> bytes | None:
    header = read_exactly(fd, HEADER.size)
    if header is None:
        return None
    return read_exactly(fd, HEADER.unpack(header)[0])


def read_exactly(fd: int, size: int, deadline: float | None = None) -> bytes | None:
    """``size`` bytes of a frame (both ends of the pipe read with it), or None at EOF.

    Raises:
        TimeoutError: not all there by ``deadline`` (``time.monotonic``), when one is given.
    """
    chunks, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
