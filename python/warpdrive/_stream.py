"""Streaming between file objects: :func:`compress_stream`, which gives a gzip file it writes
from a regular file into a regular file a piece index in its header (see
``wd_core::pieces``); :func:`decompress_stream`, which decodes such files piece by piece on
several queues when it reads a regular file and writes one; and the checks of regular files
the command line shares with them.
"""

from __future__ import annotations

import fcntl
import io
import os
import stat

from . import _core

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO, Literal, Protocol, TypeGuard

    from ._core import _Reader, _Writer
    from .types import Format

    class _Output(Protocol):
        def write(self, data: bytes, /) -> object: ...
        def flush(self) -> None: ...


__all__ = [
    "compress_stream",
    "decompress_indexed",
    "decompress_stream",
    "index_room",
    "plain_reader",
    "remaining",
    "rewindable",
]

#: File objects whose reads are the bytes of their descriptor's file, in order. Exactly these
#: classes (a subclass, or another object with a ``fileno()``, such as ``gzip.GzipFile``, may
#: read or write other bytes than its file's).
_READERS: tuple[type, ...] = (io.FileIO, io.BufferedReader, io.BufferedRandom)
#: File objects whose writes go to their descriptor's file, in order.
_WRITERS: tuple[type, ...] = (io.FileIO, io.BufferedWriter, io.BufferedRandom)


class _Discard:
    """Takes the output and keeps none of it (the pieces are decoded and checked only)."""

    def write(self, data: bytes, /) -> int:
        return len(data)

    def flush(self) -> None:
        pass


def _plain_file(f: object, kinds: tuple[type, ...]) -> TypeGuard[IO[bytes]]:
    """Whether ``f`` is a file object of exactly one of ``kinds``, over an ``io.FileIO``."""
    if type(f) not in kinds:
        return False
    raw = f if type(f) is io.FileIO else getattr(f, "raw", None)
    return type(raw) is io.FileIO


def plain_reader(f: object) -> TypeGuard[IO[bytes]]:
    """Whether ``f`` reads its descriptor's file, in order (``open(path, "rb")``)."""
    return _plain_file(f, _READERS)


def rewindable(f: IO[bytes] | None) -> int | None:
    """The position of ``f`` if it is a regular file that is not appended to: a file the
    library can go back in. None otherwise (a pipe, a terminal, no file, ``O_APPEND``)."""
    if f is None:
        return None
    try:
        fd = f.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None
        return f.tell()
    except (OSError, ValueError):
        return None


def remaining(f: IO[bytes]) -> int | None:
    """How many bytes a regular file has from its position on; None for anything else."""
    try:
        st = os.fstat(f.fileno())
        return st.st_size - f.tell() if stat.S_ISREG(st.st_mode) else None
    except (OSError, ValueError):
        return None


def index_room(src: object, dst: object) -> tuple[int, int] | None:
    """``(input size, output position)`` when a gzip stream compressed from ``src`` into
    ``dst`` can carry a piece index: ``src`` a regular file read from where it is (its size
    from there reserves the room), ``dst`` a regular file not appended to (the index is
    written at the end, where the header went). None otherwise."""
    if not _plain_file(src, _READERS) or not _plain_file(dst, _WRITERS):
        return None
    size = remaining(src)
    base = rewindable(dst)
    if size is None or base is None:
        return None
    return size, base


def compress_stream(
    src: _Reader,
    dst: _Writer,
    format: Format = "gzip",
    level: int = -1,
    progress: Callable[[int, int], object] | None = None,
    chunk_size: int = 1 << 20,
    queues: int | None = None,
    *,
    name: bytes | None = None,
    mtime: int = 0,
) -> tuple[int, int]:
    """Compresses everything ``src.read(n)`` yields into ``dst.write(b)`` as one stream, in
    bounded memory; returns ``(bytes_in, bytes_out)``. ``progress(bytes_in, bytes_out)`` is
    called after each piece (``chunk_size`` bytes of input); the pieces are spread over
    ``queues`` queues (default: one per core, at most 4). ``name`` and ``mtime``: the gzip
    header's file name and modification time (none by default).

    A gzip stream written from a regular file (``open(path, "rb")``) into a regular file
    (``open(path, "wb")``, not for appending) gets a piece index in its header, as the
    command line's files do, so that :func:`decompress_stream`, :func:`decompress` and the
    command line decode its pieces on several queues at once. Any other output (a pipe,
    ``BytesIO``) is the same stream without the index.
    """
    room = index_room(src, dst) if _core._parse_format(format) == "gzip" else None
    if room is None:
        return _core.compress_stream(
            src, dst, format, level, progress, chunk_size, queues, name=name, mtime=mtime
        )
    size, base = room
    out: IO[bytes] = dst  # type: ignore[assignment]  # index_room checked it

    def patch(offset: int, data: bytes) -> None:
        out.flush()
        os.pwrite(out.fileno(), data, base + offset)

    return _core.compress_stream(
        src,
        dst,
        format,
        level,
        progress,
        chunk_size,
        queues,
        name=name,
        mtime=mtime,
        input_size=size,
        on_index=patch,
    )


