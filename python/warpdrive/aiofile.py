"""An asyncio file object over :func:`warpdrive.open`: ``warpdrive.aio.open``.

Each call runs the blocking file object's method in a worker thread (the device work
releases the GIL there), one call at a time per file, so the event loop never waits for
compression, decompression or the disk. Memory is what the file object holds: bounded,
whatever the size of the stream.

``async for`` takes lines in batches of about ``LINE_BATCH`` per worker-thread call (a
thread hop per line made it some 20 times slower than the blocking file's iteration);
``read``, ``readline``, ``tell`` and ``seek`` account for a batch's lines not given yet.
The methods that only forward are made by one mechanism, :class:`_InThread`: each is
declared with the blocking method it runs (``write = _InThread(GzipFile.write)``), whose
signature it keeps for type checkers.

Why a worker thread and not the asyncio queues: a file is one stream, decoded request after
request, and the blocking file object already does it (read-ahead, members, headers, seek,
text); from 128 KiB per call the thread hop costs nothing measurable, and only small reads
pay it (bench/experiments/python-package/README.md).
"""

from __future__ import annotations

import asyncio
import collections
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


#: About how many bytes (characters in text mode) of lines ``async for`` takes from the
#: file per worker-thread call.
LINE_BATCH = 64 << 10


class _File(Protocol[_S_co]):
    """What :class:`AsyncFile` itself calls on the blocking file."""

    @property
    def closed(self) -> bool: ...
    def readline(self, size: int = -1, /) -> _S_co: ...
    def read(self, size: int = -1, /) -> _S_co: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def seekable(self) -> bool: ...
    def tell(self) -> int: ...
    def close(self) -> None: ...


def _lines(f: _File[AnyStr], text: bool) -> tuple[int | None, list[AnyStr]]:
    """Whole lines from ``f``, about ``LINE_BATCH`` of them, and (text mode, seekable
    file) the position they start at."""
    start = f.tell() if text and f.seekable() else None
    lines: list[AnyStr] = []
    n = 0
    while n < LINE_BATCH:
        line = f.readline()
        if not line:
            break
        lines.append(line)
        n += len(line)
    return start, lines


class AsyncFile(Generic[AnyStr]):
    """A compressed file for asyncio: ``await f.read(n)``, ``await f.readline()``,
    ``async for line in f``, ``await f.write(data)``, ``await f.flush()``, ``await
    f.seek(offset, whence)``, ``await f.tell()``, ``async with``. Bytes in binary modes
    (:class:`AsyncBinaryFile`), ``str`` in text modes (:class:`AsyncTextFile`).

    ``async for`` takes the lines in batches (one worker-thread call per ``LINE_BATCH``);
    the other calls first serve what a batch holds, so they see the file where the lines
    already given end."""

    _text = False

    def __init__(self, f: _File[AnyStr]) -> None:
        self._f: _File[AnyStr] = f
        self._lock = asyncio.Lock()
        #: Lines of the current batch not given yet, their size, what the batch gave so
        #: far, and where it started (text mode).
        self._pending: collections.deque[AnyStr] = collections.deque()
        self._pending_len = 0
        self._given = 0
        self._start: int | None = None

    async def _run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` in a worker thread, after the file's earlier calls."""
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    def _take(self, size: int) -> AnyStr | None:
        """Up to ``size`` (-1: all) of the batch's lines, joined; None with none pending."""
        if not self._pending:
            return None
        parts = []
        n = 0
        while self._pending and (size < 0 or n < size):
            line = self._pending.popleft()
            if 0 <= size < n + len(line):
                cut = size - n
                self._pending.appendleft(line[cut:])
                line = line[:cut]
            parts.append(line)
            n += len(line)
        self._pending_len -= n
        self._given += n
        empty = parts[0][:0] if parts else self._pending[0][:0]
        return empty.join(parts)

    def _drop_batch(self) -> None:
        self._pending.clear()
        self._pending_len = 0

    async def _settle(self) -> None:
        """Text mode: moves the file to where the lines given so far end (a text position
        cannot be counted back), by reading the batch again up to there."""
        start, given = self._start, self._given
        if not self._pending or start is None:
            # Nothing to undo; or an unseekable file, whose tell and seek then fail.
            return
        f = self._f

        def rewind() -> None:
            f.seek(start)
            f.read(given)

        await self._run(rewind)
        self._drop_batch()

    @property
    def raw(self) -> Any:
        """The blocking file object underneath (a ``GzipFile`` or its text wrapper)."""
        return self._f

    @property
    def closed(self) -> bool:
        return self._f.closed

    async def read(self, size: int = -1) -> AnyStr:
        """At most ``size`` bytes (characters in text mode); everything with -1."""
        got = self._take(size)
        if got is None:
            return await self._run(self._f.read, size)
        if size < 0 or len(got) < size:
            got += await self._run(self._f.read, size if size < 0 else size - len(got))
        return got

    async def readline(self, size: int = -1) -> AnyStr:
        """One line (with its end), or less than one at the end of the file."""
        got = self._take(len(self._pending[0]) if self._pending else 0)
        if got is not None:
            if 0 <= size < len(got):
                self._pending.appendleft(got[size:])
                self._pending_len += len(got) - size
                self._given -= len(got) - size
                got = got[:size]
            return got
        return await self._run(self._f.readline, size)

    # What both modes have, for code that holds an AsyncFile[bytes] or AsyncFile[str]; the
    # subclasses run the blocking file's methods.
    async def write(self, data: AnyStr, /) -> int:
        """Writes ``data``; returns how much was taken."""
        raise NotImplementedError

    async def flush(self) -> None:
        """Makes everything written so far decodable and flushes the file."""
        raise NotImplementedError

    async def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        """Moves the read position (binary: forward by decoding, backward by starting
        again; text: to a position ``tell`` gave)."""
        raise NotImplementedError

    async def tell(self) -> int:
        """The read or write position."""
        raise NotImplementedError

    async def close(self) -> None:
        """Ends the stream (writing) and closes the file."""
        self._drop_batch()
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
        if not self._pending:
            start, lines = await self._run(_lines, self._f, self._text)
            if not lines:
                raise StopAsyncIteration
            if not self._pending:  # (another task may have taken a batch meanwhile)
                self._start, self._given = start, 0
            self._pending.extend(lines)
            self._pending_len += sum(map(len, lines))
        line = self._take(len(self._pending[0]))
        assert line is not None
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

    write = _InThread(GzipFile.write)
    flush = _InThread(GzipFile.flush)

    async def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Moves the read position (forward by decoding, backward by starting again)."""
        if whence == io.SEEK_CUR:
            offset -= self._pending_len
        pos = await self._run(self._f.seek, offset, whence)
        self._drop_batch()
        return pos

    async def tell(self) -> int:
        """The position in the decompressed stream."""
        return await self._run(self._f.tell) - self._pending_len


class AsyncTextFile(AsyncFile[str]):
    """:class:`AsyncFile` of a text mode, over an ``io.TextIOWrapper``."""

    _text = True

    write = _InThread(io.TextIOWrapper.write)
    flush = _InThread(io.TextIOWrapper.flush)

    async def seek(self, cookie: int, whence: int = io.SEEK_SET) -> int:
        """``io.TextIOWrapper.seek``: to a position ``tell`` gave, or the end."""
        if whence == io.SEEK_CUR:
            await self._settle()
        pos = await self._run(self._f.seek, cookie, whence)
        self._drop_batch()
        return pos

    async def tell(self) -> int:
        """``io.TextIOWrapper.tell``: an opaque position for ``seek``."""
        await self._settle()
        return await self._run(self._f.tell)


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
