"""``Limits``: what one graph may ask of an ``Engine``, checked before it runs or while it runs.

A graph is a program from a stranger: its size is bounded before anything runs (``prepare``
answers ``GraphInvalid``), and what its nodes build is bounded while they build it (the node
fails with ``invalid_request_error``, "over budget").
"""

from __future__ import annotations

import dataclasses

__all__ = ["Limits"]


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
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
        >>> engine = Engine(limits=Limits(max_nodes=100, max_running_nodes=8))
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
                raise ValueError(f"Limits.{field.name} must be a positive integer, got {value!r}")


Limits.__module__ = "rxsubstrate.engine"
