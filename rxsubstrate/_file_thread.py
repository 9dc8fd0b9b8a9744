"""A file used from an event loop without the loop ever waiting on the disk."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Literal, TypeVar

__all__ = ["FileThread"]

T = TypeVar("T")


class FileThread:
    """One file, opened, read or written and closed on a thread of its own, in call order.

    Every call is queued on that thread, so a wait cancelled midway (a consumer that left)
    never leaves the file used by two threads at once: what was queued runs, the close last.

    Args:
        path: the file.
        mode: ``"rb"`` to read it, ``"wb"`` to write it anew.
    """

    def __init__(self, path: str, mode: Literal["rb", "wb"]) -> None:
        self._path = path
        self._mode = mode
        self._file: BinaryIO | None = None
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

    async def aclose(self) -> None:
        """Close the file once the calls before have run (also when this wait is cancelled)."""
        closing = self._thread.submit(self._close)
        self._thread.shutdown(wait=False)
        await asyncio.wrap_future(closing)

    async def _call(self, job: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, job, *args)

    def _open(self) -> None:
        self._file = open(self._path, self._mode)  # noqa: SIM115  (closed by _close)

    def _read(self, n: int) -> bytes:
        assert self._file is not None
        return self._file.read(n)

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._file.flush()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
