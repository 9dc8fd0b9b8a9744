"""Ids for nodes and futures, in the official SDK's form: ``ComputeText1_kpuOvM7C``.

The form is the prefix (a node's kind, or ``future``), a counter per prefix, and eight random
characters, so ids read well in logs and stay unique across processes that count alike.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from collections.abc import Iterator
from typing import Final

__all__ = ["ALPHABET", "graph_id", "next_id"]

ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
_SUFFIX_LENGTH: Final = 8

# A private generator seeded from the OS: a user's random.seed() must not make two processes
# draw the same ids.
_random: Final = random.Random()
_lock: Final = threading.Lock()
_counters: dict[str, Iterator[int]] = {}


def next_id(prefix: str) -> str:
    """The next id for ``prefix`` (thread-safe): ``{prefix}{n}_{8 random characters}``."""
    with _lock:
        counter = _counters.get(prefix)
        if counter is None:
            counter = _counters[prefix] = itertools.count(1)
        n = next(counter)
        suffix = "".join(_random.choices(ALPHABET, k=_SUFFIX_LENGTH))
    return f"{prefix}{n}_{suffix}"


def graph_id() -> str:
    """A fresh graph id, ``graph_`` and 32 hex digits."""
    return f"graph_{uuid.uuid4().hex}"
