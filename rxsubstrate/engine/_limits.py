"""``EngineLimits``: what one graph may ask of an ``Engine``, checked before it runs or while it
runs; ``DirectiveLimits``: what each of its directives may cost.

A graph is a program from a stranger: its size is bounded before anything runs (``prepare``
answers ``GraphInvalid``), and what its nodes and directives build is bounded while they build it
(the node fails with ``invalid_request_error``, "over budget").
"""

from __future__ import annotations

import dataclasses
import math
from typing import Final

__all__ = ["DirectiveLimits", "EngineLimits"]

_MIB: Final = 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class EngineLimits:
    """Bounds on one graph and its run; every field must be a positive integer.

    Attributes:
        max_nodes: nodes in one graph.
        max_futures: futures in one graph.
        max_edges: explicit edges in one graph.
        max_future_depth: the longest chain of futures that read futures.
        max_running_nodes: node tasks one run keeps at once; more start as these finish, in
            graph order (implementations of your own that wait for one another must fit).
        max_batch_prompts: ``prompts`` of one ``BatchComputeText``/``BatchComputeJSON`` node.
        max_retries: the largest ``max_retries`` a node may ask for.
        json_steps: work steps the built-in JSON generator may take for one node (one step is
            about one schema or value visited).
        json_bytes: characters of JSON the built-in generator may produce for one node, over
            all its choices or prompts.
        cache_entries: results kept by the engine's cache (for nodes with ``cache_age``).
        cache_bytes: bytes of JSON kept by the engine's cache.

    Example:
        >>> engine = Engine(limits=EngineLimits(max_nodes=100, max_running_nodes=8))
    """

    max_nodes: int = 1000
    max_futures: int = 10_000
    max_edges: int = 10_000
    max_future_depth: int = 100
    max_running_nodes: int = 32
    max_batch_prompts: int = 100
    max_retries: int = 10
    json_steps: int = 100_000
    json_bytes: int = 1_000_000
    cache_entries: int = 1024
    cache_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value < 1:
                raise ValueError(
                    f"EngineLimits.{field.name} must be a positive integer, got {value!r}"
                )


@dataclasses.dataclass(frozen=True, slots=True)
class DirectiveLimits:
    """The budget of every directive an ``Engine`` evaluates.

    jq queries and jinja templates run in a small pool of sandbox processes (started on the first
    graph that uses one): a process that goes over its time or memory is killed and replaced, and
    only the node that needed the directive fails, with an ``invalid_request_error`` whose
    message says "over budget" and which budget.

    Attributes:
        timeout: wall-clock seconds one jq or jinja evaluation (or compile check) may take. The
            sandbox process also gets a CPU-time limit of ``ceil(timeout) + 1`` seconds per task,
            which stops it even if this process is gone.
        memory: bytes of address space each sandbox process may map (``RLIMIT_AS``); a bare one
            maps about 30 MB.
        workers: the most sandbox processes evaluating at once; more directives wait their turn.
            One run (or one validation) evaluates one directive at a time, so a graph full of
            runaways holds one process, not all of them.
        value_size: the largest value a future may have, in bytes of JSON (a string counts its
            characters): a ``string-concat``, ``format`` or ``jinja`` result, all of a ``jq``
            query's outputs together.
        args_size: the most bytes of future values substituted into one node's arguments (or
            into one ``format``/``jinja`` directive's variables, or a ``jq`` target); each use of
            a future counts its whole value.
    """

    timeout: float = 2.0
    memory: int = 256 * _MIB
    workers: int = 2
    value_size: int = 4 * _MIB
    args_size: int = 16 * _MIB

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout, int | float) and 0 < self.timeout <= 3600):
            raise ValueError(f"timeout must be in (0, 3600] seconds, got {self.timeout!r}")
        for name in ("memory", "workers", "value_size", "args_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.memory < 64 * _MIB:
            raise ValueError(f"memory must be at least 64 MiB, got {self.memory}")

    @property
    def cpu_seconds(self) -> int:
        """The CPU time (``RLIMIT_CPU``) a sandbox process gets per task: a backstop to
        ``timeout``."""
        return math.ceil(self.timeout) + 1
