"""Reference data shipped with rxsubstrate: the Substrate OpenAPI description (MIT, see the
licence beside it), read through ``importlib.resources`` so it works from any install (a
wheel, a zip, an editable checkout).

The graph API's node classes are generated from it (``tools/generate_nodes.py``, in the
repository), and the engine checks every graph against it.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any, Final

__all__ = ["OPENAPI_NAME", "load_openapi"]

OPENAPI_NAME: Final = "substrate-openapi.json"


@functools.cache
def load_openapi() -> dict[str, Any]:
    """The parsed OpenAPI document (read once per process).

    Raises:
        FileNotFoundError: the copy packaged with rxsubstrate is missing (a broken install).
    """
    resource = resources.files(__name__) / OPENAPI_NAME
    try:
        document: dict[str, Any] = json.loads(resource.read_bytes())
    except FileNotFoundError:
        # The engine validates every graph against this file; without it nothing can run, and a
        # bare "No such file" would not say that the install, not the graph, is at fault.
        raise FileNotFoundError(
            f"rxsubstrate's Substrate OpenAPI reference is missing from the install ({resource});"
            " the engine needs it to check graphs. Reinstall rxsubstrate"
            " (pip install --force-reinstall rxsubstrate)."
        ) from None
    return document
