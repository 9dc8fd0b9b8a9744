"""The sandbox processes that evaluate jq and jinja come and go with the engine.

Nothing starts for a graph without jq or jinja; ``close()`` (and the server's cleanup, and the
embedded client's ``close()``) stops them; an engine nobody closes stops them at exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from rxsubstrate import Box, ComputeText, NodeError, NodeResult, Substrate, sb, serialize
from rxsubstrate.engine import Engine

from .graphs import run
from .processes import NewProcesses, gone, jq_loop_running


async def test_a_plain_graph_starts_no_sandbox_process() -> None:
    started = NewProcesses()
    engine = Engine()
    text = ComputeText(prompt="windmills", max_tokens=3)
    await run(engine, serialize(Box(value=sb.concat("<", text.future.text, ">"))))
    assert started() == set()


async def test_close_stops_the_sandbox_processes_and_the_engine_starts_them_again() -> None:
    started = NewProcesses()
    engine = Engine()
    graph = serialize(Box(value=sb.jq([1, 2], "add")), Box(value=sb.jinja("{{ 3 * 3 }}")))
    await run(engine, graph)
    assert started() != set()
    await engine.aclose()
    assert started() == set()
    again = Box(value=sb.jq([1, 2], "add"))
    (result,) = [e for e in await run(engine, serialize(again)) if isinstance(e, NodeResult)]
    assert result.data == {"value": 3}
    engine.close()
    assert started() == set()


def test_the_embedded_client_leaves_no_process_behind() -> None:
    started = NewProcesses()
    with Substrate() as client:
        counted = Box(value=sb.jq({"a": [1, 2]}, ".a | length"))
        assert client.run(counted).outputs[counted.id] == {"value": 2}
        assert started() != set()
    assert started() == set()


def test_an_engine_never_closed_leaves_no_process_and_no_warning_at_exit() -> None:
    script = (
        "import asyncio, os\n"
        "from rxsubstrate import Box, sb, serialize\n"
        "from rxsubstrate.engine import Engine\n"
        "from tests.engine.processes import sandbox_processes\n"
        "engine = Engine()\n"
        "async def main():\n"
        "    dag = serialize(Box(value=sb.jq(1, '. + 1')))\n"
        "    return [e async for e in engine.execute(await engine.prepare_async(dag))]\n"
        "asyncio.run(main())\n"
        "print(sorted(sandbox_processes()), flush=True)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    pids = json.loads(done.stdout)
    assert pids
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]


async def test_a_worker_killed_from_outside_is_replaced() -> None:
    started = NewProcesses()
    engine = Engine()
    try:
        graph = serialize(Box(value=sb.jq({"n": 1}, ".n + 1")))
        await run(engine, graph)
        idle = started()
        for pid in idle:
            os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
            await gone(pid)
        events = await run(engine, graph)
        assert [e.data for e in events if isinstance(e, NodeResult)] == [{"value": 2}]
        assert started().isdisjoint(idle)
    finally:
        await engine.aclose()


async def test_a_worker_killed_from_outside_mid_task_fails_only_that_node() -> None:
    async with jq_loop_running() as (engine, looping, worker):
        os.kill(worker, signal.SIGKILL)
        events = await asyncio.wait_for(looping, 10)
        (failure,) = [e for e in events if isinstance(e, NodeError)]
        assert failure.data.type == "invalid_request_error"
        assert "over budget" in failure.data.message
        assert "signal 9" in failure.data.message
        again = serialize(Box(value=sb.jq({"n": 1}, ".n + 1")))
        events = await run(engine, again)
        assert [e.data for e in events if isinstance(e, NodeResult)] == [{"value": 2}]
