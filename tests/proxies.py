"""What the tests of proxies to browsers share: runs counted where the engine makes their text,
the proxy examples loaded as modules, and their apps served on loopback."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from rxsubstrate import ComputeText, GraphResult, Substrate
from rxsubstrate.engine import generate_text
from tests.aiohttp_server import serve_aiohttp_on_loopback
from tests.uvicorn_server import serve_on_loopback

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROXIES = ["fastapi_proxy", "aiohttp_proxy"]


class CountedRuns:
    """The engine's text generator, counting the runs (of one text node each) that reach it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs = 0

    def __call__(self, prompt: str, *, seed: bytes, max_tokens: int) -> Iterable[str]:
        with self._lock:
            self.runs += 1
        return generate_text(prompt, seed=seed, max_tokens=max_tokens)


def example(name: str) -> ModuleType:
    """``examples/<name>.py``, imported afresh."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def proxy_example(name: str, substrate: Substrate) -> Iterator[tuple[ModuleType, str]]:
    """The example's app for ``substrate``, served on loopback: the module and the base URL."""
    proxy = example(name)
    app = proxy.create_app(substrate)
    serving = serve_on_loopback(app) if name == "fastapi_proxy" else serve_aiohttp_on_loopback(app)
    with serving as url:
        yield proxy, url


def graph_result_text(substrate: Substrate, node: ComputeText) -> str:
    """The text in the graph.result of a run of ``node`` (the engine is deterministic)."""
    *_, last = substrate.stream(node).iter()
    assert isinstance(last, GraphResult)
    text: str = last.outputs[node.id]["text"]
    return text
