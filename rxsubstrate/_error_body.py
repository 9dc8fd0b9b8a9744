"""What an HTTP error body says: one reading of the shapes servers use, on a bounded prefix.

Substrate answers ``{"type": ..., "message": ...}``; OpenAI-compatible servers
``{"error": {"message": ...}}`` or ``{"error": "..."}``; others ``{"detail": ...}``. Anything
else is shown as the text itself.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = ["ERROR_BODY_LIMIT", "error_message", "message_in"]

ERROR_BODY_LIMIT: Final = 64 * 1024
"""The most of an error body anyone reads: enough for a message, never unbounded."""


def message_in(value: Any) -> str | None:
    """The message of a decoded error object: its ``message``, ``error`` or ``detail`` string,
    or that field's own ``message``; None when it has none."""
    if not isinstance(value, dict):
        return None
    for key in ("message", "error", "detail"):
        field = value.get(key)
        if isinstance(field, str):
            return field
        if isinstance(field, dict) and isinstance(field.get("message"), str):
            return str(field["message"])
    return None


def error_message(body: bytes, fallback: str) -> str:
    """The message of an error body (its first ``ERROR_BODY_LIMIT`` bytes), else its text,
    else ``fallback`` for an empty body."""
    text = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    try:
        decoded = msgspec.json.decode(text)
    except msgspec.DecodeError:
        decoded = None
    return message_in(decoded) or text.strip() or fallback
