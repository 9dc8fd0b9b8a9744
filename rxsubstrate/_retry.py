"""When a failed request is sent again, and how long the client waits first (no I/O here)."""

from __future__ import annotations

import datetime
import email.utils
import re
import time
from typing import Final

from ._config import Retry
from ._errors import APIStatusError, ConnectError, SubstrateError

__all__ = ["RETRIED_STATUSES", "parse_retry_after", "retry_wait"]

# Statuses that say "not now" without the run having started: rate limited, or a proxy or
# the server itself unavailable. A plain 500 may be the dag's own fault, so it is not retried.
RETRIED_STATUSES: Final = frozenset({429, 502, 503, 504})
_SECONDS: Final = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
# 2 ** 62 seconds is already past any max_wait: the exponent stops growing there.
_MAX_DOUBLINGS: Final = 62


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks for: delay-seconds or an HTTP date.

    Args:
        value: the header, or None when there was none.
        now: the current time (``time.time()``) against which a date is measured.

    Returns:
        The seconds to wait (0 for a date already past), or None when absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    try:
        date = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if date.tzinfo is None:  # an HTTP date is always GMT; "-0000" parses without a zone
        date = date.replace(tzinfo=datetime.UTC)
    return max(0.0, date.timestamp() - (time.time() if now is None else now))


def retry_wait(
    retry: Retry,
    attempt: int,
    error: SubstrateError,
    *,
    elapsed: float,
    remaining: float | None,
    jitter: float,
) -> float | None:
    """How long to wait before sending the request again, or None to give up.

    Args:
        retry: the policy.
        attempt: how many requests have been sent (1 after the first).
        error: why the last one failed.
        elapsed: seconds since the first request was sent.
        remaining: seconds left before ``Timeout.total``, or None without one.
        jitter: a random number in [0, 1): the share of up to half the backoff not waited.
    """
    if attempt >= retry.attempts:
        return None
    if isinstance(error, APIStatusError):
        if error.status not in RETRIED_STATUSES:
            return None
        wait = error.retry_after
    elif isinstance(error, ConnectError):
        wait = None
    else:
        return None
    if wait is None:
        backoff = retry.backoff * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)
        wait = min(retry.max_wait, backoff) * (1.0 - jitter / 2)
    if wait > retry.max_wait or elapsed + wait > retry.give_up_after:
        return None
    if remaining is not None and wait >= remaining:
        return None
    return wait
