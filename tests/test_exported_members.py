"""The public API changes only on purpose: ``__all__`` is pinned here."""

from __future__ import annotations

from typing import get_type_hints

import msgspec

import rxsubstrate
import rxsubstrate.nodes
import rxsubstrate.ops
import rxsubstrate.outputs
import rxsubstrate.web
from rxsubstrate._graph import NODE_TYPES

CORE = {
    "RemoteServer",
    "EmbeddedEngine",
    "WouldDeadlock",
    "UsageError",
    "StreamConsumed",
    "ServerClosed",
    "APIStatusError",
    "AuthenticationError",
    "BufferOverflow",
    "ClientClosed",
    "ConnectError",
    "ConnectTimeout",
    "ErrorData",
    "Event",
    "EventTooLarge",
    "Future",
    "GraphResult",
    "Limits",
    "MalformedEvent",
    "Node",
    "NodeDelta",
    "NodeError",
    "NoValue",
    "NodeFailed",
    "NodeOutput",
    "NodeResult",
    "ProtocolError",
    "RateLimited",
    "ReadTimeout",
    "Retry",
    "RunEvent",
    "RunResult",
    "RunStream",
    "RunTimeout",
    "RunsFailed",
    "SSEDecoder",
    "Secrets",
    "ServerError",
    "ServerSentEvent",
    "StreamInterrupted",
    "Substrate",
    "SubstrateError",
    "Timeout",
    "TransportError",
    "UnexpectedContentType",
    "UnknownEvent",
    "__version__",
    "async_record",
    "aiterate",
    "iterate",
    "merge_runs",
    "record",
    "recorded",
    "replay",
    "sb",
    "serialize",
    "visualize",
}


def test_all_is_the_core_plus_one_class_per_node_kind() -> None:
    node_classes = {cls.__name__ for cls in NODE_TYPES.values()} | {"GenerateText"}
    assert set(rxsubstrate.__all__) == CORE | node_classes
    assert len(rxsubstrate.__all__) == len(set(rxsubstrate.__all__))
    for name in rxsubstrate.__all__:
        assert hasattr(rxsubstrate, name), name


def test_tracebacks_name_the_public_module() -> None:
    for name in CORE:
        obj = getattr(rxsubstrate, name)
        if callable(obj):
            assert obj.__module__ == "rxsubstrate", name


def test_ops_all() -> None:
    assert rxsubstrate.ops.__all__ == [
        "MAX_ARRAY_GROWTH",
        "NodeEvent",
        "NodeLike",
        "NodeOutput",
        "RunEvent",
        "RunsFailed",
        "Snapshot",
        "TypedNode",
        "assemble",
        "deltas",
        "errors",
        "for_node",
        "graph_result",
        "group_by_node",
        "merge_runs",
        "raise_on_error",
        "results",
        "snapshots",
        "text",
        "to_sse",
        "typed",
    ]
    for name in ("Snapshot", "assemble", "to_sse", "typed"):
        assert getattr(rxsubstrate.ops, name).__module__ == "rxsubstrate.ops", name
    assert rxsubstrate.ops.RunEvent is rxsubstrate.RunEvent
    assert rxsubstrate.ops.NodeOutput is rxsubstrate.NodeOutput


def test_web_all() -> None:
    assert rxsubstrate.web.__all__ == [
        "RunLike",
        "SSEOptions",
        "aiohttp_sse_response",
        "sse_body",
        "sse_response",
    ]
    for name in rxsubstrate.web.__all__:
        assert getattr(rxsubstrate.web, name).__module__ == "rxsubstrate.web", name


def test_outputs_are_one_struct_per_output_schema() -> None:
    structs = [getattr(rxsubstrate.outputs, name) for name in rxsubstrate.outputs.__all__]
    assert "ComputeTextOut" in rxsubstrate.outputs.__all__
    assert "OUTPUT_TYPES" in rxsubstrate.outputs.__all__
    assert len(rxsubstrate.outputs.__all__) == len(set(rxsubstrate.outputs.__all__))
    kinds = {cls.__name__ for cls in NODE_TYPES.values()}
    for output_type in rxsubstrate.outputs.OUTPUT_TYPES.values():
        assert output_type in structs
    assert set(rxsubstrate.outputs.OUTPUT_TYPES) == kinds


def test_the_nodes_module_is_the_node_classes_and_their_outputs() -> None:
    # The official SDK's module path: `from substrate.nodes import ComputeText` ports as is.
    node_classes = {cls.__name__ for cls in NODE_TYPES.values()} | {"GenerateText", "NODE_TYPES"}
    assert set(rxsubstrate.nodes.__all__) == node_classes | set(rxsubstrate.outputs.__all__)
    assert rxsubstrate.nodes.NODE_TYPES is NODE_TYPES
    for name in set(rxsubstrate.nodes.__all__) - {"NODE_TYPES"}:
        home = rxsubstrate.outputs if name in rxsubstrate.outputs.__all__ else rxsubstrate
        assert getattr(rxsubstrate.nodes, name) is getattr(home, name), name


def test_generate_text_is_compute_text() -> None:
    assert rxsubstrate.GenerateText is rxsubstrate.ComputeText


def test_exported_structs_resolve_their_annotations() -> None:
    # msgspec resolves string annotations in __module__'s namespace: a rewritten __module__
    # must not leave them unresolvable.
    for module in (rxsubstrate, rxsubstrate.ops, rxsubstrate.outputs):
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
                # An annotation that cannot be resolved raises NameError here.
                assert set(get_type_hints(obj)) >= set(obj.__struct_fields__), name
