"""The sandbox processes a test can see from outside: children of a process, found in /proc.

/proc sends no notice, so the waits here poll it, each against a deadline that fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

from rxsubstrate import Box, Event, sb, serialize
from rxsubstrate.engine import DirectiveLimits, Engine


def sandbox_processes(parent: int | None = None) -> set[int]:
    """The pids of the live sandbox processes whose parent is ``parent`` (default: this one)."""
    parent = os.getpid() if parent is None else parent
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == parent and fields[0] != "Z" and b"_sandbox_worker" in command:
            found.add(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used (user + system), or -1 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def busy_sandbox_process() -> int:
    """The sandbox process that has started computing (its startup takes under 0.1 s of CPU)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        for pid in sandbox_processes():
            if cpu_seconds(pid) >= 0.3:
                return pid
        await asyncio.sleep(0.02)
    raise AssertionError("no sandbox process started computing within 20 s")


async def gone(pid: int) -> None:
    """Wait (at most 5 s) until sandbox process ``pid`` is gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while pid in sandbox_processes():
        assert loop.time() < deadline, f"sandbox process {pid} still runs"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def jq_loop_running() -> AsyncIterator[tuple[Engine, asyncio.Task[list[Event]], int]]:
    """A run of ``def f: f; f`` on an engine with a 60 s timeout: the engine, the task
    collecting the run's events, and the pid of the sandbox process computing the loop."""
    engine = Engine(directive_limits=DirectiveLimits(timeout=60))
    plan = await engine.prepare_async(serialize(Box(value=sb.jq(1, "def f: f; f"))))

    async def collect() -> list[Event]:
        return [event async for event in engine.execute(plan)]

    run = asyncio.create_task(collect())
    try:
        yield engine, run, await busy_sandbox_process()
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await engine.aclose()


class NewProcesses:
    """The sandbox processes started since this was made (engines of other tests that nobody
    closed may still have theirs until they are collected)."""

    def __init__(self) -> None:
        self._before = sandbox_processes()

    def __call__(self) -> set[int]:
        return sandbox_processes() - self._before
