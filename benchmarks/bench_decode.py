"""The client's per-read decoding work, without the network: SSE split, then typed events.

The realistic 200,000-event stream of ``_stream.py`` is cut the way the network delivers it:
into the transport's reads (16 KiB), into 64 KiB reads, and one event per read. For each, the
script times ``SSEDecoder.feed_data`` alone, ``feed_data`` then ``decode_batch`` (what the
transport does per read), and ``SSEDecoder.feed`` (whole ``ServerSentEvent``s), and prints the
best time per event.

Run: ``python -m benchmarks.bench_decode [--quick] [--repeats N]``. It prints figures; it asserts
nothing but the event count.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from rxsubstrate._event_stream import READ_SIZE
from rxsubstrate._events import decode_batch
from rxsubstrate._sse import SSEDecoder

from ._stream import build_stream


def cut(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def sse_only(chunks: list[bytes]) -> int:
    decoder = SSEDecoder()
    return sum(len(decoder.feed_data(chunk)) for chunk in chunks)


def sse_and_events(chunks: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for chunk in chunks:
        payloads = decoder.feed_data(chunk)
        if payloads:
            events, error = decode_batch(payloads, count)
            if error is not None:
                raise error
            count += len(events)
    return count


def whole_events(chunks: list[bytes]) -> int:
    decoder = SSEDecoder()
    return sum(len(decoder.feed(chunk)) for chunk in chunks)


def best(case: Callable[[list[bytes]], int], chunks: list[bytes], n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        count = case(chunks)
        times.append(time.perf_counter() - start)
        if count != n:
            raise SystemExit(f"{case.__name__} decoded {count} events, not {n}")
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20,000 events, one repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    repeats = 1 if args.quick else args.repeats
    stream = build_stream(n)
    print(f"{n:,} events ({len(stream.body) / 1e6:.1f} MB); best of {repeats}, ns per event")
    cuts = {
        f"{READ_SIZE // 1024} KiB reads": cut(stream.body, READ_SIZE),
        "64 KiB reads": cut(stream.body, 64 * 1024),
        "one event per read": stream.events,
    }
    cases = {
        "feed_data": sse_only,
        "feed_data + decode_batch": sse_and_events,
        "feed": whole_events,
    }
    print(f"{'':<20}" + "".join(f"{name:>26}" for name in cases))
    for label, chunks in cuts.items():
        row = [best(case, chunks, n, repeats) / n * 1e9 for case in cases.values()]
        print(f"{label:<20}" + "".join(f"{ns:>26.0f}" for ns in row))


if __name__ == "__main__":
    main()
