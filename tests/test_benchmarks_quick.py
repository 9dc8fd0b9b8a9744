"""The benchmark suite's quick mode runs to the end and prints every row.

Figures are never asserted (timings belong to benchmarks, not tests); what is checked is that
every consumer ran, decoded the whole stream (each one checks its own count, and a failed check
makes the run exit non-zero) and got its row.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    # throughput, once per write mode
    "reference",
    "rx.iter",
    "rx.async_iter",
    "rx.iterate",
    "rx.aiterate",
    "rx.subscribe",
    "rx.pipeline",
    "sdk.iter",
    "sdk.async_iter",
    "httpx-sse",
    "aiohttp.raw",
    # concurrency
    "rx.concurrent",
    "sdk.concurrent",
    # operators
    "merge_runs",
    # embedded engine
    "engine produces",
    "engine through Substrate()",
    "first event, cold",
    "first event, warm",
    # directives
    "jq",
    "jinja",
    "format",
    "string-concat",
    "first jq, prepared and run",
    # imports
    "import aiohttp, reactivex, msgspec",
    "import rxsubstrate",
    "modules it must not load",
]


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_quick_run_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for label in ROWS:
        assert any(line.startswith(label + " ") for line in lines), f"no {label!r} row"
    assert "FAILED" not in done.stdout
    assert sum(line.startswith("Throughput:") for line in lines) == 2
    for title in ("Scale:", "Concurrency:", "Operators", "Directives:", "Import cost"):
        assert any(line.startswith(title) for line in lines), f"no {title!r} section"
