"""Every directive on a budget: time, memory, depth and size, each failing only its own node.

A query or template over budget costs the node that needed it an ``invalid_request_error`` whose
message says "over budget" and which budget; the engine, its other nodes and its later runs go
on. The budgets are small here (``TIMEOUT``) so a runaway is stopped within a second.
"""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from rxsubstrate import Box, ComputeText, NodeError, NodeResult, sb, serialize
from rxsubstrate.engine import DirectiveLimits, Engine, GraphInvalid

from .graphs import run
from .processes import gone, jq_loop_running

TIMEOUT = 0.5


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """One engine for the module: a worker that goes over budget is replaced for the next test."""
    engine = Engine(directive_limits=DirectiveLimits(timeout=TIMEOUT))
    yield engine
    engine.close()


async def outcomes(engine: Engine, *nodes: Box) -> dict[str, Any]:
    """Each node's result data, or its error as ``(type, message)``."""
    found: dict[str, Any] = {}
    for event in await run(engine, serialize(*nodes)):
        if isinstance(event, NodeResult):
            found[event.node_id] = event.data
        elif isinstance(event, NodeError):
            found[event.node_id] = (event.data.type, event.data.message)
    return found


def over_budget(outcome: Any, budget: str) -> bool:
    """Whether a node failed for going over ``budget`` (time, memory, depth, CPU time, size)."""
    if not (isinstance(outcome, tuple) and outcome[0] == "invalid_request_error"):
        return False
    if budget == "size":
        return "is over budget: its output would pass" in outcome[1]
    return f"over budget ({budget})" in outcome[1]


RUNAWAYS: dict[str, tuple[Any, set[str]]] = {
    "jq loop": (sb.jq(1, "def f: f; f"), {"time"}),
    "jq recursion (SIGABRT)": (sb.jq(1, "def f: [f]; f"), {"memory", "time"}),
    "jq range": (sb.jq(1, "[range(1e9)]"), {"memory", "time"}),
    "jinja loops": (
        sb.jinja(
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        ),
        {"time"},
    ),
    "jinja center": (sb.jinja("{{ 'x'|center(10**9) }}"), {"memory"}),
    "jinja doubling": (
        sb.jinja(
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}"
        ),
        {"memory", "time"},
    ),
    "jinja macro": (sb.jinja("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"), {"depth"}),
    "jinja output": (
        sb.jinja("{% for i in range(99999) %}{{ 'x' * 99999 }}{% endfor %}"),
        {"size"},
    ),
    "jq output": (sb.jq(1, '[range(3000) | "x" * 2000]'), {"size"}),
    "format widths": (sb.format("{x:99999}" * 10000, x=1), {"size"}),
}


async def test_runaway_directives_fail_their_own_nodes_only() -> None:
    """Every runaway in a run of its own, beside honest nodes, all at once on four processes."""
    engine = Engine(directive_limits=DirectiveLimits(timeout=TIMEOUT, workers=4))
    bad = {name: Box(value=directive) for name, (directive, _) in RUNAWAYS.items()}
    after = Box(value=bad["jq loop"].future.value)
    fine = Box(value=sb.jq({"a": [1, 2, 3]}, ".a | add"))
    text = ComputeText(prompt="windmills", max_tokens=3)
    graphs = [[node] for name, node in bad.items() if name != "jq loop"]
    graphs.append([after, fine, text])  # the jq loop with honest nodes in the same graph
    try:
        runs = await asyncio.gather(*(outcomes(engine, *nodes) for nodes in graphs))
    finally:
        await engine.aclose()
    got = {node_id: outcome for run in runs for node_id, outcome in run.items()}
    for name, (_, budgets) in RUNAWAYS.items():
        outcome = got[bad[name].id]
        assert any(over_budget(outcome, budget) for budget in budgets), (name, outcome)
    assert got[after.id][0] == "dependency_error"
    assert got[fine.id] == {"value": 6}
    assert "text" in got[text.id]


async def test_one_run_full_of_runaways_holds_one_sandbox_process(engine: Engine) -> None:
    """Two runaways in one graph take their turns; another run's directive meanwhile gets the
    other process at once."""
    loops = [Box(value=sb.jq(n, "def f: f; f")) for n in range(2)]
    hostile = asyncio.create_task(outcomes(engine, *loops))
    honest = Box(value=sb.jq({"n": 1}, ".n"))
    got = await outcomes(engine, honest)
    assert got == {honest.id: {"value": 1}}
    assert not hostile.done()
    assert all(over_budget(outcome, "time") for outcome in (await hostile).values())


