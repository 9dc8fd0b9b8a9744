"""Incremental Server-Sent Events codec, bytes in and bytes out, with no I/O.

The decoder follows the WHATWG event-stream rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html): LF, CR and CRLF line ends (a
CR that ends one chunk and an LF that starts the next are one line end); a leading UTF-8 BOM;
comments; ``data`` lines joined with ``\\n``; one optional space after the colon; a field line
without a colon; unknown fields ignored; ``event``, ``id`` (unless it holds a NUL) and ``retry``
(ASCII digits only) kept; dispatch on a blank line, of an event only when the block had a
``data`` line (so ``data:`` alone is an event with empty data); a pending event at the end of the
stream discarded. Data stays bytes: judging it is the caller's job.

Substrate sends every event as one ``data: {json}`` line. When the complete part of a chunk
holds only events of that form, the decoder splits it with a handful of C-level byte operations
and no per-event Python work; anything else takes the line-by-line path, which gives the same
result.
"""

from typing import Final

import msgspec

from ._errors import EventTooLarge

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent", "encode_sse"]

DEFAULT_MAX_EVENT_SIZE: Final = 16 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_FAST_SEP: Final = b"\n\ndata: "
_FAST_OVERHEAD: Final = len(b"data: \n")  # what a one-line event adds to its data's size


class ServerSentEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event: ``data`` holds its data lines joined with LF; ``id`` is the last id."""

    data: bytes
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Turns a stream of byte chunks into events: any chunking of the same bytes gives the same
    events, and the same error after the same events.

    ``feed_data`` returns only each event's data (the client's hot path); ``feed`` returns whole
    ``ServerSentEvent``s. Both are views of one decoding step: use one of them for a given
    stream. ``last_event_id`` and ``retry`` are those in force after the last complete block.

    The size limit applies to a *block*: the lines from one blank line to the next (an event's
    fields and any comments among them), counting each line end as one byte and the BOM and
    blank lines not at all. A block larger than ``max_event_size``, complete or not, is an
    ``EventTooLarge``, and every event completed before it is delivered first: the call that
    finds it returns those events and the next call raises (``error`` holds it at once); when
    there are none, that call raises itself. The decoder then drops what it holds and raises
    the same error on every later call.

    Args:
        max_event_size: the most bytes one block may span; it bounds the memory a decoder holds.

    Attributes:
        error: the ``EventTooLarge`` that failed the decoder, set as soon as it is found; None
            until then.
    """

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self.max_event_size = max_event_size
        self.last_event_id = ""
        self.retry: int | None = None
        # The block being received (line ends as LF; never a leading blank line), or before the
        # first bytes are known not to start a BOM, the bytes that might.
        self._tail = b""
        self._started = False
        self._pending_cr = False  # the last chunk ended with CR: a leading LF next belongs to it
        self.error: EventTooLarge | None = None

    @property
    def pending(self) -> bool:
        """True when bytes of an undispatched event are buffered (the stream stopped mid-event)."""
        return bool(self._tail)

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Feed one chunk; return the data of every event it completes.

        Raises:
            EventTooLarge: a block grew past ``max_event_size`` (see the class docstring for
                when, relative to the events before it).
        """
        plain, events = self._decode(chunk)
        return plain if events is None else [event.data for event in events]

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Feed one chunk; return every event it completes, with its type, id and retry.

        Raises:
            EventTooLarge: a block grew past ``max_event_size`` (see the class docstring for
                when, relative to the events before it).
        """
        plain, events = self._decode(chunk)
        if events is None:
            last_id, retry = self.last_event_id, self.retry
            return [ServerSentEvent(data, "message", last_id, retry) for data in plain]
        return events

    def _decode(self, chunk: bytes) -> tuple[list[bytes], list[ServerSentEvent] | None]:
        """The events ``chunk`` completes: their data alone when every one is a plain one-line
        ``data:`` event (then ``(datas, None)``), else the whole events (``([], events)``)."""
        if self.error is not None:
            raise self.error
        if not self._started:
            chunk = self._after_bom(chunk)
        if not chunk:
            return [], None
        if self._pending_cr or b"\r" in chunk:
            chunk = self._normalise_line_ends(chunk)
        # Blank lines with no block pending dispatch nothing: drop them, so a block starts the
        # buffer and its size is the buffer's.
        buf = self._tail + chunk if self._tail else chunk.lstrip(b"\n")
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._tail = buf
            if len(buf) > self.max_event_size:
                raise self._fail()
            return [], None
        region = buf[:end]  # whole blocks, the last one's final line end and blank line cut off
        self._tail = buf[end + 2 :]
        plain: list[bytes] = []
        events: list[ServerSentEvent] | None = None
        if region.startswith(b"data: "):
            plain = region[6:].split(_FAST_SEP)
            # Every block is exactly one "data: " line iff these are all the line ends.
            if region.count(b"\n") != 2 * len(plain) - 2:
                plain = []
                events = self._parse(region)
            elif len(region) >= self.max_event_size:
                plain = self._within_limit(plain)
        else:
            events = self._parse(region)
        if self.error is None and len(self._tail) > self.max_event_size:
            self._fail()
        if self.error is not None and not (plain or events):
            raise self.error
        return plain, events

    def _after_bom(self, chunk: bytes) -> bytes:
        """The stream's first bytes without a leading BOM; empty until they are known."""
        if len(self._tail) + len(chunk) < len(_BOM) and _BOM.startswith(self._tail + chunk):
            self._tail += chunk
            return b""
        chunk = self._tail + chunk
        self._tail = b""
        self._started = True
        return chunk[len(_BOM) :] if chunk.startswith(_BOM) else chunk

    def _normalise_line_ends(self, chunk: bytes) -> bytes:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith(b"\r")
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _fail(self) -> EventTooLarge:
        self._tail = b""
        self.error = EventTooLarge(self.max_event_size)
        return self.error

    def _within_limit(self, datas: list[bytes]) -> list[bytes]:
        """The one-line events before the first one too large (which fails the decoder)."""
        limit = self.max_event_size - _FAST_OVERHEAD
        for i, data in enumerate(datas):
            if len(data) > limit:
                self._fail()
                return datas[:i]
        return datas

    def _parse(self, region: bytes) -> list[ServerSentEvent]:
        """Apply the field rules to the lines of ``region``, then the blank line that ends it.

        ``last_event_id`` and ``retry`` change only as a block completes, so a block that turns
        out too large leaves them as they were.
        """
        events: list[ServerSentEvent] = []
        data: list[bytes] = []
        event_type = ""
        last_id, retry = self.last_event_id, self.retry
        size = 0
        for line in [*region.split(b"\n"), b""]:
            if not line:
                if data:
                    event = ServerSentEvent(
                        b"\n".join(data), event_type or "message", last_id, retry
                    )
                    events.append(event)
                data, event_type, size = [], "", 0
                self.last_event_id, self.retry = last_id, retry
                continue
            size += len(line) + 1
            if size > self.max_event_size:
                self._fail()
                break
            if line.startswith(b":"):
                continue
            name, colon, value = line.partition(b":")
            if colon and value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event_type = value.decode("utf-8", "replace")
            elif name == b"id" and b"\0" not in value:
                last_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                retry = int(value)
        return events


def encode_sse(
    data: bytes, *, event: str | None = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """One event as SSE bytes: its fields, a ``data:`` line per line of ``data``, a blank line.

    ``event`` and ``id`` must hold no line end (and ``id`` no NUL), or a reader would see other
    fields: callers check the values they take from users once, up front.
    """
    head = b""
    if event:
        head += b"event: " + event.encode() + b"\n"
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    if retry is not None:
        head += b"retry: %d\n" % retry
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
