"""Where a client's runs go: ``RemoteServer`` (a URL) or ``EmbeddedEngine`` (the local engine,
served on a loopback port). Each owns its start and its shutdown; the client only asks for the
address, and closes the backend with itself.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Final, Protocol

from ._config import check_api_key, check_base_url

if TYPE_CHECKING:
    from .engine import Engine
    from .server import EmbeddedServer

__all__ = ["HOSTED_URL", "Address", "Backend", "EmbeddedEngine", "RemoteServer"]

HOSTED_URL: Final = "https://api.substrate.run"


@dataclasses.dataclass(frozen=True)
class Address:
    """Where to send requests, and the key to send there (never shown in a repr)."""

    base_url: str
    api_key: str | None = dataclasses.field(default=None, repr=False)


class Backend(Protocol):
    """What a client runs on: started by ``address()``, stopped by ``close()``."""

    def address(self) -> Address:
        """Where the runs go; starts the backend on first use (may block)."""
        ...

    def in_own_thread(self) -> bool:
        """True on a thread the backend serves from, where ``close()`` cannot wait."""
        ...

    def close(self) -> None:
        """Stop what ``address()`` started (idempotent)."""
        ...


class RemoteServer:
    """A Substrate-compatible server at ``base_url``: the hosted API or ``rxsubstrate serve``.

    Args:
        base_url: an http(s) URL with a host; default the hosted API.
        api_key: sent as ``Authorization: Bearer``; never shown in a repr or error.

    Raises:
        ValueError: the key has surrounding whitespace or a line break (never shown), or the URL
            is not an http(s) URL with a host.
    """

    def __init__(self, base_url: str = HOSTED_URL, api_key: str | None = None) -> None:
        if api_key is not None:
            check_api_key(api_key)
        check_base_url(base_url, with_key=api_key is not None)
        self._address = Address(base_url, api_key)

    def __repr__(self) -> str:
        return f"RemoteServer({self._address.base_url!r})"

    def address(self) -> Address:
        return self._address

    def in_own_thread(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to stop: the server is not ours."""


class EmbeddedEngine:
    """The local engine, served on ``127.0.0.1`` at an ephemeral port, from a thread of its own,
    with a random key only this client knows. Nothing starts until the first run.

    Args:
        engine: an ``rxsubstrate.engine.Engine`` you configured (node implementations of your
            own, chunk delays); default a new one.
    """

    def __init__(self, engine: Engine | None = None) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._server: EmbeddedServer | None = None

    def __repr__(self) -> str:
        return "EmbeddedEngine()"

    @property
    def server(self) -> EmbeddedServer | None:
        """The server once started, else None."""
        return self._server

    def address(self) -> Address:
        with self._lock:
            if self._server is None:
                from .server import EmbeddedServer

                self._server = EmbeddedServer(self._engine)
            server = self._server
        return Address(server.start(), server.api_key)

    def in_own_thread(self) -> bool:
        server = self._server
        return server is not None and server.in_server_thread()

    def close(self) -> None:
        """Cancel the runs in flight, stop serving and join the server's thread."""
        with self._lock:
            server = self._server
        if server is not None:
            server.close()
