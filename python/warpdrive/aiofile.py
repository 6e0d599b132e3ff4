"""An asyncio file object over :func:`warpdrive.open`: ``warpdrive.aio.open``.

Each call runs the blocking file object's method in a worker thread (the device work
releases the GIL there), one call at a time per file, so the event loop never waits for
compression, decompression or the disk. Memory is what the file object holds: bounded,
whatever the size of the stream.

The async methods are made by one mechanism, :class:`_InThread`: each is declared with the
blocking method it runs (``read = _InThread(GzipFile.read)``), whose signature it keeps
for type checkers.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Coroutine
from typing import (
    TYPE_CHECKING,
    Any,
    AnyStr,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    Unpack,
    overload,
)

from .gzipfile import GzipFile, OpenOptions, _Binary, _Source, _Text
from .gzipfile import open as _open_file
from .types import DEFAULT_LEVEL

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["AsyncBinaryFile", "AsyncFile", "AsyncTextFile", "open"]

P = ParamSpec("P")
R = TypeVar("R")
_S_co = TypeVar("_S_co", bytes, str, covariant=True)


class _File(Protocol[_S_co]):
    """What :class:`AsyncFile` itself calls on the blocking file."""

    @property
    def closed(self) -> bool: ...
    def readline(self, size: int = -1, /) -> _S_co: ...
    def close(self) -> None: ...


class AsyncFile(Generic[AnyStr]):
    """A compressed file for asyncio: ``await f.read(n)``, ``await f.readline()``,
    ``async for line in f``, ``await f.write(data)``, ``await f.flush()``, ``await
    f.seek(offset, whence)``, ``await f.tell()``, ``async with``. Bytes in binary modes
    (:class:`AsyncBinaryFile`), ``str`` in text modes (:class:`AsyncTextFile`)."""

    def __init__(self, f: _File[AnyStr]) -> None:
        self._f: _File[AnyStr] = f
        self._lock = asyncio.Lock()

    async def _run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` in a worker thread, after the file's earlier calls."""
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    @property
    def raw(self) -> Any:
        """The blocking file object underneath (a ``GzipFile`` or its text wrapper)."""
        return self._f

    @property
    def closed(self) -> bool:
        return self._f.closed

    async def readline(self, size: int = -1) -> AnyStr:
        """One line (with its end), or less than one at the end of the file."""
        return await self._run(self._f.readline, size)

    async def close(self) -> None:
        """Ends the stream (writing) and closes the file."""
        await self._run(self._f.close)

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


class _InThread(Generic[P, R]):
    """An async method of :class:`AsyncFile` that runs the blocking file's method of the
    same name in a worker thread (``AsyncFile._run``), typed as that method."""

    def __init__(self, blocking: Callable[Concatenate[Any, P], R]) -> None:
        self._name = blocking.__name__
        owner = getattr(blocking, "__qualname__", self._name)
        self.__doc__ = f"Runs ``{owner}`` in a worker thread."

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(
        self, obj: AsyncFile[Any], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(
        self, obj: AsyncFile[Any] | None, owner: type[Any]
    ) -> Self | Callable[P, Coroutine[Any, Any, R]]:
        if obj is None:
            return self
        method: Callable[P, R] = getattr(obj.raw, self._name)

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return await obj._run(method, *args, **kwargs)

        call.__name__ = self._name
        call.__doc__ = self.__doc__
        return call


class AsyncBinaryFile(AsyncFile[bytes]):
    """:class:`AsyncFile` of a binary mode, over a :class:`~warpdrive.GzipFile`."""

    read = _InThread(GzipFile.read)
    write = _InThread(GzipFile.write)
    flush = _InThread(GzipFile.flush)
    seek = _InThread(GzipFile.seek)
    tell = _InThread(GzipFile.tell)


class AsyncTextFile(AsyncFile[str]):
    """:class:`AsyncFile` of a text mode, over an ``io.TextIOWrapper``."""

    read = _InThread(io.TextIOWrapper.read)
    write = _InThread(io.TextIOWrapper.write)
    flush = _InThread(io.TextIOWrapper.flush)
    seek = _InThread(io.TextIOWrapper.seek)
    tell = _InThread(io.TextIOWrapper.tell)


@overload
def open(
    filename: _Source,
    mode: _Binary = "rb",
    level: int = DEFAULT_LEVEL,
    **options: Unpack[OpenOptions],
) -> AsyncBinaryFile: ...
@overload
def open(
    filename: _Source,
    mode: _Text,
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    **options: Unpack[OpenOptions],
) -> AsyncTextFile: ...
def open(
    filename: _Source,
    mode: str = "rb",
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    **options: Unpack[OpenOptions],
) -> AsyncBinaryFile | AsyncTextFile:
    """Opens a compressed file for asyncio, with :func:`warpdrive.open`'s arguments::

        async with warpdrive.aio.open("log.gz", "rt") as f:
            async for line in f:
                ...

    Opening the file itself is quick and happens at once (as ``open`` does); reading,
    writing and closing run in a worker thread.
    """
    f = _open_file(filename, mode, level, encoding, errors, newline, **options)
    if isinstance(f, GzipFile):
        return AsyncBinaryFile(f)
    return AsyncTextFile(f)
