"""Every page's Python runs as written: the README's and each page of ``docs/``.

A page's ``python`` blocks run in order, in one namespace of their own (so a block can use what
the blocks before it made), in a temporary directory, on the embedded engine, under a timeout;
the clients and engines they leave are closed after. A block that must not run is marked, on
the line before its fence, ``<!-- no-run: why -->``; every such block is listed in ``NOT_RUN``,
so that nothing is skipped silently. A fence whose language is not one of ``LANGUAGES`` fails
(a ``py`` or ``pycon`` block would otherwise never run), and so does a page of ``docs/`` left
out of ``mkdocs.yml``'s navigation.

Some pages make something to be checked beyond running: their ``CHECKS`` read what the blocks
printed and left.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import rxsubstrate
import rxsubstrate.engine
import rxsubstrate.ops
import rxsubstrate.server
import rxsubstrate.web
from rxsubstrate import Substrate
from rxsubstrate.engine import Engine
from tests.aiohttp_server import serve_aiohttp_on_loopback
from tests.sse_reference import parse
from tests.uvicorn_server import serve_on_loopback

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
LANGUAGES = frozenset({"python", "bash", "js", "html", "text", "json", "yaml"})

# (page, the reason its marker gives) for each block that is shown but not run.
NOT_RUN = [
    ("docs/browsers.md", "serves until Ctrl-C"),
    ("docs/browsers.md", "serves until Ctrl-C"),
    ("docs/text-backend.md", "needs an OpenAI-compatible server at that address"),
]

_FENCE = re.compile(r"^(?P<indent> *)(?P<ticks>`{3,})(?P<info>[^`]*)$")
_NO_RUN = re.compile(r"^\s*<!-- no-run: (?P<reason>.+?) -->\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the first line of code, counting from 1
    language: str
    code: str
    no_run: str | None  # why it is not run, when it is marked so


def blocks_of(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, indented ones (in tabs, admonitions) too."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        body_start = index + 1
        end = body_start
        while end < len(lines) and lines[end].rstrip() != indent + ticks:
            end += 1
        assert end < len(lines), f"{path.name}:{index + 1}: a fence is never closed"
        previous = lines[index - 1] if index else ""
        marker = _NO_RUN.match(previous)
        info = opening["info"].strip()
        found.append(
            Block(
                page=path.relative_to(ROOT).as_posix(),
                line=body_start + 1,
                language=info.split()[0] if info else "",
                code=textwrap.dedent("\n".join(lines[body_start:end])) + "\n",
                no_run=marker["reason"] if marker else None,
            )
        )
        index = end + 1
    return found


def runnable(path: Path) -> list[Block]:
    return [b for b in blocks_of(path) if b.language == "python" and b.no_run is None]


def run_page(path: Path) -> dict[str, Any]:
    """Run the page's blocks in order in one namespace; returns it. Each block is compiled
    with the page's name and line numbers, so a traceback points into the page."""
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for block in runnable(path):
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(path), "exec"), namespace)
    return namespace


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A page's surroundings: a temporary directory, the embedded engine; logging (levels and
    handlers of the root and of rxsubstrate's loggers) as it was, after."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)
    loggers = [logging.root, *map(logging.getLogger, ["rxsubstrate", *rxsubstrate_loggers()])]
    saved = [(logger, logger.level, logger.handlers[:]) for logger in loggers]
    try:
        yield
    finally:
        for logger, level, handlers in saved:
            logger.setLevel(level)
            logger.handlers[:] = handlers
        for name in set(rxsubstrate_loggers()) - {logger.name for logger in loggers}:
            logging.getLogger(name).setLevel(logging.NOTSET)  # made by the page
            logging.getLogger(name).handlers.clear()


def rxsubstrate_loggers() -> list[str]:
    return [name for name in logging.root.manager.loggerDict if name.startswith("rxsubstrate.")]


def close_left(namespace: dict[str, Any]) -> None:
    """Close the clients and engines a page left open."""
    for value in namespace.values():
        if isinstance(value, Substrate | Engine):
            value.close()


