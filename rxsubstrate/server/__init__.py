"""A Substrate-compatible HTTP server for the local engine.

``create_app`` makes the aiohttp app, ``serve_on`` serves it on a listening socket under its
``ServerLimits``, and ``EmbeddedServer`` runs both on a loopback port from a thread. Import it
explicitly (``from rxsubstrate.server import create_app``); ``import rxsubstrate`` does not load
it.
"""

from .._public import publish
from ._app import create_app
from ._embedded import EmbeddedServer
from ._limits import ServerLimits
from ._serving import serve_on

__all__ = ["EmbeddedServer", "ServerLimits", "create_app", "serve_on"]

publish(globals())
