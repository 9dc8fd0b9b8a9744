"""Client configuration objects."""

import msgspec

__all__ = ["Limits", "Timeout"]


class Timeout(msgspec.Struct, frozen=True, kw_only=True):
    """How long the client waits, in seconds; ``None`` waits forever.

    Args:
        connect: to open the connection and receive the response headers.
        read: between two reads of the body: an idle stream fails with ``ReadTimeout`` after
            this long, however long the whole run takes.
    """

    connect: float | None = 30.0
    read: float | None = 300.0


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Memory bounds of a run.

    Args:
        max_event_size: the most bytes one SSE event may span (``EventTooLarge`` past it).
        max_buffered_batches: how many undelivered batches (one per network read, at most a
            few hundred KiB each) ``iter()`` holds before it stops reading the socket until the
            consumer catches up.
    """

    max_event_size: int = 16 * 1024 * 1024
    max_buffered_batches: int = 32


Timeout.__module__ = Limits.__module__ = "rxsubstrate"
