"""The README's Python examples run as written (on the embedded engine)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.sse_reference import parse
from tests.uvicorn_server import serve_on_loopback

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def readme(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """The namespace the README's Python blocks leave, run in order (what they print goes to
    ``capsys``); its client closed after."""
    monkeypatch.chdir(tmp_path)  # the snippets write files (a recording)
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict[str, Any] = {}
    # The logging section configures logging, as an application does: undone afterwards.
    root_handlers = logging.root.handlers[:]
    ours = logging.getLogger("rxsubstrate")
    level = ours.level
    try:
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
        yield namespace
    finally:
        substrate = namespace.get("substrate")
        if substrate is not None:
            substrate.close()
        logging.root.handlers[:] = root_handlers
        ours.setLevel(level)


def test_quick_start_and_pipeline_run_as_written(
    readme: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("NodeDelta(")
    assert any(line.startswith("GraphResult(") for line in printed)
    answer = readme["answer"]
    assert answer.node_id == readme["b"].id
    assert printed[-1] == answer.data["text"] != ""
    # iterate() printed b's text chunk by chunk, the same text run() gave.
    assert printed.count(printed[-1]) == 2
    assert {line.split(" ")[0] for line in printed if line[:2] in ("a ", "b ")} == {"a", "b"}


def test_the_proxy_endpoint_serves_the_story_then_the_end(readme: dict[str, Any]) -> None:
    async def read(url: str) -> bytes:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/story") as reply:
            return await asyncio.wait_for(reply.read(), 10)

    with serve_on_loopback(readme["app"]) as url:
        events = parse(asyncio.run(read(url)), 1 << 20).events
    assert events[-1].event == "end"
    assert events[-1].data == b"{}"
    assert b"".join(e.data for e in events[:-1])
