"""Facts about Substrate's node kinds that every text implementation shares (the built-in
stand-ins and the OpenAI-compatible backend alike)."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["MODEL_NODES", "choice_count"]

MODEL_NODES: Final = (
    "Mistral7BInstruct",
    "Mixtral8x7BInstruct",
    "Llama3Instruct8B",
    "Llama3Instruct70B",
)
"""The model-named text nodes: ``choices`` of ``text`` (or of ``json_object``)."""


def choice_count(args: dict[str, Any]) -> int:
    """How many choices a node asks for: ``num_choices``, 1 when unset (or below 1)."""
    count = args.get("num_choices")
    return 1 if count is None else max(int(count), 1)
