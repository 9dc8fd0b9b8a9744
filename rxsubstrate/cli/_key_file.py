"""Reading an API key from a file or stdin, so that it never shows in a process's arguments."""

from __future__ import annotations

import sys

__all__ = ["read_key"]


def read_key(path: str) -> str:
    """The first line of ``path`` ('-': stdin), stripped.

    Raises:
        OSError: it cannot be read.
        ValueError: it holds no key.
    """
    if path == "-":
        line = sys.stdin.readline()
    else:
        with open(path, encoding="utf-8") as file:
            line = file.readline()
    key = line.strip()
    if not key:
        raise ValueError(f"--api-key-file {path}: no key on its first line")
    return key
