"""A Substrate-compatible HTTP server for the local engine: ``create_app`` and ``EmbeddedServer``.

Import it explicitly (``from rxsubstrate.server import create_app``); ``import rxsubstrate``
does not load it.
"""

from ._app import create_app
from ._embedded import EmbeddedServer

__all__ = ["EmbeddedServer", "create_app"]

for _name in __all__:
    globals()[_name].__module__ = "rxsubstrate.server"
