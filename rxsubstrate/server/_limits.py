"""``ServerLimits``: every bound the server puts on what its clients send, in one object.

Each field says what it bounds in its ``description`` (shown in ``rxsubstrate serve --help``,
where each field is a ``--flag`` of its own, and appended to the class docstring below).
"""

from typing import Annotated, Final, get_args

import msgspec

__all__ = ["ServerLimits"]

MiB: Final = 1024 * 1024


def _limit(description: str) -> msgspec.Meta:
    return msgspec.Meta(gt=0, description=description)


class ServerLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The bounds ``create_app`` and ``rxsubstrate serve`` put on each client.

    Every field must be positive; a request over a bound is refused with a JSON error
    (``{"type": ..., "message": ...}``) before any node runs. What one graph may hold (nodes,
    futures, edges) is the engine's to bound: ``rxsubstrate.engine.EngineLimits``.
    """

    max_body_size: Annotated[int, _limit("largest request body, in bytes (413 beyond)")] = 8 * MiB
    max_json_depth: Annotated[
        int, _limit("deepest nesting of arrays and objects in a request body (400 beyond)")
    ] = 64
    max_json_values: Annotated[
        int,
        _limit("most JSON values (objects, arrays, strings, numbers...) in a body (400 beyond)"),
    ] = 250_000
    max_runs: Annotated[
        int,
        _limit(
            "most /compose requests one process handles at once, from receiving the body to the"
            " run's end (429 with Retry-After beyond; one per connection, as HTTP/1.1 serves a"
            " connection's requests in turn)"
        ),
    ] = 256
    max_body_bytes: Annotated[
        int,
        _limit(
            "most bytes of request bodies over 64 KiB being received or decoded at once, counted"
            " by their Content-Length (429 with Retry-After beyond)"
        ),
    ] = 64 * MiB
    max_connections: Annotated[
        int,
        _limit(
            "most open connections; a new one closes the oldest connection waiting for a"
            " request, or is closed itself when every connection is busy"
        ),
    ] = 1000
    receive_timeout: Annotated[
        float,
        _limit(
            "seconds a client has to send a whole request (line, headers and body), counted"
            " from the connection's start or its previous answer; the connection is closed"
            " (408 once the body was due) after that"
        ),
    ] = 30.0
    keepalive_timeout: Annotated[
        float,
        _limit(
            "seconds an idle keep-alive connection is kept open (at most receive_timeout);"
            " longer than clients keep theirs (aiohttp's 15 s), so they close first"
        ),
    ] = 30.0
    max_line_size: Annotated[int, _limit("longest request line, in bytes")] = 8190
    max_field_size: Annotated[int, _limit("longest header line, in bytes")] = 8190
    max_headers: Annotated[int, _limit("most header lines in a request")] = 64
    retry_after: Annotated[int, _limit("seconds a 429 answer asks the client to wait")] = 1

    def __post_init__(self) -> None:
        for field in msgspec.structs.fields(self):
            value = getattr(self, field.name)
            if not value > 0:
                raise ValueError(f"ServerLimits.{field.name} must be > 0, got {value!r}")
        if self.max_body_bytes < self.max_body_size:
            raise ValueError("ServerLimits.max_body_bytes must be at least max_body_size")


def describe(field: msgspec.structs.FieldInfo) -> str:
    """A field's description, from its ``Meta``."""
    meta = get_args(field.type)[1]
    assert isinstance(meta, msgspec.Meta)
    assert meta.description is not None
    return meta.description


ServerLimits.__doc__ = (
    (ServerLimits.__doc__ or "")
    + "\n    Attributes:\n"
    + "".join(
        f"        {field.name}: {describe(field)} (default {field.default!r}).\n"
        for field in msgspec.structs.fields(ServerLimits)
    )
)