def decompress_indexed(
    src: object,
    dst: object,
    progress: Callable[[int, int], object] | None = None,
    queues: int | None = None,
    *,
    out: _Output | None = None,
) -> tuple[int, int] | None:
    """Decodes a gzip file with a piece index (WarpDrive's own output) on several queues.

    ``src``: a regular file (``open(path, "rb")``) at its start; ``dst``: a regular file
    open for writing, at its end, not appended to; or None, when the output is only
    checked. What is decoded is written to ``out`` (default ``dst``). Returns ``(bytes_in,
    bytes_out)`` with ``src`` at its end. Returns None, with ``src`` and ``dst`` as they
    were, for any other pair of files, for a file without an index, and for one whose
    pieces do not decode as its index says (what was written of it is removed): the caller
    then decodes it as one stream, which also reports any damage.

    Errors: reading the input raises the core's ``OSError`` (a :class:`WarpDriveError`);
    writing, what ``out`` raises; going back in ``dst``, a plain ``OSError``.
    """
    # A regular file read from its start: the index is read there, as the whole file's.
    if (
        not _plain_file(src, _READERS)
        or not src.readable()
        or remaining(src) is None
        or src.tell() != 0
    ):
        return None
    if dst is None:
        base = 0
        sink: _Output = out if out is not None else _Discard()
    else:
        if not _plain_file(dst, _WRITERS) or not dst.writable():
            return None
        found = rewindable(dst)
        if found is None:
            return None
        base = found
        sink = out if out is not None else dst
        # Only a file written at its end: undoing a pass then leaves it as it was.
        sink.flush()
        if os.fstat(dst.fileno()).st_size != base:
            return None
    # The file is opened anew by its descriptor's name: its position stays where it is.
    done = _core.decompress_file_pieces(f"/dev/fd/{src.fileno()}", sink, progress, queues)
    if done is None:
        if dst is not None:
            # Not as its index says: undo what was written.
            sink.flush()
            dst.seek(base)
            dst.truncate()
        return None
    src.seek(0, os.SEEK_END)
    return done


def decompress_stream(
    src: _Reader,
    dst: _Writer,
    format: Format | Literal["auto"] = "gzip",
    progress: Callable[[int, int], object] | None = None,
    max_length: int | None = None,
    *,
    queues: int | None = None,
) -> tuple[int, int]:
    """Decompresses everything ``src.read(n)`` yields into ``dst.write(b)``, in bounded
    memory; returns ``(bytes_in, bytes_out)``. gzip input may have several members;
    ``format="auto"`` decodes gzip or zlib, told by the first byte.
    ``progress(bytes_in, bytes_out)`` is called as the work goes on. At most ``max_length``
    bytes are written (None: no limit): a stream that decodes to more raises
    :class:`OutputLimitError` after writing the first ``max_length``.

    A gzip file WarpDrive wrote into a regular file carries a piece index: when ``src`` is
    such a file opened for reading (``open(path, "rb")``, at its start) and ``dst`` a
    regular file opened for writing (at its end, not for appending), and there is no
    ``max_length``, its pieces are decoded on up to ``queues`` queues at once (default: one
    per core, at most 4). Every other input decodes as one stream, as does a file whose
    pieces do not match its index (what was written of it is removed first, and
    ``progress`` starts again from zero).
    """
    # The core's reading of the name (any case, aliases): "GZIP" and "gz" are gzip too. A
    # file that is not gzip has no index: "auto" then decodes it as one stream.
    if _core._parse_format(format, auto=True) in ("gzip", "auto") and max_length is None:
        done = decompress_indexed(src, dst, progress, queues)
        if done is not None:
            return done
    return _core.decompress_stream(src, dst, format, progress, max_length)
