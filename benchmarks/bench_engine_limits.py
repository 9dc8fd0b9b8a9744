"""What hostile graphs cost the engine: time, peak memory, the longest the loop was held.

Each attack runs in a fresh process (so its peak RSS is its own, and one that runs away is
stopped at the deadline): the graph is prepared and run on an in-process ``Engine`` while a
ticker task measures the longest gap between its turns on the loop. A last section starts the
server in a process of its own, sends 30 streaming requests for 1,000-node graphs from clients
that never read, and reports the server's resident memory.

Run from the repository root: ``python benchmarks/bench_engine_limits.py [--quick]``. It prints
figures; it asserts nothing. Pointed at another checkout (``PYTHONPATH=../old python
benchmarks/bench_engine_limits.py``) it measures that one, for a before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Final

PLACEHOLDER: Final = "__$$SB_GRAPH_OP_ID$$__"
DEADLINE: Final = 60.0


def _node(node_id: str, kind: str, **args: Any) -> dict[str, Any]:
    return {"id": node_id, "node": kind, "args": args, "_should_output_globally": True}


def _chained_futures(nodes: int, futures: int) -> dict[str, Any]:
    chain = [{"id": "f0", "directive": {"type": "trace", "op_stack": [], "origin_node_id": "n0"}}]
    chain += [
        {
            "id": f"f{i}",
            "directive": {
                "type": "string-concat",
                "items": [{"future_id": f"f{i - 1}", "val": None}],
            },
        }
        for i in range(1, futures)
    ]
    readers = [
        _node(f"n{i}", "Box", value={PLACEHOLDER: f"f{futures - 1}"}) for i in range(1, nodes)
    ]
    return {"nodes": [_node("n0", "Box", value=1), *readers], "futures": chain}


def _allof_chain(levels: int) -> dict[str, Any]:
    defs: dict[str, Any] = {
        "d0": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}
    }
    for level in range(1, levels + 1):
        defs[f"d{level}"] = {"allOf": [{"$ref": f"#/$defs/d{level - 1}"}] * 2}
    return {"$ref": f"#/$defs/d{levels}", "$defs": defs}


def _json_node(schema: Any, kind: str = "ComputeJSON", **args: Any) -> dict[str, Any]:
    return {"nodes": [_node("j", kind, prompt="p", json_schema=schema, **args)]}


ATTACKS: Final = (
    "plan: 1,000 nodes on 98,000 chained futures",
    "json: allOf chain, 25 levels (1.9 KB)",
    "json: 99x100 strings of 10,000, 8 choices",
    'json: {"anyOf":[{"$ref":"#"}]}',
    "batch: BatchComputeText, 2,000 prompts",
    "batch: the same, prompt limit raised to 2,000",
    "args: max_tokens = 2.0**53 (a float)",
    "concat: a future inside val",
)


def attacks(quick: bool) -> dict[str, tuple[dict[str, Any], bool, dict[str, int]]]:
    """Each attack's graph, whether it is only prepared (not run), and the limits it raises
    (so that what is measured is the work, not a refusal; a checkout without limits ignores
    them). Built in the attack's own process only: a fork copies what its parent holds."""
    batch = {"nodes": [_node("b", "BatchComputeText", prompts=[f"p{i}" for i in range(2000)])]}
    long_strings = {
        "type": "array",
        "minItems": 100,
        "items": {"type": "string", "minLength": 10_000},
    }
    return {
        "plan: 1,000 nodes on 98,000 chained futures": (
            _chained_futures(1000, 9_800 if quick else 98_000),
            True,
            {"max_futures": 100_000, "max_future_depth": 100_000},
        ),
        "json: allOf chain, 25 levels (1.9 KB)": (
            _json_node(_allof_chain(18 if quick else 25)),
            False,
            {},
        ),
        "json: 99x100 strings of 10,000, 8 choices": (
            _json_node(
                {"type": "array", "minItems": 99, "items": long_strings},
                "MultiComputeJSON",
                num_choices=8,
            ),
            False,
            {},
        ),
        'json: {"anyOf":[{"$ref":"#"}]}': (_json_node({"anyOf": [{"$ref": "#"}]}), False, {}),
        "batch: BatchComputeText, 2,000 prompts": (batch, False, {}),
        "batch: the same, prompt limit raised to 2,000": (
            batch,
            False,
            {"max_batch_prompts": 2000},
        ),
        "args: max_tokens = 2.0**53 (a float)": (
            {"nodes": [_node("t", "ComputeText", prompt="x", max_tokens=2.0**53)]},
            True,
            {},
        ),
        "concat: a future inside val": (
            {
                "nodes": [_node("a", "Box", value={PLACEHOLDER: "c"})],
                "futures": [
                    {
                        "id": "c",
                        "directive": {
                            "type": "string-concat",
                            "items": [{"future_id": None, "val": {PLACEHOLDER: "missing"}}],
                        },
                    }
                ],
            },
            False,
            {},
        ),
    }


