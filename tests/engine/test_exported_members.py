"""The engine's public surface changes only on purpose."""

from __future__ import annotations

import rxsubstrate.engine


def test_engine_all() -> None:
    assert rxsubstrate.engine.__all__ == [
        "DirectiveLimits",
        "Engine",
        "EngineLimits",
        "GraphInvalid",
        "InvalidNodeArgs",
        "NodeContext",
        "NodeImpl",
        "OpenAITextBackend",
        "Plan",
        "ResultNodeImpl",
        "SandboxFailed",
        "StreamingNodeImpl",
        "TextGenerator",
        "generate_text",
    ]


def test_public_classes_say_where_to_import_them_from() -> None:
    checked = (
        "DirectiveLimits Engine GraphInvalid InvalidNodeArgs EngineLimits NodeContext Plan"
        " OpenAITextBackend SandboxFailed TextGenerator generate_text"
    )
    for name in checked.split():
        assert getattr(rxsubstrate.engine, name).__module__ == "rxsubstrate.engine", name
