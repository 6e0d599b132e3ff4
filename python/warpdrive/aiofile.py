"""An asyncio file object over :func:`warpdrive.open`: ``warpdrive.aio.open``.

Each call runs the blocking file object's method in a worker thread (the device work
releases the GIL there), one call at a time per file, so the event loop never waits for
compression, decompression or the disk. Memory is what the file object holds: bounded,
whatever the size of the stream.
"""

from __future__ import annotations

import asyncio
import io
import os
from typing import IO, TYPE_CHECKING, Any, AnyStr, Generic, Literal, Self, overload

from .gzipfile import open as _open_file
from .types import DEFAULT_LEVEL, Format

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncFile", "open"]

_PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]


class AsyncFile(Generic[AnyStr]):
    """A compressed file for asyncio: ``await f.read(n)``, ``await f.readline()``,
    ``async for line in f``, ``await f.write(data)``, ``async with``. Bytes in binary
    modes, ``str`` in text modes."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self._lock = asyncio.Lock()

    async def _call(self, name: str, *args: Any) -> Any:
        async with self._lock:
            return await asyncio.to_thread(getattr(self._f, name), *args)

    @property
    def raw(self) -> Any:
        """The blocking file object underneath (a ``GzipFile`` or its text wrapper)."""
        return self._f

    @property
    def closed(self) -> bool:
        return bool(self._f.closed)

    async def read(self, size: int = -1) -> AnyStr:
        """At most ``size`` bytes (characters in text mode); everything with -1."""
        r: AnyStr = await self._call("read", size)
        return r

    async def readline(self, size: int = -1) -> AnyStr:
        """One line (with its end), or less than one at the end of the file."""
        r: AnyStr = await self._call("readline", size)
        return r

    async def write(self, data: AnyStr) -> int:
        """Writes ``data``; returns how much was taken."""
        n: int = await self._call("write", data)
        return n

    async def flush(self) -> None:
        """Makes everything written so far decodable and flushes the file."""
        await self._call("flush")

    async def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Moves the read position (forward by decoding, backward by starting again)."""
        pos: int = await self._call("seek", offset, whence)
        return pos

    async def tell(self) -> int:
        pos: int = await self._call("tell")
        return pos

    async def close(self) -> None:
        """Ends the stream (writing) and closes the file."""
        await self._call("close")

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> AnyStr:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line


_Binary = Literal["r", "rb", "w", "wb", "a", "ab", "x", "xb"]
_Text = Literal["rt", "wt", "at", "xt"]


@overload
def open(
    filename: _PathLike | IO[bytes],
    mode: _Binary = "rb",
    level: int = DEFAULT_LEVEL,
    *,
    format: Format = "gzip",
    mtime: float | None = None,
    queues: int | None = None,
) -> AsyncFile[bytes]: ...
@overload
def open(
    filename: _PathLike | IO[bytes],
    mode: _Text,
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    *,
    format: Format = "gzip",
    mtime: float | None = None,
    queues: int | None = None,
) -> AsyncFile[str]: ...
def open(
    filename: _PathLike | IO[bytes],
    mode: str = "rb",
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    *,
    format: Format = "gzip",
    mtime: float | None = None,
    queues: int | None = None,
) -> AsyncFile[Any]:
    """Opens a compressed file for asyncio, with :func:`warpdrive.open`'s arguments::

        async with warpdrive.aio.open("log.gz", "rt") as f:
            async for line in f:
                ...

    Opening the file itself is quick and happens at once (as ``open`` does); reading,
    writing and closing run in a worker thread.
    """
    f = _open_file(
        filename,
        mode,
        level,
        encoding,
        errors,
        newline,
        format=format,
        mtime=mtime,
        queues=queues,
    )
    return AsyncFile(f)
