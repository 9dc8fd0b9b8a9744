"""Programs written against the official SDK run with only the import changed.

Each test writes, in its own words, a pattern that the SDK's published examples use, and runs it
on the embedded engine (``Substrate()``) or on a loopback server that records what it received.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import traceback
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

import rxsubstrate.nodes
from rxsubstrate import (
    Box,
    ComputeText,
    NodeError,
    NodeFailed,
    NodeResult,
    RunPython,
    Secrets,
    Substrate,
    SubstrateError,
    sb,
)
from rxsubstrate.engine import Engine, NodeContext

from .replay_server import ReplayServer, Reply, seed_events, sse

with warnings.catch_warnings():  # the SDK's pydantic models warn on import
    warnings.simplefilter("ignore")
    import substrate.nodes as sdk_nodes
    from substrate.core.corenode import CoreNode

OPENAI_KEY = "sk-openai-never-shown-0123"
ANTHROPIC_KEY = "sk-ant-never-shown-4567"


@pytest.fixture(autouse=True)
def no_substrate_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUBSTRATE_API_KEY", raising=False)
    monkeypatch.delenv("SUBSTRATE_BASE_URL", raising=False)


# -- a prompt chosen with `... if previous else ...` ------------------------------------------


def answer_in_layers(question: str, layers: int) -> list[Box]:
    """Each layer's prompt builds on the previous layer's answer, once there is one."""
    previous = None
    boxes = []
    for _ in range(layers):
        prompt = (
            sb.concat("question: ", question, "\nearlier answer: ", previous)
            if previous
            else question
        )
        answer = ComputeText(prompt=prompt, max_tokens=4)
        box = Box(value={"prompt": prompt, "answer": answer.future.text})
        previous = sb.jq(box.future.value, ".answer")
        boxes.append(box)
    return boxes


def test_a_prompt_chosen_by_whether_a_future_exists_runs() -> None:
    boxes = answer_in_layers("why do windmills turn?", 3)
    with Substrate() as substrate:
        result = substrate.run(*boxes)
    values = [result.get(box).value for box in boxes]
    assert values[0]["prompt"] == "why do windmills turn?"
    for earlier, later in itertools.pairwise(values):
        assert later["prompt"] == (
            f"question: why do windmills turn?\nearlier answer: {earlier['answer']}"
        )
        assert earlier["answer"]


# -- secrets -----------------------------------------------------------------------------------


def test_secrets_travel_as_the_sdks_headers_on_streamed_and_plain_runs() -> None:
    events = seed_events()
    with ReplayServer(Reply(chunks=[sse(*(json.dumps(e).encode() for e in events))])) as server:
        secrets = Secrets(openai=OPENAI_KEY, anthropic=ANTHROPIC_KEY)
        with Substrate(
            "key",
            server.url,
            secrets=secrets,
            additional_headers={"x-substrate-openai-api-key": "overridden", "x-trace": "1"},
        ) as substrate:
            list(substrate.stream(ComputeText(prompt="p")).iter())
            assert OPENAI_KEY not in repr(substrate)
    (seen,) = server.requests
    assert seen.headers["x-substrate-openai-api-key"] == OPENAI_KEY  # secrets win, as in the SDK
    assert seen.headers["x-substrate-anthropic-api-key"] == ANTHROPIC_KEY
    assert seen.headers["x-trace"] == "1"


def test_only_the_keys_that_are_set_are_sent() -> None:
    secrets = Secrets(anthropic=ANTHROPIC_KEY)
    with (
        ReplayServer(
            Reply(chunks=[b'{"data": {}}'], headers={"Content-Type": "application/json"})
        ) as server,
        Substrate("key", server.url, secrets=secrets) as substrate,
    ):
        substrate.run(ComputeText(prompt="p"))
    (seen,) = server.requests
    assert seen.headers["x-substrate-anthropic-api-key"] == ANTHROPIC_KEY
    assert "x-substrate-openai-api-key" not in seen.headers


def test_a_client_with_secrets_runs_on_the_embedded_engine() -> None:
    story = ComputeText(prompt="tell me a story", max_tokens=5)
    summary = ComputeText(prompt=sb.format("Summarize: {story}", story=story.future.text))
    secrets = Secrets(openai=OPENAI_KEY, anthropic=ANTHROPIC_KEY)
    with Substrate(secrets=secrets) as substrate:
        result = substrate.run(story, summary)
    assert result.get(story).text
    assert result.get(summary).text


def test_a_secrets_repr_says_which_keys_are_set_and_never_what_they_are() -> None:
    secrets = Secrets(openai=OPENAI_KEY)
    assert repr(secrets) == str(secrets) == "Secrets(openai=<set>, anthropic=None)"
    assert secrets.openai == OPENAI_KEY  # readable, as the SDK's dataclass fields are


@pytest.mark.parametrize("key", ["", " sk-x", "sk-x\n", "sk\r\nx-evil: 1", "sk-ä", "sk\x00x"])
def test_a_key_a_header_cannot_carry_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(ValueError, match=r"Secrets\.openai") as info:
        Secrets(openai=key)
    if key.strip():
        assert key.strip() not in str(info.value)


def test_secrets_must_be_a_secrets() -> None:
    with pytest.raises(TypeError, match=r"Secrets\.anthropic must be a string"):
        Secrets(anthropic=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"rxsubstrate\.Secrets"):
        Substrate(secrets={"openai": OPENAI_KEY})  # type: ignore[arg-type]


@contextmanager
def _garbage_http() -> Iterator[str]:
    # Not HTTP: aiohttp's error about it carries the request, headers and all.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        done = threading.Event()

        def answer() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 abc garbage\r\n\r\n")
            done.set()

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        assert done.wait(10)
        thread.join(10)


def _replay(reply: Reply) -> Callable[[], AbstractContextManager[str]]:
    @contextmanager
    def serve() -> Iterator[str]:
        with ReplayServer(reply) as server:
            yield server.url

    return serve


@pytest.mark.parametrize(
    "server",
    [
        _replay(Reply(status=401, chunks=[b'{"message": "bad key"}'])),
        _replay(Reply(status=500, chunks=[b"<html>oops</html>"], headers={})),
        _replay(Reply(chunks=[b'data: {"object": "node.de'], cut=True)),
        _garbage_http,
    ],
    ids=["401", "500", "cut", "not-http"],
)
def test_no_error_shows_a_secret(server: Callable[[], AbstractContextManager[str]]) -> None:
    secrets = Secrets(openai=OPENAI_KEY, anthropic=ANTHROPIC_KEY)
    with server() as url, Substrate("key", url, secrets=secrets) as substrate:
        with pytest.raises(SubstrateError) as info:
            list(substrate.stream(ComputeText(prompt="p")).iter())
        shown = "".join(traceback.format_exception(info.value))
        error: BaseException | None = info.value
        while error is not None:
            shown += repr(error) + str(error) + repr(getattr(error, "__dict__", ""))
            error = error.__cause__ or error.__context__
        assert OPENAI_KEY not in shown
        assert ANTHROPIC_KEY not in shown


# -- the nodes module --------------------------------------------------------------------------


def test_the_sdks_nodes_module_path_has_every_node_and_output() -> None:
    theirs = {
        name
        for name, value in vars(sdk_nodes).items()
        if isinstance(value, type)
        and value.__module__.startswith("substrate")
        and not name.startswith("Future")
        and (issubclass(value, CoreNode) or name.endswith("Out"))
        and name not in ("CoreNode", "SubstrateResponse")  # the SDK's internals, imported
    }
    assert len(theirs) > 60  # the comparison is not vacuous
    assert theirs <= set(rxsubstrate.nodes.__all__)
    for name in rxsubstrate.nodes.__all__:
        assert hasattr(rxsubstrate.nodes, name), name
    assert rxsubstrate.nodes.ComputeText is ComputeText
    assert rxsubstrate.nodes.RunPython is RunPython


# -- RunPython ---------------------------------------------------------------------------------


def keep_even(values: list[int]) -> list[int]:
    return [v for v in values if v % 2 == 0]


def test_run_python_is_a_node_error_offline_and_the_rest_of_the_graph_runs() -> None:
    a = ComputeText(prompt="numbers", max_tokens=3)
    code = RunPython(function=keep_even, kwargs={"values": [1, 2, 3, 4]})
    after = Box(value=code.future.output)
    with Substrate() as substrate:
        events = list(substrate.stream(a, code, after).iter())
        result = substrate.run(a, code, after)
    errors = {e.node_id: e.data for e in events if isinstance(e, NodeError)}
    assert errors[code.id].type == "invalid_request_error"
    assert "RunPython is not available offline" in errors[code.id].message
    assert 'engine.register("RunPython"' in errors[code.id].message
    assert errors[after.id].type == "dependency_error"
    assert {e.node_id for e in events if isinstance(e, NodeResult)} == {a.id}
    with pytest.raises(NodeFailed, match="not available offline"):
        result.get(code)


def test_a_registered_implementation_replaces_the_refusal() -> None:
    engine = Engine()

    @engine.node("RunPython")
    async def trusted(args: dict[str, Any], context: NodeContext) -> AsyncIterator[dict[str, Any]]:
        yield {"output": len(args["kwargs"]["values"]), "stdout": "", "stderr": ""}

    code = RunPython(function=keep_even, kwargs={"values": [1, 2, 3]})
    with Substrate(engine=engine) as substrate:
        assert substrate.run(code).get(code).output == 3
