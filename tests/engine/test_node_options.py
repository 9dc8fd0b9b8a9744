"""What the official SDK sends besides a node's arguments is accepted and honoured: ``cache_age``
and ``cache_keys`` (the engine's result cache) and ``max_retries``, whether given as the SDK's
``_cache_age=`` (beside ``args``) or as plain ``cache_age=`` (inside ``args``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from substrate import Box, ComputeText, sb

from rxsubstrate import ErrorData, Event, GraphResult, NodeDelta, NodeError, NodeResult
from rxsubstrate.engine import Engine, EngineLimits, GraphInvalid, InvalidNodeArgs, NodeContext
from rxsubstrate.engine._cache import ResultCache
from tests.wire import graph, node, ref, trace

from .graphs import run, serialize


def results(events: list[Event]) -> dict[str, Any]:
    return {e.node_id: e.data for e in events if isinstance(e, NodeResult)}


def errors(events: list[Event]) -> dict[str, ErrorData]:
    return {e.node_id: e.data for e in events if isinstance(e, NodeError)}


def test_the_sdk_sends_options_inside_args_or_beside_them() -> None:
    plain = ComputeText(prompt="hi", cache_age=60, cache_keys=["prompt"], max_retries=2)
    spelled = ComputeText(prompt="hi", _cache_age=60, _cache_keys=["prompt"], _max_retries=2)
    by_id = {n["id"]: n for n in serialize(plain, spelled)["nodes"]}
    inside, beside = by_id[plain.id], by_id[spelled.id]
    assert {k: inside["args"][k] for k in ("cache_age", "cache_keys", "max_retries")} == {
        "cache_age": 60,
        "cache_keys": ["prompt"],
        "max_retries": 2,
    }
    assert (beside["_cache_age"], beside["_cache_keys"], beside["_max_retries"]) == (
        60,
        ["prompt"],
        2,
    )


async def test_a_mixture_of_agents_graph_as_the_sdk_example_builds_it_runs() -> None:
    # The SDK's own example passes **{"cache_age": ...} to every ComputeText. Before: 400
    # "unknown argument 'cache_age'", which the SDK shows only as "Node ... not found".
    opts = {"cache_age": 60 * 60 * 24 * 7}
    models = ["Mistral7BInstruct", "Mixtral8x7BInstruct", "Llama3Instruct8B"]
    layer = Box(
        value=[
            ComputeText(prompt="why is the sky blue?", model=m, max_tokens=8, **opts).future.text
            for m in models
        ]
    )
    final = ComputeText(
        prompt=sb.concat("combine: ", layer.future.value), max_tokens=8, **opts
    ).subscribe()
    events = await run(Engine(), serialize(final))
    assert not errors(events)
    assert isinstance(events[-1], GraphResult)
    assert events[-1].outputs[final.id]["text"]


def counting_engine(**limits: Any) -> tuple[Engine, list[dict[str, Any]]]:
    """An engine whose ComputeText streams "<prompt>#<call number>" and records each call."""
    engine = Engine(limits=EngineLimits(**limits))
    calls: list[dict[str, Any]] = []

    @engine.node("ComputeText")
    async def compute(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        calls.append(args)
        yield {"text": f"{args['prompt']}#{len(calls)}"}

    return engine, calls


@pytest.mark.parametrize("where", ["args", "beside"])
async def test_cache_age_reuses_a_result_across_runs(where: str) -> None:
    engine, calls = counting_engine()

    def dag(prompt: str, temperature: float = 0.4) -> dict[str, Any]:
        spec = node("t", "ComputeText", prompt=prompt, temperature=temperature)
        if where == "args":
            spec["args"]["cache_age"] = 60
        else:
            spec["_cache_age"] = 60
        return graph(spec)

    first = await run(engine, dag("hi"))
    again = await run(engine, dag("hi"))
    other = await run(engine, dag("ho"))
    assert results(first)["t"] == results(again)["t"] == {"text": "hi#1"}
    assert [e for e in again if isinstance(e, NodeDelta)] == []  # answered from the cache
    assert results(other)["t"] == {"text": "ho#2"}
    await run(engine, dag("hi", temperature=0.9))  # every argument is in the key by default
    assert len(calls) == 3
    assert "cache_age" not in calls[0]  # an option, not an argument


async def test_cache_keys_name_the_arguments_that_make_the_key() -> None:
    engine, calls = counting_engine()

    def dag(temperature: float) -> dict[str, Any]:
        text = ComputeText(
            prompt="hi", temperature=temperature, _cache_age=60, _cache_keys=["prompt"]
        )
        return serialize(text)

    await run(engine, dag(0.1))
    await run(engine, dag(0.9))
    assert len(calls) == 1


async def test_without_cache_age_nothing_is_reused() -> None:
    engine, calls = counting_engine()
    for _ in range(2):
        await run(engine, serialize(ComputeText(prompt="hi")))
    await run(engine, serialize(ComputeText(prompt="hi", _cache_age=0)))
    assert len(calls) == 3


def test_the_cache_forgets_what_is_older_than_the_age_asked_for() -> None:
    now = [100.0]
    cache = ResultCache(entries=10, size=10_000, clock=lambda: now[0])
    key = ResultCache.key("impl", "ComputeText", {"prompt": "hi"}, None)
    cache.put(key, {"text": "kept"})
    now[0] = 130.0
    assert cache.get(key, 60) == {"text": "kept"}
    assert cache.get(key, 10) is None  # too old for this reader: and forgotten
    assert cache.get(key, 60) is None


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = ResultCache(entries=3, size=1_000)
    keys = [ResultCache.key("impl", "K", {"n": n}, None) for n in range(5)]
    for n, key in enumerate(keys):
        cache.put(key, {"n": n})
    assert [cache.get(key, 60) is not None for key in keys] == [False, False, True, True, True]
    big = ResultCache.key("impl", "K", {"n": "big"}, None)
    cache.put(big, {"text": "x" * 600})  # most of the bytes: pushes out what it must
    assert cache.get(big, 60) == {"text": "x" * 600}
    assert [cache.get(key, 60) is not None for key in keys[2:]] == [False, False, True]
    huge = ResultCache.key("impl", "K", {"n": "huge"}, None)
    cache.put(huge, {"text": "x" * 2_000})  # larger than the whole cache: not kept
    assert cache.get(huge, 60) is None


def flaky_engine(failures: int, *, stream_first: bool = False) -> tuple[Engine, list[int]]:
    engine = Engine()
    attempts: list[int] = []

    @engine.node("Flaky")
    async def flaky(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        attempts.append(len(attempts) + 1)
        if stream_first:
            yield {"text": "partial "}
        if len(attempts) <= failures:
            raise RuntimeError(f"upstream hiccup {len(attempts)}")
        yield {"text": "done"}

    return engine, attempts


async def test_max_retries_runs_a_failed_implementation_again() -> None:
    engine, attempts = flaky_engine(failures=2)
    dag = graph({**node("f", "Flaky"), "_max_retries": 2})
    events = await run(engine, dag)
    assert results(events) == {"f": {"text": "done"}}
    assert attempts == [1, 2, 3]


async def test_retries_run_out() -> None:
    engine, attempts = flaky_engine(failures=5)
    events = await run(engine, graph({**node("f", "Flaky"), "_max_retries": 1}))
    assert errors(events) == {"f": ErrorData("api_error", "upstream hiccup 2")}
    assert attempts == [1, 2]


async def test_no_retry_once_a_delta_was_sent() -> None:
    engine, attempts = flaky_engine(failures=1, stream_first=True)
    events = await run(engine, graph({**node("f", "Flaky"), "_max_retries": 3}))
    assert errors(events) == {"f": ErrorData("api_error", "upstream hiccup 1")}
    assert attempts == [1]


async def test_no_retry_of_the_clients_own_mistake() -> None:
    engine = Engine()
    attempts = []

    @engine.node("Picky")
    async def picky(args: dict[str, Any], context: NodeContext) -> dict[str, Any]:
        attempts.append(1)
        raise InvalidNodeArgs("no")

    events = await run(engine, graph({**node("p", "Picky"), "_max_retries": 3}))
    assert errors(events) == {"p": ErrorData("invalid_request_error", "no")}
    assert attempts == [1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"_max_retries": 11},
            "t: option 'max_retries' is 11; this engine retries at most 10 times",
        ),
        ({"_cache_age": -1}, "t: option 'cache_age' must be a whole number >= 0, got -1"),
        ({"args_cache_age": "1h"}, "t: option 'cache_age' must be a whole number >= 0, got '1h'"),
        ({"args_cache_keys": "prompt"}, "t: option 'cache_keys' must be a list of strings"),
        ({"args_max_retries": ref("f")}, "t: option 'max_retries' must be a value, not a future"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    spec = node("t", "ComputeText", prompt="hi")
    for name, value in options.items():
        if name.startswith("args_"):
            spec["args"][name.removeprefix("args_")] = value
        else:
            spec[name] = value
    dag = graph(spec, node("b", "Box", value=1), futures=(trace("f", "b"),))
    with pytest.raises(GraphInvalid) as caught:
        Engine().prepare(dag)
    assert caught.value.message == message


async def test_a_cached_node_and_its_dependents() -> None:
    # A cached result feeds its dependents like a computed one.
    engine, calls = counting_engine()
    source = ComputeText(prompt="hi", _cache_age=60)
    reader = Box(value=source.future.text)
    for _ in range(2):
        events = await run(engine, serialize(reader))
        assert results(events)[reader.id] == {"value": "hi#1"}
    assert len(calls) == 1
