"""The Substrate OpenAPI reference: which node kinds exist and what arguments each accepts."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Final

__all__ = ["input_schema", "known_kinds", "load_openapi"]

_PACKAGED: Final = Path(__file__).resolve().parent.parent / "_graph" / "substrate-openapi.json"


@functools.cache
def load_openapi() -> dict[str, Any]:
    """The parsed OpenAPI document (read once per process).

    Raises:
        FileNotFoundError: the copy packaged with rxsubstrate is missing (a broken install).
    """
    try:
        with _PACKAGED.open("rb") as file:
            document: dict[str, Any] = json.load(file)
    except FileNotFoundError:
        # The engine validates every graph against this file; without it nothing can run, and a
        # bare "No such file" would not say that the install, not the graph, is at fault.
        raise FileNotFoundError(
            f"rxsubstrate's Substrate OpenAPI reference is missing from the install ({_PACKAGED});"
            " the engine needs it to check graphs. Reinstall rxsubstrate"
            " (pip install --force-reinstall rxsubstrate)."
        ) from None
    return document


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
