"""A real browser on the proxy examples: headless Chromium loads the page from a loopback server
and runs it for 30 s of virtual time (timers run fast, a pending stream holds the clock).

The fixed proxy shows the run's whole text, and the server sees one run; the announcement's
endpoint with a page that never closes its ``EventSource`` sees a new run at every reconnect.
Skipped only where Chromium cannot be found (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, StreamingResponse

from rxsubstrate import ComputeText, Substrate
from rxsubstrate.engine import Engine
from tests.proxies import PROXIES, CountedRuns, graph_result_text, proxy_example
from tests.uvicorn_server import serve_on_loopback

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
BUDGET_MS = 30_000

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: install Debian's chromium (apt-get install -y chromium), "
    "as .ci/run does when it runs as root",
)


@pytest.fixture
def counted() -> CountedRuns:
    return CountedRuns()


@pytest.fixture
def substrate(counted: CountedRuns) -> Iterator[Substrate]:
    # Paced so that the page really streams: a chunk every 5 ms.
    with Substrate(engine=Engine(chunk_delay=0.005, text_generator=counted)) as client:
        yield client


def browse(url: str, tmp_path: Path) -> str:
    """The page's DOM once Chromium has run it for ``BUDGET_MS`` of virtual time."""
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={BUDGET_MS}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "</html>" in done.stdout, done.stderr[-2000:]
    return done.stdout


class _TextOf(HTMLParser):
    """The text content of the element with a given id."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self._id = element_id
        self._depth = 0
        self.text: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._depth:
            self._depth += 1
        elif ("id", self._id) in attrs:
            self._depth, self.text = 1, ""

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth and self.text is not None:
            self.text += data


def text_of(dom: str, element_id: str) -> str:
    parser = _TextOf(element_id)
    parser.feed(dom)
    assert parser.text is not None, f"no element #{element_id} in {dom[:500]}"
    return parser.text


@pytest.mark.parametrize("name", PROXIES)
def test_the_proxy_page_shows_the_runs_text_after_one_run(
    name: str, substrate: Substrate, counted: CountedRuns, tmp_path: Path
) -> None:
    with proxy_example(name, substrate) as (proxy, url):
        dom = browse(f"{url}/?prompt=lighthouses", tmp_path)
    assert counted.runs == 1
    assert text_of(dom, "status") == "done"
    assert text_of(dom, "story") == graph_result_text(substrate, proxy.story_node("lighthouses"))


# Pages that never close their EventSource: the events' JSON, or the proxy's plain text.
NAIVE_PAGE = """<!doctype html><html><pre id="story"></pre><script>
  const story = document.getElementById("story");
  const source = new EventSource("%s");
  source.onmessage = (e) => story.append(%s);
</script></html>"""
EVENTS = "JSON.parse(e.data).object === 'node.delta' ? JSON.parse(e.data).data.text : ''"


def test_the_announcement_endpoint_runs_again_at_every_reconnect(
    substrate: Substrate, counted: CountedRuns, tmp_path: Path
) -> None:
    app = FastAPI()

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(NAIVE_PAGE % ("qotd", EVENTS))

    @app.get("/qotd")
    def quote_of_the_day() -> StreamingResponse:  # the announcement's, as written
        quote = ComputeText(prompt="What's an inspirational quote of the day?", max_tokens=16)
        response = substrate.stream(quote)
        return StreamingResponse(response.iter_events(), media_type="text/event-stream")

    with serve_on_loopback(app) as url:
        dom = browse(f"{url}/", tmp_path)
    runs = counted.runs
    quote = ComputeText(prompt="What's an inspirational quote of the day?", max_tokens=16)
    # The browser reconnects about every 3 s of virtual time while the page is open, and
    # every reconnect is a run, whose text the page shows again.
    assert runs >= 5
    assert text_of(dom, "story").startswith(graph_result_text(substrate, quote) * (runs - 1))


def test_the_proxy_answers_a_reconnecting_page_without_a_second_run(
    substrate: Substrate, counted: CountedRuns, tmp_path: Path
) -> None:
    with proxy_example("fastapi_proxy", substrate) as (proxy, url):
        # The proxy's page, minus what closes its EventSource: the server alone stops it.
        proxy.PAGE = NAIVE_PAGE % ("story?prompt=glaciers", "e.data")
        dom = browse(f"{url}/", tmp_path)
    assert counted.runs == 1
    assert text_of(dom, "story") == graph_result_text(substrate, proxy.story_node("glaciers"))
