"""Text from a run, made safe to show on a terminal.

A node's text, an error message and a node id come from the server: escape sequences in them
would drive the terminal (move the cursor, rename the window, hide what follows). Control
characters other than line feed and tab are shown escaped instead, as ``\\x1b``.
"""

from __future__ import annotations

import re
from typing import Final

from .._quote import clip

__all__ = ["MESSAGE_LIMIT", "printable", "printable_message"]

MESSAGE_LIMIT: Final = 2000
"""The most characters of an error message printed on stderr."""

_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with each control character but ``\\n`` and ``\\t`` written as ``\\xNN``."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def printable_message(text: str) -> str:
    """A message for stderr: printable, on one line, cut to ``MESSAGE_LIMIT`` characters."""
    return printable(clip(text, MESSAGE_LIMIT).replace("\n", " "))
