"""The operator examples run as a user would run them: one command, on the embedded engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("callbacks.py", ["[titles done:", "[story done:", "[run complete]"]),
        ("progressive_view.py", ["[v1  ]", "[final]"]),
        ("merged_runs.py", ["windmills =", "lighthouses =", "glaciers =", "all runs complete"]),
        ("custom_node.py", ["NodeDelta(node_id='loud'", "'image_uri': 'data:text/plain,picture"]),
        ("record_replay.py", ["recorded ", "equal: True", "replay matches the recording"]),
    ],
)
def test_example_runs(script: str, expected: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stderr
    for marker in expected:
        assert marker in done.stdout
