"""The README's Python examples run as written (on the embedded engine)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_quick_start_and_pipeline_run_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the snippets write files (a recording)
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 2
    namespace: dict[str, object] = {}
    try:
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    finally:
        substrate = namespace.get("substrate")
        if substrate is not None:
            substrate.close()  # type: ignore[attr-defined]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("NodeDelta(")
    assert any(line.startswith("GraphResult(") for line in printed)
    answer = namespace["answer"]
    assert answer.node_id == namespace["b"].id  # type: ignore[attr-defined]
    assert printed[-1] == answer.data["text"] != ""  # type: ignore[attr-defined]
