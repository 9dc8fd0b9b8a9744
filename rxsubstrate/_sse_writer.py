"""Events as Server-Sent Events text: the one place that writes them.

- ``wire_sse``: Substrate's wire form, ``data: {json}`` and a blank line, as the server writes
  every event; ``write_wire_sse`` appends many to one buffer (the server's hot path).
- ``sdk_sse``: what the official SDK's ``iter_events()`` yields for the same event, byte for byte
  (it writes the type, ``event: message``, explicitly).
- ``SSEWriter``: one stream written for a browser's ``EventSource``: ids, ``retry``, text chunks
  as plain data, and a final named event, after which a page closes its ``EventSource`` instead
  of reconnecting (which would start a new run).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from ._events import Event, UnknownEvent, encode_event, encode_known_event_into
from ._sse import encode_sse

__all__ = ["SSEWriter", "sdk_sse", "wire_sse", "write_wire_sse"]

_SDK_TYPE: Final = "message"  # httpx-sse's default type, which the SDK writes out


def wire_sse(event: Event) -> bytes:
    """The event as the server writes it: ``data: {json}\\n\\n``."""
    buffer = bytearray()
    write_wire_sse((event,), buffer)
    return bytes(buffer)


def write_wire_sse(events: Iterable[Event], buffer: bytearray) -> None:
    """Append each event's ``wire_sse`` to ``buffer``, encoding straight into it."""
    for event in events:
        if isinstance(event, UnknownEvent):
            buffer += encode_sse(event.raw)  # a stranger's bytes, which may span lines
        else:
            # msgspec writes JSON on one line (a line end in a string is escaped): one data
            # line, and none of encode_sse's checks, which cost more than the encoding here.
            buffer += b"data: "
            encode_known_event_into(event, buffer)
            buffer += b"\n\n"


def sdk_sse(event: Event) -> str:
    """The event as the official SDK's ``iter_events()`` writes it:
    ``event: message\\ndata: {json}\\n\\n``."""
    return encode_sse(encode_event(event), event=_SDK_TYPE).decode()


class SSEWriter:
    """Writes one stream for a browser: events as their JSON, text chunks as plain data.

    One writer per stream (it counts the messages for their ids); not thread-safe.

    Args:
        ids: give every message an ``id:`` (1, 2, 3, ...), the end event too. A browser that
            reconnects sends the last one as ``Last-Event-ID``, which tells a server that the
            request is a reconnect, not a new visitor.
        retry: milliseconds a browser waits before it reconnects, sent with the first message.
        end: the type of the event written last, or None for none. Its data is ``{}``, or
            ``{"error": "<type>"}`` when the stream failed (the type of the error only: the
            message may say more than a public page should see).

    Raises:
        ValueError: ``end`` is empty or holds a line end, or ``retry`` is negative.
    """

    def __init__(
        self, *, ids: bool = False, retry: int | None = None, end: str | None = None
    ) -> None:
        if end is not None and (not end or "\n" in end or "\r" in end):
            raise ValueError(f"end must be an event type on one line, not {end!r}")
        if retry is not None and retry < 0:
            raise ValueError(f"retry must be a number of milliseconds >= 0, not {retry}")
        self._ids = ids
        self._retry = retry
        self._end = end
        self._written = 0

    @property
    def end(self) -> str | None:
        """The type of the final event, if one is written."""
        return self._end

    def message(self, item: Event | str) -> str:
        """An event as its JSON, or a text chunk as it is (its line ends reach the browser as
        LF: SSE cannot carry a CR)."""
        data = item.encode() if isinstance(item, str) else encode_event(item)
        return self._write(data, None)

    def ending(self, error: BaseException | None = None) -> str:
        """The final event (empty when ``end`` is None), reporting ``error``'s type if given."""
        if self._end is None:
            return ""
        data = b"{}" if error is None else msgspec.json.encode({"error": type(error).__name__})
        return self._write(data, self._end)

    def _write(self, data: bytes, event: str | None) -> str:
        self._written += 1
        retry, self._retry = self._retry, None
        key = str(self._written) if self._ids else None
        return encode_sse(data, event=event, id=key, retry=retry).decode()
