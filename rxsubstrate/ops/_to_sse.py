"""``to_sse``: events (or text chunks) as Server-Sent Events text, to proxy a run to a browser."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from reactivex import Observable, abc

from .._events import Event
from .._sse_writer import SSEWriter

__all__ = ["to_sse"]


def to_sse(
    *, ids: bool = False, retry: int | None = None, end: str | None = None
) -> Callable[[Observable[Event | str]], Observable[str]]:
    """Each event as SSE text, its JSON as the data (``data: {json}\\n\\n``, as the server
    writes it); each ``str`` (a chunk from ``text()``) as plain data.

    The strings can go straight to a streaming HTTP response. For a browser's ``EventSource``,
    which reconnects (and so starts a new run) whenever a stream ends, pass ``end`` and have
    the page close its ``EventSource`` on that event; ``rxsubstrate.web`` does all of this
    for FastAPI and aiohttp, and writes a failure as the end event too, where here an error
    stays an ``on_error``.

    ::

        ---d(a)-----r(a)-----|          to_sse()
        ---s(d(a))--s(r(a))--|          s(e) = "data: " + json(e) + "\\n\\n"

        ---"Hel"----"lo"----|           to_sse(ids=True, end="end")
        ---t1-------t2------(e3|)       t1 = "id: 1\\ndata: Hel\\n\\n"
                                        e3 = "event: end\\nid: 3\\ndata: {}\\n\\n"

    Args:
        ids: give every message an ``id:`` (1, 2, ...) so that a reconnecting browser says
            how far it got (``Last-Event-ID``).
        retry: milliseconds a browser waits before reconnecting, sent with the first message.
        end: the type of an event written when the source completes (data ``{}``).

    Raises:
        ValueError: ``end`` is empty or not one line, or ``retry`` is negative (at call time).
    """
    SSEWriter(ids=ids, retry=retry, end=end)  # the options are checked now, not per run

    def operator(source: Observable[Event | str]) -> Observable[str]:
        def subscribe(
            observer: abc.ObserverBase[str], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            writer = SSEWriter(ids=ids, retry=retry, end=end)  # one count of ids per run

            def on_next(item: Event | str) -> None:
                try:
                    text = writer.message(item)
                except (TypeError, ValueError, msgspec.EncodeError) as exc:  # not encodable
                    observer.on_error(exc)
                    return
                observer.on_next(text)

            def on_completed() -> None:
                if end is not None:
                    observer.on_next(writer.ending())
                observer.on_completed()

            return source.subscribe(on_next, observer.on_error, on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return operator
