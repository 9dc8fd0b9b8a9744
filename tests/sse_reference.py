"""The WHATWG event-stream rules written as plainly as possible: the oracle the tests hold
``rxsubstrate._sse.SSEDecoder`` to.

It reads a whole stream at once, byte by byte, into lines, then applies "Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html) line by line, with the
spec's own buffers. Two choices are rxsubstrate's and stated by its decoder: data stays bytes
(the event and id fields are decoded as UTF-8 with replacement, as the spec decodes the whole
stream), and the size limit: a block (the lines between two blank lines, each line end counted
as one byte) larger than ``max_event_size`` ends the stream with ``EventTooLarge`` after the
events before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rxsubstrate import ServerSentEvent

__all__ = ["Parsed", "parse"]

CR, LF = 0x0D, 0x0A


@dataclass
class Parsed:
    """What a whole stream gives."""

    events: list[ServerSentEvent]
    too_large: bool  # an EventTooLarge after ``events``
    last_event_id: str  # the spec's "last event ID string" (set at each dispatch)
    pending: bool  # the stream ended inside a block


def split_lines(stream: bytes) -> tuple[list[bytes], bytes]:
    """The stream's lines (CRLF, LF or CR ends each), and the unterminated rest."""
    lines: list[bytes] = []
    line = bytearray()
    i = 0
    while i < len(stream):
        byte = stream[i]
        if byte in (CR, LF):
            lines.append(bytes(line))
            line.clear()
            if byte == CR and i + 1 < len(stream) and stream[i + 1] == LF:
                i += 1
        else:
            line.append(byte)
        i += 1
    return lines, bytes(line)


def parse(stream: bytes, max_event_size: int) -> Parsed:
    if stream[:3] == b"\xef\xbb\xbf":  # decoding as UTF-8 drops one leading BOM
        stream = stream[3:]
    lines, rest = split_lines(stream)
    events: list[ServerSentEvent] = []
    data_buffer = b""
    event_type_buffer = ""
    last_event_id_buffer = ""
    last_event_id = ""
    reconnection_time: int | None = None
    block_size = 0

    def result(too_large: bool) -> Parsed:
        return Parsed(events, too_large, last_event_id, block_size > 0)

    for line in lines:
        if line == b"":
            # Dispatch the event.
            last_event_id = last_event_id_buffer
            if data_buffer == b"":
                event_type_buffer = ""
            else:
                if data_buffer.endswith(b"\n"):
                    data_buffer = data_buffer[:-1]
                event_type = event_type_buffer or "message"
                events.append(
                    ServerSentEvent(data_buffer, event_type, last_event_id, reconnection_time)
                )
                data_buffer = b""
                event_type_buffer = ""
            block_size = 0
            continue
        block_size += len(line) + 1
        if block_size > max_event_size:
            return result(True)
        if line.startswith(b":"):
            continue
        if b":" in line:
            field = line[: line.index(b":")]
            value = line[line.index(b":") + 1 :]
            if value.startswith(b" "):
                value = value[1:]
        else:
            field, value = line, b""
        if field == b"event":
            event_type_buffer = value.decode("utf-8", "replace")
        elif field == b"data":
            data_buffer += value + b"\n"
        elif field == b"id":
            if b"\x00" not in value:
                last_event_id_buffer = value.decode("utf-8", "replace")
        elif field == b"retry" and value and all(48 <= b <= 57 for b in value):  # ASCII digits
            reconnection_time = int(value)
    block_size += len(rest)
    # Once the end of the file is reached, any pending data is discarded.
    return result(block_size > max_event_size)
