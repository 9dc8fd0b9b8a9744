"""``rxsubstrate serve`` tunes its own process's garbage collector, and only its own."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from rxsubstrate.cli._collector import YOUNG_THRESHOLD, tune_for_serving


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_tuning_freezes_what_start_up_made_and_collects_the_young_less_often() -> None:
    _, middle, old = gc.get_threshold()
    tune_for_serving()
    assert gc.get_freeze_count() > 1000  # the modules, the app: never walked again
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)


def test_the_embedded_engine_leaves_the_users_collector_alone() -> None:
    script = textwrap.dedent(
        """
        import gc
        before = gc.get_threshold()
        from rxsubstrate import ComputeText, Substrate
        with Substrate() as substrate:
            substrate.run(ComputeText(prompt="hi", max_tokens=3))
        assert gc.get_threshold() == before, gc.get_threshold()
        assert gc.get_freeze_count() == 0, gc.get_freeze_count()
        print("untouched")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "untouched", done.stderr