async def test_a_worker_that_aborts_is_replaced_for_the_next_run() -> None:
    """jq aborts the process (SIGABRT) when it runs out of memory."""
    limits = DirectiveLimits(timeout=30, memory=64 * 1024 * 1024)
    engine = Engine(directive_limits=limits)
    try:
        crash = Box(value=sb.jq(1, "def f: [f]; f"))
        assert over_budget((await outcomes(engine, crash))[crash.id], "memory")
        again = Box(value=sb.jq({"n": 41}, ".n + 1"))
        assert (await outcomes(engine, again))[again.id] == {"value": 42}
    finally:
        await engine.aclose()


async def test_repetition_of_tuples_is_refused_like_strings_and_lists(engine: Engine) -> None:
    tuples = Box(value=sb.jinja("{{ ((1,) * 200000000)|length }}"))
    message = (await outcomes(engine, tuples))[tuples.id][1]
    assert "the repeated value would be too long" in message


@pytest.mark.parametrize("levels", [3, 4])
async def test_nested_concats_of_a_repeated_future_fail_fast_with_little_memory(
    engine: Engine, levels: int
) -> None:
    """1000 x 1000 x 1000 copies of a 1 KB future asked for 1 GB (1 TB at four levels)."""
    source = Box(value="x" * 1000)
    value: Any = source.future.value
    for _ in range(levels):
        value = sb.concat(*([value] * 1000))
    bomb = Box(value=value)
    tracemalloc.start()
    try:
        got = await outcomes(engine, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert over_budget(got[bomb.id], "size")
    assert peak < 64 * 1024 * 1024


async def test_a_future_repeated_in_a_nodes_arguments_is_counted_before_it_is_copied(
    engine: Engine,
) -> None:
    big = Box(value="y" * 3_000_000)
    copies = Box(value=[big.future.value] * 1000)
    tracemalloc.start()
    try:
        got = await outcomes(engine, copies)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got[copies.id] == (
        "invalid_request_error",
        "argument substitution is over budget: its output would pass 16,777,216 characters",
    )
    assert peak < 64 * 1024 * 1024


async def test_the_size_budgets_are_the_engines_to_choose() -> None:
    engine = Engine(directive_limits=DirectiveLimits(value_size=100, args_size=1000))
    try:
        joined = Box(value=sb.concat("x" * 60, "y" * 60))
        shown = Box(value=sb.jinja("{{ s }}{{ s }}", s="z" * 60))
        fits = Box(value=sb.format("{a}{a}", a="w" * 40))
        got = await outcomes(engine, joined, shown, fits)
    finally:
        await engine.aclose()
    assert over_budget(got[joined.id], "size")
    assert "would pass 100 characters" in got[joined.id][1]
    assert over_budget(got[shown.id], "size")
    assert got[fits.id] == {"value": "w" * 80}


def test_a_template_too_deep_to_compile_is_refused_before_running(engine: Engine) -> None:
    deep = Box(value=sb.jinja("{{" + "(" * 1000 + "1" + ")" * 1000 + "}}"))
    with pytest.raises(GraphInvalid, match=r"does not compile: over budget \(depth\)"):
        engine.prepare(serialize(deep))


async def test_compiling_happens_off_the_loop_and_on_budget(engine: Engine) -> None:
    fine = serialize(Box(value=sb.jinja("{% for x in xs %}{{ x }}{% endfor %}", xs=[1])))
    assert (await engine.prepare_async(fine)).futures
    with pytest.raises(GraphInvalid, match=r"over budget \(time\)"):
        await engine.prepare_async(
            serialize(Box(value=sb.jinja("{{ " + "+".join(["1"] * 1_000_000) + " }}")))
        )


async def test_a_cancelled_run_kills_the_worker_evaluating_for_it() -> None:
    async with jq_loop_running() as (_engine, run, worker):
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        await gone(worker)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="timeout"):
        DirectiveLimits(timeout=0)
    with pytest.raises(ValueError, match="workers"):
        DirectiveLimits(workers=0)
    with pytest.raises(ValueError, match="memory"):
        DirectiveLimits(memory=1024)
    limits = DirectiveLimits(timeout=2.5)
    assert limits.cpu_seconds == 4
    assert Engine(directive_limits=limits).directive_limits is limits
    assert json.dumps(Engine().directive_limits.value_size) == str(4 * 1024 * 1024)
