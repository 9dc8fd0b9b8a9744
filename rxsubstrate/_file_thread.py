"""A file used from an event loop without the loop waiting on the disk to read or write it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Literal, TypeVar

__all__ = ["FileThread"]

T = TypeVar("T")


class FileThread:
    """One file, opened, read and written on a thread of its own, one call after the other.

    ``close()`` is synchronous and idempotent, so that it also works where nothing can be handed
    to a thread any more (the interpreter exiting). If a wait for a call was cancelled (the
    consumer left), that call may still be running: ``close()`` then waits for it, and a file
    whose opening was still running is closed as soon as it is open.

    Args:
        path: the file.
        mode: ``"rb"`` to read it, ``"wb"`` to write it anew.
    """

    def __init__(self, path: str, mode: Literal["rb", "wb"]) -> None:
        self._path = path
        self._mode = mode
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rxsubstrate-file")

    async def open(self) -> None:
        """Open the file. Raises what ``open`` raises (``FileNotFoundError``, ...)."""
        await self._call(self._open)

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end of the file."""
        return await self._call(self._read, n)

    async def write(self, data: bytes) -> None:
        """Write ``data`` and flush it to the OS: if this process dies, none of it is lost."""
        await self._call(self._write, data)

    def close(self) -> None:
        """Close the file, then let its thread end."""
        with self._lock:
            self._closed = True
            file, self._file = self._file, None
        if file is not None:
            file.close()
        self._thread.shutdown(wait=False)

    async def _call(self, job: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, job, *args)

    def _open(self) -> None:
        file = open(self._path, self._mode)  # noqa: SIM115  (closed by close())
        with self._lock:
            kept = not self._closed
            if kept:
                self._file = file
        if not kept:  # closed while it was being opened
            file.close()

    def _opened(self) -> BinaryIO:
        file = self._file
        if file is None:
            raise ValueError(f"{self._path} is closed")
        return file

    def _read(self, n: int) -> bytes:
        return self._opened().read(n)

    def _write(self, data: bytes) -> None:
        file = self._opened()
        file.write(data)
        file.flush()
