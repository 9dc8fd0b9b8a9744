"""What every command shares about its command line: help that shows defaults, argument types,
and the error that makes a command exit with its usage (status 2)."""

from __future__ import annotations

import argparse
import math

__all__ = ["BadArguments", "HelpFormatter", "non_negative_seconds", "positive_number"]


class BadArguments(Exception):
    """The command line names something unusable (a file, a node); ``main`` prints the
    command's usage with this message and exits with status 2."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, as ``(default: X)``.

    An option whose default is None (or a flag's False) has no value worth printing: its help
    says in words what happens without it, with ``(default: ...)`` written out, and is left as
    it is.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "(default:" in text
            or default is None
            or default is False
            or default == argparse.SUPPRESS
        ):
            return text
        return f"{text} (default: %(default)s)"


def positive_number(value: str) -> float:
    """An argument that is a finite number above 0."""
    number = _number(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {value}")
    return number


def non_negative_seconds(value: str) -> float:
    """An argument that is a finite number of seconds, 0 or more."""
    number = _number(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return number


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {value}")
    return number
