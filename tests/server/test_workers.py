"""The worker supervisor on its own: a crash loop backs off, then gives up."""

from __future__ import annotations

import logging
import re
import socket

import pytest

from rxsubstrate.server._workers import FIRST_BACKOFF, MAX_BOOT_FAILURES, supervise

from ._crashing_worker import crash


def test_workers_that_die_before_serving_are_restarted_with_backoff_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="rxsubstrate.serve")
    with socket.create_server(("127.0.0.1", 0)) as sock:
        status = supervise(sock, crash, (), workers=1, worker_timeout=30, shutdown_timeout=1)

    assert status == 1
    deaths = [r.getMessage() for r in caplog.records if "exited with status 3" in r.getMessage()]
    assert len(deaths) == MAX_BOOT_FAILURES
    delays = [float(re.findall(r"another in ([\d.]+) s", d)[0]) for d in deaths]
    assert delays[: MAX_BOOT_FAILURES - 1] == [
        FIRST_BACKOFF * 2**i for i in range(MAX_BOOT_FAILURES - 1)
    ]
    assert "died before serving; stopping" in caplog.records[-1].getMessage()