# -- what some pages are checked for, beyond running ------------------------------------------


def read_story(url: str, path: str = "/story") -> list[Any]:
    async def read() -> bytes:
        async with aiohttp.ClientSession() as session, session.get(url + path) as reply:
            assert reply.status == 200
            return await asyncio.wait_for(reply.read(), 10)

    return parse(asyncio.run(read()), 1 << 20).events


def serves_the_story_then_the_end(namespace: dict[str, Any]) -> None:
    """The page's proxies (a FastAPI ``app``, an aiohttp ``aiohttp_app``) send the story's text
    and then the end event, when served on loopback."""
    served = []
    if "app" in namespace:
        served.append(serve_on_loopback(namespace["app"]))
    if isinstance(namespace.get("aiohttp_app"), web.Application):
        served.append(serve_aiohttp_on_loopback(namespace["aiohttp_app"]))
    assert served
    for serving in served:
        with serving as url:
            events = read_story(url)
        assert [e.event for e in events[-1:]] == ["end"]
        assert events[-1].data == b"{}"
        assert b"".join(e.data for e in events[:-1])


def readme_quick_start_printed_the_run(namespace: dict[str, Any], printed: list[str]) -> None:
    assert printed[0].startswith("NodeDelta(")
    assert any(line.startswith("GraphResult(") for line in printed)
    answer = namespace["answer"]
    assert answer.node_id == namespace["b"].id
    # iterate() printed b's text chunk by chunk; run() gave the same text.
    assert printed.count(answer.data["text"]) == 2
    assert {line.split(" ")[0] for line in printed if line[:2] in ("a ", "b ")} == {"a", "b"}
    serves_the_story_then_the_end(namespace)


CHECKS: dict[str, Callable[[dict[str, Any], list[str]], None]] = {
    "README.md": readme_quick_start_printed_the_run,
    "docs/browsers.md": lambda namespace, _: serves_the_story_then_the_end(namespace),
}


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize(
    "path",
    [p for p in PAGES if runnable(p)],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_page_runs_as_written(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {}
    try:
        namespace = run_page(path)
        check = CHECKS.get(path.relative_to(ROOT).as_posix())
        if check is not None:
            check(namespace, capsys.readouterr().out.splitlines())
    finally:
        close_left(namespace)


def test_the_pages_have_python_to_run() -> None:
    assert len(PAGES) >= 10
    assert sum(len(runnable(p)) for p in PAGES) >= 40


def test_every_block_is_run_or_listed_as_not_run() -> None:
    blocks = [b for p in PAGES for b in blocks_of(p)]
    unknown = [f"{b.page}:{b.line} ({b.language or 'no language'})" for b in blocks]
    unknown = [u for u, b in zip(unknown, blocks, strict=True) if b.language not in LANGUAGES]
    assert not unknown, f"tag these fences with one of {sorted(LANGUAGES)}"
    not_run = sorted((b.page, b.no_run) for b in blocks if b.no_run is not None)
    assert not_run == sorted(NOT_RUN)
    marked_other = [b for b in blocks if b.no_run is not None and b.language != "python"]
    assert not marked_other, "only python blocks run: a no-run marker elsewhere says nothing"


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert {page for page in pages if f" {page}\n" not in nav} == set()


@pytest.mark.parametrize(
    "package",
    [rxsubstrate, rxsubstrate.ops, rxsubstrate.engine, rxsubstrate.server, rxsubstrate.web],
)
def test_the_api_reference_has_every_public_name(package: Any) -> None:
    """Each package's page renders it whole (``::: package``), or names each of its members."""
    page = (DOCS / "reference" / f"{package.__name__}.md").read_text(encoding="utf-8")
    if re.search(rf"^::: {re.escape(package.__name__)}$", page, re.MULTILINE):
        return
    named = set(re.findall(rf"^::: {re.escape(package.__name__)}\.(\w+)$", page, re.MULTILINE))
    assert set(package.__all__) - {"__version__"} - named == set()
