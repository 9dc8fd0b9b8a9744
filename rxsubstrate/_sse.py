"""Incremental Server-Sent Events codec, bytes in and bytes out, with no I/O.

The decoder follows the WHATWG event-stream rules: LF, CR and CRLF line ends (a CR that ends one
chunk and an LF that starts the next are one line end); a leading UTF-8 BOM; comments; ``data``
lines joined with ``\\n``; one optional space after the colon; a field line without a colon;
unknown fields ignored; ``event``, ``id`` and ``retry`` kept; dispatch on a blank line only; an
event with empty data skipped; a pending event at end of stream discarded.

Substrate sends every event as one ``data: {json}`` line. When a chunk holds only events of that
form, the decoder splits it with a handful of C-level byte operations and no per-event Python
work; anything else takes the line-by-line path, which gives the same result.
"""

from typing import Final

import msgspec

from ._errors import EventTooLarge

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent", "encode_sse"]

DEFAULT_MAX_EVENT_SIZE: Final = 16 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_FAST_SEP: Final = b"\n\ndata: "


class ServerSentEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event: ``data`` holds its data lines joined with LF; ``id`` is the last id."""

    data: bytes
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Turns a stream of byte chunks into events; any chunking of the same bytes gives the same
    events.

    ``feed_data`` returns only each event's data (the client's hot path); ``feed`` returns whole
    ``ServerSentEvent``s. Use one of them for a given stream. ``last_event_id`` and ``retry``
    follow the stream either way.

    Args:
        max_event_size: the most bytes one event may span before ``EventTooLarge``; it bounds
            the memory a decoder holds.
    """

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self.max_event_size = max_event_size
        self.last_event_id = ""
        self.retry: int | None = None
        self._tail = b""
        self._started = False
        self._pending_cr = False
        # The event being assembled line by line (slow path; empty between blocks).
        self._data: list[bytes] = []
        self._has_data = False
        self._event_type = ""

    @property
    def pending(self) -> bool:
        """True when bytes of an undispatched event are buffered (the stream stopped mid-event)."""
        return bool(self._tail.strip(b"\n"))

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Feed one chunk; return the data of every event it completes.

        Raises:
            EventTooLarge: an event grew past ``max_event_size``.
        """
        blocks = self._blocks(chunk)
        if blocks is None:
            return []
        if isinstance(blocks, list):
            return blocks
        out: list[bytes] = []
        for block in blocks.split(b"\n\n"):
            event = self._parse_block(block)
            if event is not None:
                out.append(event.data)
        return out

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Feed one chunk; return every event it completes, with its type, id and retry.

        Raises:
            EventTooLarge: an event grew past ``max_event_size``.
        """
        blocks = self._blocks(chunk)
        if blocks is None:
            return []
        if isinstance(blocks, list):
            last_id, retry = self.last_event_id, self.retry
            return [ServerSentEvent(data, "message", last_id, retry) for data in blocks]
        out: list[ServerSentEvent] = []
        for block in blocks.split(b"\n\n"):
            event = self._parse_block(block)
            if event is not None:
                out.append(event)
        return out

    def _blocks(self, chunk: bytes) -> list[bytes] | bytes | None:
        """Normalise line ends and cut off the complete part of the buffer.

        Returns None when no event completed, a list of data payloads when the fast path applies,
        or the complete region (blocks separated by blank lines) for the line-by-line path.
        """
        if not self._started:
            if not chunk:
                return None
            if len(self._tail) + len(chunk) < len(_BOM) and _BOM.startswith(self._tail + chunk):
                self._tail += chunk
                return None
            chunk = self._tail + chunk
            self._tail = b""
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if b"\r" in chunk or self._pending_cr:
            chunk = self._normalise_line_ends(chunk)
        buf = self._tail + chunk if self._tail else chunk
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._check_size(len(buf))
            self._tail = buf
            return None
        region = buf[:end]
        self._tail = buf[end + 2 :]
        self._check_size(len(self._tail))
        if region.startswith(b"data: "):
            payloads = region[6:].split(_FAST_SEP)
            # Every block is exactly one "data: " line iff these are all the line ends.
            if region.count(b"\n") == 2 * (len(payloads) - 1) and all(payloads):
                if len(region) > self.max_event_size:
                    self._check_size(max(map(len, payloads)))
                return payloads
        return region

    def _normalise_line_ends(self, chunk: bytes) -> bytes:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = chunk.endswith(b"\r")
        return chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def _check_size(self, size: int) -> None:
        if size > self.max_event_size:
            self._tail = b""
            raise EventTooLarge(self.max_event_size)

    def _parse_block(self, block: bytes) -> ServerSentEvent | None:
        """Apply the field rules to the lines of one block; dispatch at its end."""
        for line in block.split(b"\n"):
            if not line:
                self._dispatch()  # a blank line at the block's start ends an earlier event
                continue
            if line.startswith(b":"):
                continue
            name, colon, value = line.partition(b":")
            if colon and value.startswith(b" "):
                value = value[1:]
            if name == b"data":
                self._data.append(value)
                self._has_data = True
            elif name == b"event":
                self._event_type = value.decode("utf-8", "replace")
            elif name == b"id" and b"\0" not in value:
                self.last_event_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit():
                self.retry = int(value)
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        data, has_data, event_type = self._data, self._has_data, self._event_type
        self._data, self._has_data, self._event_type = [], False, ""
        if not has_data:
            return None
        joined = b"\n".join(data)
        if not joined:
            return None
        self._check_size(len(joined))
        return ServerSentEvent(joined, event_type or "message", self.last_event_id, self.retry)


def encode_sse(data: bytes, *, event: str | None = None, id: str | None = None) -> bytes:
    """One event as SSE bytes: a ``data:`` line per line of ``data``, then a blank line."""
    head = b""
    if event:
        head += b"event: " + event.encode() + b"\n"
    if id is not None:
        head += b"id: " + id.encode() + b"\n"
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


for _name in ("SSEDecoder", "ServerSentEvent"):
    globals()[_name].__module__ = "rxsubstrate"
