"""The request body is bounded before it is decoded: nesting, value count; messages are bounded."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rxsubstrate.engine import Engine
from rxsubstrate.server import ServerLimits
from rxsubstrate.server._body import check_shape
from rxsubstrate.server._refusal import MAX_MESSAGE, Refusal
from tests.wire import graph, node

from .conftest import Serve

JSON = {"Content-Type": "application/json"}


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, Any]:
    async with session.post(f"{url}/compose", data=body, headers=JSON) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


def box(value: str) -> bytes:
    """A one-node graph whose Box node carries ``value`` (JSON text) as its argument."""
    return b'{"dag": {"nodes": [{"id": "a", "node": "Box", "args": {"value": %s}}]}}' % (
        value.encode()
    )


@pytest.mark.parametrize("depth", [65, 600, 1000, 100_000])
async def test_deep_nesting_is_a_400_before_decoding(
    serve: Serve, session: aiohttp.ClientSession, depth: int
) -> None:
    url = await serve(Engine())

    status, error = await post(session, url, box("[" * depth + "]" * depth))

    assert status == 400
    assert error["type"] == "invalid_request_error"
    assert "deeper than 64 levels" in error["message"]


async def test_unmatched_brackets_are_a_400(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Engine())
    status, error = await post(session, url, box("[" * 5000))
    assert status == 400
    assert error["type"] == "invalid_request_error"


async def test_nesting_up_to_the_limit_runs(serve: Serve, session: aiohttp.ClientSession) -> None:
    url = await serve(Engine(), limits=ServerLimits(max_json_depth=70))
    depth = 70 - 5  # the body's own levels: {dag {nodes [{args {value ...
    status, _ = await post(session, url, box("[" * depth + "]" * depth))
    assert status == 200


async def test_eight_megabytes_of_tiny_containers_is_a_400(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    body = box("[" + ",".join(["[]"] * 2_700_000) + "]")
    assert len(body) > 8_000_000

    status, error = await post(session, url, body)

    assert status == 400
    assert error["type"] == "invalid_request_error"
    assert "more than 250000 JSON values" in error["message"]


async def test_an_error_message_quoting_the_client_is_cut(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    huge = "x" * 5_000_000
    body = json.dumps({"dag": graph(node(huge, "NoSuchNode", a=1))}).encode()

    status, error = await post(session, url, body)

    assert status == 400
    assert len(error["message"]) < MAX_MESSAGE + 300  # the engine cuts it, or the server does


async def test_the_server_cuts_every_message_it_writes(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    url = await serve(Engine())
    path = "/" + "x" * 8000  # quoted by the 404's message
    async with session.post(f"{url}{path}", json={}) as response:
        assert response.status == 404
        error = await response.json()
    assert len(error["message"]) < MAX_MESSAGE + 100
    assert error["message"].endswith(" characters)")


# -- check_shape against a reference walk of the decoded value --------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=40,
)


def reference(value: Any, depth: int = 0) -> tuple[int, int]:
    """(nesting depth, values counted as check_shape counts them: an empty container twice)."""
    if isinstance(value, list | dict):
        items = list(value.values()) if isinstance(value, dict) else value
        inner = [reference(item, depth + 1) for item in items]
        deepest = max([depth + 1, *(d for d, _ in inner)])
        return deepest, 1 + (sum(n for _, n in inner) if items else 1)
    return depth, 1


@given(value=json_values, max_depth=st.integers(1, 6), max_values=st.integers(1, 60))
@settings(max_examples=400, deadline=None)
def test_check_shape_refuses_exactly_what_the_reference_counts(
    value: Any, max_depth: int, max_values: int
) -> None:
    # Strings full of the characters the scan looks at, escaped as JSON escapes them.
    text = json.dumps(value, ensure_ascii=False).encode()
    depth, values = reference(value)

    try:
        check_shape(text, max_depth=max_depth, max_values=max_values)
        refused = None
    except Refusal as refusal:
        refused = refusal.message

    if values > max_values:
        assert refused is not None
        assert "JSON values" in refused
    elif depth > max_depth:
        assert refused is not None
        assert "deeper than" in refused
    else:
        assert refused is None


@given(st.text(alphabet='[]{},"\\ab', max_size=30))
@settings(max_examples=300, deadline=None)
def test_check_shape_on_any_bytes_refuses_or_passes_never_fails(text: str) -> None:
    with contextlib.suppress(Refusal):  # a Refusal is a 400; anything else fails the test
        check_shape(text.encode(), max_depth=3, max_values=10)
