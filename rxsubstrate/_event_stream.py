"""A run's event stream read from any source of bytes: the client's rules, in one place.

A server's answer (``Transport.stream_batches``) and a recording (``replay``) both hand their
bytes to ``read_events``, which splits them into SSE events (``_sse.SSEDecoder``), decodes
their data (``_events.decode_batch``) and applies the rules of a Substrate stream:

- events come in batches, one batch per read of the source;
- ``graph.result`` is the last event: anything after it is ignored, malformed or not;
- nothing before an error is lost: the events before a malformed or oversized one are
  delivered, then the error is raised (``MalformedEvent``, ``EventTooLarge``);
- a stream that ends before ``graph.result`` fails with ``StreamInterrupted``.

So a recording replays with the same events, and the same error after them, as a server that
sends its bytes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

from ._errors import StreamInterrupted
from ._events import Event, GraphResult, decode_batch
from ._sse import SSEDecoder

__all__ = ["READ_SIZE", "Body", "OpenBody", "Progress", "Tap", "read_events"]

# At most this much is decoded per batch: enough to amortise the per-batch work, small enough
# that many concurrent runs do not each hold a large batch of decoded events.
READ_SIZE: Final = 16 * 1024


class Progress:
    """What a run has received so far, for the error raised if it breaks."""

    __slots__ = ("answered", "events", "pending")

    def __init__(self) -> None:
        self.answered = False  # response headers arrived: a failure now is not a ConnectError
        self.events = 0
        self.pending = False  # the bytes so far end inside an event


class Body(Protocol):
    """Where a stream's bytes come from."""

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes, waiting for them if need be; ``b""`` at the end."""
        ...


# Opens a stream's body for one run; it may translate the errors raised while it is open.
OpenBody = Callable[[Progress], AbstractAsyncContextManager[Body]]
# Given the data of the events each read brought, as they came, before they are delivered (the
# run's events up to its graph.result, or up to and including a malformed one).
Tap = Callable[[list[bytes]], Awaitable[None]]


async def read_events(
    open_body: OpenBody, max_event_size: int, tap: Tap | None = None
) -> AsyncGenerator[list[Event], None]:
    """A run's events in batches, one per read of its body; the last one is the ``GraphResult``.

    Close the generator (``aclose``) to close the body.

    Args:
        open_body: opens the body when the first batch is asked for.
        max_event_size: the most bytes one SSE event may span.
        tap: awaited with each read's event data before its events are yielded.

    Raises:
        StreamInterrupted: the body ended before ``graph.result``.
        MalformedEvent, EventTooLarge: after the events before the bad one.
    """
    decoder = SSEDecoder(max_event_size)
    progress = Progress()
    async with open_body(progress) as body:
        while chunk := await body.read(READ_SIZE):
            payloads = decoder.feed_data(chunk)
            del chunk
            progress.pending = decoder.pending
            if not payloads:
                continue
            batch, malformed = decode_batch(payloads, progress.events)
            progress.events += len(batch)
            for i, event in enumerate(batch):
                if type(event) is GraphResult:
                    if tap is not None:
                        await tap(payloads[: i + 1])
                    yield batch[: i + 1]
                    return
            if tap is not None:
                await tap(payloads if malformed is None else payloads[: len(batch) + 1])
            if batch:
                yield batch
            if malformed is not None:
                raise malformed
            if decoder.error is not None:  # an oversized event after this batch
                raise decoder.error
            # Nothing of this read is kept while the next one waits: a run waiting for its
            # server holds no events (what many runs at once cost).
            del payloads, batch
        raise StreamInterrupted(progress.events, partial_event=decoder.pending)
