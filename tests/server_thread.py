"""A test server's own event loop on its own thread, so sync and async clients alike reach it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

T = TypeVar("T")


class ServerThread:
    """Runs ``_start`` (which returns the URL) on entering a ``with`` block, ``_stop`` on
    leaving it, both on the server's loop; leaving also ends the loop and joins the thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> Self:
        self._thread.start()
        self.url = self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> str:
        raise NotImplementedError

    @staticmethod
    async def _finish_handlers() -> None:
        """Cancel the server's handlers still running (hanging, streaming) after its cleanup,
        and let them finish, or the loop closes under them ("Task was destroyed but it is
        pending")."""
        handlers = asyncio.all_tasks() - {asyncio.current_task()}
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    async def _stop(self) -> None:
        raise NotImplementedError
