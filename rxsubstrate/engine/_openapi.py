"""The Substrate OpenAPI reference: which node kinds exist and what arguments each accepts."""

from __future__ import annotations

import functools
from typing import Any

from .._reference import load_openapi

__all__ = ["input_schema", "known_kinds", "load_openapi"]


@functools.cache
def known_kinds() -> frozenset[str]:
    """Every node kind the reference describes (its paths, without the leading slash)."""
    return frozenset(path.lstrip("/") for path in load_openapi()["paths"])


def input_schema(kind: str) -> dict[str, Any] | None:
    """The JSON schema of a node kind's arguments, or None for a kind the reference lacks."""
    path = load_openapi()["paths"].get("/" + kind)
    if path is None:
        return None
    schema: dict[str, Any] = path["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema
