"""How client input appears in error messages, the engine's and the server's: cut short.

A graph is a stranger's, and its ids, argument names and values come back in the messages that
refuse it; a 5 MB node id must not come back whole, once or twice. Every message that quotes
client input goes through ``clip`` (text, e.g. an id) or ``describe`` (a JSON value).
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec

__all__ = ["LIMIT", "clip", "describe"]

LIMIT: Final = 60
"""The most characters of one piece of client input a message quotes."""


def clip(text: str, limit: int = LIMIT) -> str:
    """``text`` as is when short, else its first ``limit`` characters and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def describe(value: Any, limit: int = LIMIT) -> str:
    """A short JSON rendering of a value, for messages (cut to ``limit`` characters)."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # a long string is cut below anyway; don't encode all of it
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no such number (msgspec would write null)
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