def _engine(raised: dict[str, int]) -> Any:
    import rxsubstrate.engine
    from rxsubstrate.engine import Engine

    # Checkouts name it EngineLimits, or Limits (before the rename), or have none (before
    # limits existed: their defaults are their only settings).
    limits = getattr(rxsubstrate.engine, "EngineLimits", None) or getattr(
        rxsubstrate.engine, "Limits", None
    )
    return Engine() if limits is None else Engine(limits=limits(**raised))


async def _attack(
    dag: dict[str, Any], prepare_only: bool, raised: dict[str, int]
) -> dict[str, Any]:
    from rxsubstrate import NodeDelta, NodeError

    engine = _engine(raised)
    engine.prepare({"nodes": []})  # loads the reference before anything is timed
    loop = asyncio.get_running_loop()
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = loop.time()
        while not done:
            await asyncio.sleep(0)
            now = loop.time()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    start = time.perf_counter()
    outcome, deltas = "ok", 0
    try:
        plan = engine.prepare(dag)
        if not prepare_only:
            async for event in engine.execute(plan):
                if isinstance(event, NodeDelta):
                    deltas += 1
                elif isinstance(event, NodeError):
                    outcome = f"{event.data.type}: {event.data.message}"
    except Exception as exc:  # the figure to report, whatever it is
        outcome = f"{type(exc).__name__}: {exc}"
    elapsed = time.perf_counter() - start
    done = True
    await ticker
    return {"seconds": elapsed, "longest_stall": longest, "deltas": deltas, "outcome": outcome}


def _child(name: str, quick: bool) -> None:
    dag, prepare_only, raised = attacks(quick)[name]
    print(json.dumps(asyncio.run(_attack(dag, prepare_only, raised))))


def run_attack(name: str, quick: bool) -> dict[str, Any]:
    """One attack in a fresh process, stopped at the deadline; its figures and peak RSS."""
    command = [sys.executable, __file__, "--child", name] + (["--quick"] if quick else [])
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    start, killed = time.monotonic(), False
    while True:  # os.wait4, not poll(): it also gives the child's own peak RSS
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - start > DEADLINE and not killed:
            child.kill()
            killed = True
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    output = child.stdout.read() if child.stdout else ""
    if child.stdout:
        child.stdout.close()
    figures: dict[str, Any] = (
        {
            "seconds": DEADLINE,
            "longest_stall": DEADLINE,
            "deltas": None,
            "outcome": "killed at deadline",
        }
        if killed or not output.strip()
        else json.loads(output.strip().splitlines()[-1])
    )
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    return figures


def _rss_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def _serve() -> None:
    """The server child: an app on the engine, on a free loopback port; stops when stdin closes."""
    from aiohttp import web

    from rxsubstrate.engine import Engine
    from rxsubstrate.server import create_app

    async def main() -> None:
        runner = web.AppRunner(create_app(Engine()), handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


def stalled_clients(clients: int, nodes: int) -> dict[str, float]:
    """The server's RSS while ``clients`` streaming runs of ``nodes`` text nodes go unread."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split()[1])
    dag = {"nodes": [_node(f"n{i}", "ComputeText", prompt=f"story {i}") for i in range(nodes)]}
    body = json.dumps({"dag": dag}).encode()
    head = (
        f"POST /compose HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sockets = []
    try:
        time.sleep(0.5)
        before = _rss_mb(server.pid, "VmRSS:")
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(head + body)
            sockets.append(sock)  # never read
        last, steady_since, start = 0.0, time.monotonic(), time.monotonic()
        while time.monotonic() - start < 30 and time.monotonic() - steady_since < 3:
            time.sleep(0.25)
            now = _rss_mb(server.pid, "VmRSS:")
            if abs(now - last) > 1:
                last, steady_since = now, time.monotonic()
        return {"before_mb": before, "steady_mb": last, "peak_mb": _rss_mb(server.pid, "VmHWM:")}
    finally:
        for sock in sockets:
            sock.close()
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller attacks, fewer clients")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.quick)
        return
    if args.serve:
        _serve()
        return
    import rxsubstrate

    print(f"rxsubstrate from {os.path.dirname(rxsubstrate.__file__)}")
    print("| attack | outcome | seconds | longest loop stall s | deltas | peak RSS MB |")
    print("|:---|:---|---:|---:|---:|---:|")
    for name in ATTACKS:
        f = run_attack(name, args.quick)
        outcome = f["outcome"] if len(f["outcome"]) <= 90 else f["outcome"][:87] + "..."
        print(
            f"| {name} | {outcome} | {f['seconds']:.3f} | {f['longest_stall']:.3f} |"
            f" {f['deltas']} | {f['peak_rss_mb']:.0f} |"
        )
    clients, nodes = (5, 200) if args.quick else (30, 1000)
    memory = stalled_clients(clients, nodes)
    print(
        f"\n{clients} streaming clients that never read, {nodes}-node graphs each: server RSS"
        f" {memory['before_mb']:.0f} MB before, {memory['steady_mb']:.0f} MB once steady,"
        f" peak {memory['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
