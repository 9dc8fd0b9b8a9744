"""The engine works without its extra (jinja2, jq); only graphs that use them need it.

``Substrate()`` runs on this engine after a plain ``pip install rxsubstrate``, so a missing extra
must cost only the directives that need it, with a message that says how to get them.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rxsubstrate import APIStatusError, Box, ComputeText, Node, NodeError, NodeResult, sb, serialize
from rxsubstrate.engine import Engine, GraphInvalid, NodeContext

from .graphs import run


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Any:
    def hide(*modules: str) -> None:
        for name in modules:
            monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail

    return hide


async def test_graphs_without_jq_or_jinja_run_without_them(without: Any) -> None:
    without("jq", "jinja2", "rxsubstrate.engine._jinja")
    a = ComputeText(prompt="windmills", max_tokens=5)
    b = Box(
        value={"said": sb.concat("a: ", a.future.text), "f": sb.format("{x}!", x=a.future.text)}
    )
    events = await run(Engine(), serialize(a, b))
    assert sum(isinstance(e, NodeResult) for e in events) == 2


@pytest.mark.parametrize(
    ("hidden", "make", "words"),
    [
        (("jq",), lambda a: sb.jq(a.future, ".text"), "jq directive needs the jq package"),
        (
            ("jinja2", "rxsubstrate.engine._jinja"),
            lambda a: sb.jinja("{{ t }}", t=a.future.text),
            "jinja directive needs the jinja2 package",
        ),
    ],
)
def test_a_graph_needing_a_missing_extra_is_refused_before_running(
    without: Any, hidden: tuple[str, ...], make: Any, words: str
) -> None:
    without(*hidden)
    a = ComputeText(prompt="windmills", max_tokens=5)
    with pytest.raises(GraphInvalid, match=words) as info:
        Engine().prepare(serialize(a, Box(value=make(a))))
    assert "pip install 'rxsubstrate[engine]'" in info.value.message


def test_importing_the_engine_loads_neither_extra() -> None:
    code = "import sys, rxsubstrate.engine; print(sorted({'jq', 'jinja2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_an_upstream_http_status_reaches_the_node_error() -> None:
    engine = Engine()

    @engine.node("Upstream")
    async def upstream(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        yield {"text": "par"}
        raise APIStatusError(503, "model overloaded")

    @engine.node("Plain")
    async def plain(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        raise RuntimeError("no status here")

    upstream_node, plain_node = Node("Upstream"), Node("Plain")
    events = await run(engine, serialize(upstream_node, plain_node))
    failed = {e.node_id: e.data for e in events if isinstance(e, NodeError)}
    assert failed[upstream_node.id].status_code == 503
    assert "model overloaded" in failed[upstream_node.id].message
    assert failed[plain_node.id].status_code is None
