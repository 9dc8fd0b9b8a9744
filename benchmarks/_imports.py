"""What ``import rxsubstrate`` costs, and what it must not drag in.

The cost is ``python -X importtime``'s total (the sum of every module's own time) for
``import rxsubstrate``, next to the same for its three runtime dependencies alone, so the figure
reads as "what rxsubstrate adds". Each is a fresh subprocess, run several times; the median is
reported.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Final

__all__ = ["FORBIDDEN", "import_micros", "loaded_forbidden"]

#: Heavy or optional modules a plain ``import rxsubstrate`` must leave alone.
FORBIDDEN: Final = (
    "rxsubstrate.cli",
    "rxsubstrate.engine",
    "rxsubstrate.server",
    "jinja2",
    "jq",
    "rich",
)


def _one_import_micros(statement: str) -> int:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    total = 0
    for line in done.stderr.splitlines():
        # "import time:       123 |        456 | module"
        if line.startswith("import time:") and "|" in line:
            self_us = line.split(":", 1)[1].split("|")[0].strip()
            if self_us.isdigit():
                total += int(self_us)
    return total


def import_micros(statement: str, repeat: int) -> int:
    """The median over ``repeat`` fresh processes of the summed self times, in microseconds."""
    return int(statistics.median(_one_import_micros(statement) for _ in range(repeat)))


def loaded_forbidden() -> list[str]:
    """Which of ``FORBIDDEN`` are in ``sys.modules`` after ``import rxsubstrate``."""
    probe = (
        "import json, sys, rxsubstrate; "
        f"print(json.dumps([m for m in {list(FORBIDDEN)!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded
