"""The retry schedule and ``Retry-After`` parsing, which do no I/O (the loopback behaviour is in
``test_client_faults.py``)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rxsubstrate import (
    APIStatusError,
    ConnectError,
    ConnectTimeout,
    RateLimited,
    Retry,
    ServerError,
    StreamInterrupted,
)
from rxsubstrate._retry import parse_retry_after, retry_wait

NOW = 1_700_000_000.0
POLICY = Retry(attempts=5, backoff=0.5, max_wait=10, give_up_after=30)


def wait(
    error: Exception, attempt: int = 1, jitter: float = 0.0, **kwargs: float | None
) -> float | None:
    args: dict[str, float | None] = {"elapsed": 0.0, "remaining": None} | kwargs
    return retry_wait(POLICY, attempt, error, jitter=jitter, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (email.utils.formatdate(NOW + 90, usegmt=True), 90.0),
        (email.utils.formatdate(NOW + 90), 90.0),  # "-0000": no zone, read as GMT
        (email.utils.formatdate(NOW - 90, usegmt=True), 0.0),  # already past: at once
        ("9" * 5000, float("inf")),
        (None, None),
        ("", None),
        ("-1", None),
        ("soon", None),
        ("Mon, 99 Foo 2024 99:99:99 GMT", None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_backoff_doubles_up_to_max_wait() -> None:
    unavailable = ServerError(503, "busy")
    assert [wait(unavailable, attempt) for attempt in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    many = Retry(attempts=10_000, backoff=0.5, max_wait=10, give_up_after=1e9)
    assert retry_wait(many, 5000, unavailable, elapsed=0, remaining=None, jitter=0) == 10


@given(attempt=st.integers(1, 4), jitter=st.floats(0, 1, exclude_max=True))
def test_jitter_takes_off_at_most_half(attempt: int, jitter: float) -> None:
    full = wait(ConnectError("refused"), attempt)
    jittered = wait(ConnectError("refused"), attempt, jitter)
    assert full is not None
    assert jittered is not None
    assert full / 2 <= jittered <= full


def test_retry_after_replaces_the_backoff_and_is_never_cut_short() -> None:
    assert wait(RateLimited(429, "slow", retry_after=7), jitter=0.9) == 7
    assert wait(RateLimited(429, "slow", retry_after=0)) == 0
    # Longer than max_wait: give up now, rather than come back before the server said.
    assert wait(RateLimited(429, "slow", retry_after=11)) is None


@pytest.mark.parametrize(
    "error",
    [
        ServerError(500, "bug"),
        APIStatusError(400, "bad dag"),
        APIStatusError(401, "bad key"),
        ConnectTimeout("slow"),
        StreamInterrupted(3),
    ],
)
def test_what_is_not_retried(error: Exception) -> None:
    assert wait(error) is None


def test_retries_stop_at_attempts_give_up_after_and_the_total_deadline() -> None:
    unavailable = ServerError(502, "bad gateway")
    assert wait(unavailable, attempt=4) == 4.0
    assert wait(unavailable, attempt=5) is None  # five requests sent: that is all
    assert wait(unavailable, elapsed=29.4) == 0.5
    assert wait(unavailable, elapsed=29.6) is None  # the wait would end past give_up_after
    assert wait(unavailable, remaining=0.6) == 0.5
    assert wait(unavailable, remaining=0.5) is None  # the run's deadline comes first


def test_jitter_takes_its_share_of_half_the_backoff() -> None:
    unavailable = ServerError(503, "busy")
    assert wait(unavailable, jitter=0.5) == 0.375  # a quarter off the 0.5 s backoff
    assert wait(unavailable, attempt=2, jitter=0.5) == 0.75


@pytest.fixture
def eastern_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time zone is five hours behind UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("eastern_time")
def test_a_retry_after_date_is_gmt_whatever_the_local_time_zone() -> None:
    assert parse_retry_after(email.utils.formatdate(NOW + 90), now=NOW) == 90.0  # "-0000"
    assert parse_retry_after(email.utils.formatdate(NOW + 90, usegmt=True), now=NOW) == 90.0
