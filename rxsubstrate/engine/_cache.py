"""The engine's result cache, for nodes sent with ``cache_age`` (and ``cache_keys``).

A node with ``cache_age=N`` reuses the output of an earlier node of the same kind, run by the
same implementation with the same cache-key arguments, if that output is at most N seconds old;
otherwise it runs and its output is kept. The cache is bounded in entries and in bytes (least
recently used goes first); an output larger than the whole cache is not kept.

Used from the event loop only; no locking.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import cachetools
import msgspec

__all__ = ["ResultCache"]


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    made_at: float
    output: bytes  # JSON: a hit decodes a fresh copy, which no other node shares


class ResultCache:
    """Outputs by (implementation, kind, cache-key arguments), with the time each was made.

    Args:
        entries: the most outputs kept.
        size: the most bytes (of JSON) kept.
        clock: seconds, monotonic.
    """

    def __init__(
        self, *, entries: int, size: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # cachetools bounds one total; charging every entry at least size/entries bounds the
        # count as well as the bytes.
        floor = max(size // entries, 1)
        self._entries: cachetools.LRUCache[tuple[Any, ...], _Entry] = cachetools.LRUCache(
            maxsize=size, getsizeof=lambda entry: max(len(entry.output), floor)
        )
        self._clock = clock

    @staticmethod
    def key(
        impl: object, kind: str, args: Mapping[str, Any], keys: tuple[str, ...] | None
    ) -> tuple[Any, ...]:
        """The cache key: the implementation, the kind, and the arguments named by ``keys``
        (all of them when ``keys`` is None)."""
        named = dict(args) if keys is None else {name: args.get(name) for name in keys}
        digest = hashlib.sha256(msgspec.json.encode(named, order="sorted")).digest()
        return (impl, kind, digest)

    def get(self, key: tuple[Any, ...], max_age: float) -> dict[str, Any] | None:
        """A copy of the output kept under ``key`` if it is at most ``max_age`` seconds old."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() - entry.made_at > max_age:
            del self._entries[key]
            return None
        output: dict[str, Any] = msgspec.json.decode(entry.output)
        return output

    def put(self, key: tuple[Any, ...], output: dict[str, Any]) -> None:
        """Keep ``output`` (unless it is larger than the whole cache)."""
        entry = _Entry(self._clock(), msgspec.json.encode(output))
        try:
            self._entries[key] = entry
        except ValueError:  # cachetools: larger than the cache itself
            self._entries.pop(key, None)
