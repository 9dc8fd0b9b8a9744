"""The public API changes only on purpose: ``__all__`` is pinned here."""

from __future__ import annotations

import msgspec

import rxsubstrate
import rxsubstrate.nodes
import rxsubstrate.ops
import rxsubstrate.outputs
from rxsubstrate._graph import NODE_TYPES

CORE = {
    "APIStatusError",
    "AuthenticationError",
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
    "NodeFailed",
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
    "merge_runs",
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
    for name in (
        "Substrate",
        "RunStream",
        "StreamInterrupted",
        "NodeDelta",
        "SSEDecoder",
        "Secrets",
    ):
        assert getattr(rxsubstrate, name).__module__ == "rxsubstrate", name


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
                assert msgspec.structs.fields(obj) is not None, name
