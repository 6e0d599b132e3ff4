"""File objects over compressed streams, as the ``gzip`` module's: :func:`open` and
:class:`GzipFile`.

Reading decodes piece by piece through a device queue (1 MiB of input and of output at a
time), reads every gzip member with zero padding between them, and can seek (forward by
decoding, backward by starting again). On a seekable file a thread reads ahead: it keeps
the next pieces decoding on the device while the caller consumes the current one, at most
``READ_AHEAD`` pieces ready at a time (an unseekable one, such as a pipe, whose read may
block for ever, is decoded when the caller asks). A gzip file WarpDrive wrote with a piece
index (``wd_core::pieces``), read from its start, is decoded on several queues at once by a
thread of its own (:class:`_Pieces`). Writing compresses 1 MiB pieces into one standard
stream with the gzip header's name and mtime, several pieces at once over several queues.
Memory stays bounded whatever the size of the stream.
"""

from __future__ import annotations

import atexit
import builtins
import collections
import io
import os
import threading
import time
import weakref
from typing import IO, TYPE_CHECKING, Final, Literal, TypedDict, Unpack, overload

from . import _core, _fork
from ._stream import plain_reader
from .errors import TruncatedDataError
from .types import DEFAULT_LEVEL, Format

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["GzipFile", "OpenOptions", "open"]

#: Compressed bytes read from the file at a time, and decompressed bytes made at a time.
READ_SIZE: Final[int] = 1 << 20
#: The size of the buffer ``readline`` and small reads are served from.
BUFFER_SIZE: Final[int] = 128 << 10
#: Decoded pieces (of ``READ_SIZE``) a reader of a seekable file keeps ready ahead of the
#: caller: a thread decodes them while the caller consumes the ones before (0: no thread).
READ_AHEAD = 2

_READ, _WRITE = 1, 2
_PathLike = str | bytes | os.PathLike[str] | os.PathLike[bytes]


class _Decoder:
    """The decoded bytes of every member of a compressed stream read from ``fp``, piece by
    piece. Used by one thread at a time: the reader's, or its read-ahead thread."""

    def __init__(self, fp: IO[bytes], format: Format) -> None:
        self._fp = fp
        self._format = format
        self._d: _core._Decompressor | None = None
        self._buf = b""
        self._off = 0
        self._input_done = False
        self._members = 0
        #: Compressed bytes read from ``fp`` and decoded bytes made so far.
        self.bytes_in = 0
        self.bytes_out = 0
        self.mtime: int | None = None
        self.original_name: str | None = None

    def _fill(self) -> bool:
        """Reads more input when all of it is used; False at the end of the file."""
        if self._off < len(self._buf):
            return True
        if self._input_done:
            return False
        self._buf = bytes(self._fp.read(READ_SIZE))
        self._off = 0
        self.bytes_in += len(self._buf)
        if not self._buf:
            self._input_done = True
            return False
        return True

    def _next_member(self) -> bool:
        """Starts the next stream (gzip member); False at a clean end of the input (an
        empty file reads as empty, as in the gzip module)."""
        while True:
            if not self._fill():
                return False
            if self._members == 0:
                break
            # After a member: zero padding (gzip), another member, or garbage, as the core
            # judges it for every other way of decoding (TrailingGarbageError).
            skip = _core._after_stream(memoryview(self._buf)[self._off :], self._format)
            if skip is None:  # zero padding to the end of what was read: read on
                self._off = len(self._buf)
                continue
            self._off += skip
            break
        self._d = _core._Decompressor(self._format)
        return True

    def piece(self, size: int) -> bytes:
        """At most ``size`` (> 0) decoded bytes; ``b""`` at the end of the stream."""
        while True:
            d = self._d
            if d is None or d.finished:
                if d is not None:
                    self._members += 1
                    self._d = None
                if not self._next_member():
                    return b""
                continue
            if not d.pending and not self._fill():
                e = d.truncated_error()
                raise e if e is not None else TruncatedDataError("the stream ends early")
            view = memoryview(self._buf)[self._off :]
            out, used = d.decompress(view, size)
            self._off += used
            if self.mtime is None and d.format == "gzip":
                h = d.gzip_header
                if h is not None:
                    name, self.mtime = h
                    self.original_name = None if name is None else name.decode("latin-1")
            if out:
                self.bytes_out += len(out)
                return out


class _Stopped(Exception):
    """Raised into the piece decoder's thread by a write after its reader stopped it."""


class _Pieces:
    """The decoded bytes of an indexed gzip file (WarpDrive's own, ``wd_core::pieces``): a
    thread of its own decodes the pieces on several queues and hands them over in order, at
    most ``READ_AHEAD`` waiting. Where they do not decode as the index says, the rest comes
    from the one-stream decoder, started again from the file's start past what was already
    given out (the pieces given out are the stream's own bytes: each stopped where the next
    one starts a block). The same interface as :class:`_Decoder`, used by one thread at a
    time; ``close`` stops the thread. A fork child does not use it (its reader starts again,
    :meth:`_DecodingReader._resume_in_child`)."""

    def __init__(self, fp: IO[bytes], format: Format, start: int) -> None:
        self._fp = fp
        self._format = format
        self._start = start
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._items: collections.deque[bytes] = collections.deque()
        #: The pieces' result once the thread is done: (bytes_in, bytes_out), None (not as
        #: the index says), or what it raised.
        self._result: tuple[int, int] | BaseException | None = None
        self._done = False
        self._stop = False
        self._rest: _Decoder | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        # The header's fields: the one-stream decoder reads them as it starts; here, from the
        # header itself.
        h = None
        try:
            d = _core._Decompressor(format)
            d.decompress(os.pread(fp.fileno(), HEADER_READ, start), 1)
            h = d.gzip_header
        except Exception:  # damage is the decoding's to report, as it reaches it
            pass
        self.mtime: int | None = None if h is None else h[1]
        self.original_name: str | None = (
            None if h is None or h[0] is None else h[0].decode("latin-1")
        )
        self._thread = threading.Thread(
            target=self._run, args=(fp.fileno(),), name="warpdrive-pieces", daemon=True
        )
        _pieces_running.add(self)
        self._thread.start()

    def write(self, data: bytes, /) -> int:
        """The sink of the core's piece decoder (its thread): waits for room."""
        with self._cond:
            while len(self._items) >= max(READ_AHEAD, 1) and not self._stop:
                self._cond.wait()
            if self._stop:
                raise _Stopped
            self._items.append(bytes(data))
            self._cond.notify_all()
        return len(data)

    def flush(self) -> None:
        pass

    def _run(self, fd: int) -> None:
        result: tuple[int, int] | BaseException | None
        try:
            # The file is opened anew by its descriptor's name: the reader's position stays.
            result = _core.decompress_file_pieces(f"/dev/fd/{fd}", self)
        except BaseException as e:  # handed to the reader, raised there
            result = e
        with self._cond:
            self._result = result
            self._done = True
            self._cond.notify_all()

    def close(self) -> None:
        """Stops the thread and waits for it (at most the pieces in flight)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._pid == os.getpid() and self._thread.is_alive():
            self._thread.join()

    def piece(self, size: int) -> bytes:
        """The next decoded bytes; ``b""`` at the end of the stream."""
        if self._rest is not None:
            out = self._rest.piece(size)
            self.bytes_in = self._rest.bytes_in
            self.bytes_out += len(out)
            return out
        with self._cond:
            while not self._items and not self._done:
                self._cond.wait()
            if self._items:
                out = self._items.popleft()
                self._cond.notify_all()
                self.bytes_out += len(out)
                return out
            result = self._result
        if isinstance(result, BaseException):
            raise result
        if result is not None:
            self.bytes_in = result[0]
            return b""
        self._start_rest()
        return self.piece(size)

    def _start_rest(self) -> None:
        """The one-stream decoder from the file's start, past what was given out."""
        self._rest = _decoder_past(self._fp, self._format, self._start, self.bytes_out)


def _decoder_past(fp: IO[bytes], format: Format, start: int, skip: int) -> _Decoder:
    """A one-stream decoder of ``fp`` from ``start``, past its first ``skip`` decoded bytes."""
    fp.seek(start)
    d = _Decoder(fp, format)
    while skip:
        out = d.piece(min(skip, READ_SIZE))
        if not out:
            break
        skip -= len(out)
    return d


#: Bytes of a file's start read for its gzip header's fields (its name may be long).
HEADER_READ: Final[int] = 64 << 10


def _indexed(fp: IO[bytes], format: Format, start: int) -> bool:
    """Whether ``fp`` is a regular file read from its start whose gzip header carries a piece
    index (the field's first bytes: the whole index is checked as the pieces are decoded)."""
    if format != "gzip" or start != 0 or not plain_reader(fp):
        return False
    try:
        head = os.pread(fp.fileno(), 14, 0)
    except OSError:
        return False
    # gzip, deflate, FEXTRA; the field's first subfield is the index's.
    gzip_extra = len(head) == 14 and head[:3] == b"\x1f\x8b\x08" and head[3] & 4 == 4
    return gzip_extra and head[12:] == b"WX"


class _Ahead:
    """What a reader and its read-ahead thread share: the decoded pieces not yet taken, in
    order, at most ``depth`` of them; a last item (``b""`` or an exception) stays."""

    def __init__(self, decoder: _Decoder | _Pieces, depth: int) -> None:
        self.decoder = decoder
        self.depth = depth
        self.cond = threading.Condition()
        self.items: collections.deque[bytes | BaseException] = collections.deque()
        self.stop = False
        #: Times the thread waited because ``depth`` pieces were already ready (the bound
        #: at work), and whether it is waiting now (cleared as soon as a piece is taken).
        self.full_waits = 0
        self.waiting_for_room = False
        #: The most pieces that were ready at once.
        self.most_ready = 0


def _read_ahead(a: _Ahead) -> None:
    """The read-ahead thread: decodes pieces until the end, an error or ``stop``. Holds no
    reference to the reader, so a reader that is dropped unclosed is still collected."""
    while True:
        with a.cond:
            while len(a.items) >= a.depth and not a.stop:
                a.full_waits += 1
                a.waiting_for_room = True
                a.cond.notify_all()
                a.cond.wait()
            a.waiting_for_room = False
            if a.stop:
                return
        item: bytes | BaseException
        try:
            # The device work and the file's read release the GIL: the reader's thread
            # consumes the pieces before this one meanwhile.
            item = a.decoder.piece(READ_SIZE)
        except BaseException as e:  # handed to the reader, raised there
            item = e
        with a.cond:
            a.items.append(item)
            a.most_ready = max(a.most_ready, len(a.items))
            a.cond.notify_all()
        if not isinstance(item, bytes) or not item:
            return


#: Every read-ahead that runs, with its thread: stopped and joined at interpreter exit. The
#: threads are daemons, so that a file left open does not keep the interpreter alive; and
#: joined before finalization, so that none comes back from the device into a finalizing
#: interpreter.
_running: weakref.WeakKeyDictionary[_Ahead, threading.Thread] = weakref.WeakKeyDictionary()


#: Every piece decoder whose thread may run: stopped and joined at interpreter exit, as the
#: read-ahead threads are.
_pieces_running: weakref.WeakSet[_Pieces] = weakref.WeakSet()


def _stop_all() -> None:
    for p in list(_pieces_running):
        p.close()
    running = list(_running.items())
    for a, _ in running:
        with a.cond:
            a.stop = True
            a.cond.notify_all()
    for _, t in running:
        # At most the piece under way (only seekable files are read ahead).
        t.join()


def _after_fork() -> None:
    # The threads are the parent's: a child reads on, without reading ahead, from where the
    # pieces taken so far end (the decoder's queue then refuses the child, as every queue
    # of the parent does).
    for a in list(_running):
        a.cond = threading.Condition()
        a.stop = True
    _running.clear()
    # The piece decoders' threads too: a child reads on from the one stream (_Pieces.piece).
    for p in list(_pieces_running):
        p._cond = threading.Condition()
        p._stop = True
    _pieces_running.clear()


atexit.register(_stop_all)
_fork.hooks.append(_after_fork)


class _DecodingReader(io.RawIOBase):
    """The decoded bytes of every member of a compressed stream, as a raw reader. On a
    seekable file a thread decodes up to ``READ_AHEAD`` pieces ahead of the caller."""

    def __init__(self, fp: IO[bytes], format: Format) -> None:
        super().__init__()
        self._fp = fp
        self._format = format
        self._start = fp.tell() if fp.seekable() else 0
        self._pid = os.getpid()
        #: A fork child's own description of the file (see _resume_in_child).
        self._own_fp: IO[bytes] | None = None
        self._decoder: _Decoder | _Pieces
        self._pos = 0
        self._ahead: _Ahead | None = None
        self._thread: threading.Thread | None = None
        self._reset()

    def _resume_in_child(self) -> None:
        """In a fork child, where the parent's threads and queues are not: decoding starts
        again on the child's own queue, from the file's start, through a file description of
        its own (the parent's position in the file is left alone), past what was read."""
        self._pid = os.getpid()
        self._ahead = self._thread = None
        fp = builtins.open(f"/dev/fd/{self._fp.fileno()}", "rb")  # noqa: SIM115 -- kept, closed in close()
        self._own_fp = fp
        self._decoder = _decoder_past(fp, self._format, self._start, self._pos)
        self._out, self._out_off = b"", 0

    def _reset(self) -> None:
        self._stop_ahead()
        self._close_decoder()
        self._decoder = (
            _Pieces(self._fp, self._format, self._start)
            if _indexed(self._fp, self._format, self._start)
            else _Decoder(self._fp, self._format)
        )
        self._pos = 0
        self._out = b""
        self._out_off = 0

    @property
    def mtime(self) -> int | None:
        return self._decoder.mtime

    @property
    def original_name(self) -> str | None:
        return self._decoder.original_name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._fp.seekable()

    def tell(self) -> int:
        return self._pos

    def _stop_ahead(self) -> None:
        a, t = self._ahead, self._thread
        self._ahead = self._thread = None
        if a is None or t is None:
            return
        with a.cond:
            a.stop = True
            a.cond.notify_all()
        # At most the piece under way (seekable files do not block on reads).
        t.join()
        _running.pop(a, None)

    def _next_piece(self) -> bytes:
        """The next decoded piece, from the read-ahead thread where there is one."""
        if self._pid != os.getpid() and self._own_fp is None and plain_reader(self._fp):
            self._resume_in_child()
        if READ_AHEAD <= 0 or not self._fp.seekable():
            return self._decoder.piece(READ_SIZE)
        a = self._ahead
        if a is None:
            a = self._ahead = _Ahead(self._decoder, READ_AHEAD)
            self._thread = threading.Thread(
                target=_read_ahead, args=(a,), name="warpdrive-read-ahead", daemon=True
            )
            _running[a] = self._thread
            self._thread.start()
        with a.cond:
            while not a.items:
                if a.stop:
                    # A fork child: no thread; decode here.
                    return self._decoder.piece(READ_SIZE)
                a.cond.wait()
            item = a.items[0]
            if isinstance(item, bytes) and item:
                a.items.popleft()
                # There is room now: the thread no longer waits for it (it will once it has
                # filled it again), so that a waiter on the flag sees the bound reached.
                a.waiting_for_room = False
                a.cond.notify_all()
                return item
        if isinstance(item, BaseException):
            raise item
        return item

    def readinto(self, b: Buffer) -> int:
        with memoryview(b) as view, view.cast("B") as dst:
            n = len(dst)
            if n == 0:
                return 0
            if self._out_off == len(self._out):
                self._out = self._next_piece()
                self._out_off = 0
            k = min(n, len(self._out) - self._out_off)
            dst[:k] = self._out[self._out_off : self._out_off + k]
            self._out_off += k
            if self._out_off == len(self._out):
                self._out, self._out_off = b"", 0
            self._pos += k
            return k

    def _close_decoder(self) -> None:
        d = getattr(self, "_decoder", None)
        if isinstance(d, _Pieces):
            d.close()

    def close(self) -> None:
        self._stop_ahead()
        self._close_decoder()
        if self._own_fp is not None:
            self._own_fp.close()
        super().close()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            while self.read(READ_SIZE):
                pass
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise ValueError(f"invalid whence ({whence})")
        if offset < 0:
            raise OSError(22, "negative seek position")
        if offset < self._pos:
            if not self._fp.seekable():
                raise io.UnsupportedOperation("backward seek on an unseekable file")
            # The read-ahead thread reads the file: stopped before the file moves.
            self._stop_ahead()
            self._fp.seek(self._start)
            self._reset()
        while self._pos < offset:
            if not self.read(min(READ_SIZE, offset - self._pos)):
                break
        return self._pos


def _header_name(name: str) -> bytes | None:
    """The file name a gzip header written for the file ``name`` carries: its base name
    without ``.gz``; None for an empty one, one Latin-1 cannot write, or one with a NUL."""
    base = os.path.basename(name)
    if base.endswith(".gz"):
        base = base[:-3]
    try:
        hname = base.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return hname if hname and b"\0" not in hname else None


def _one_level(level: int, compresslevel: int | None) -> int:
    """The level given as ``level`` or as ``compresslevel`` (the gzip module's name)."""
    if compresslevel is None:
        return level
    if level != DEFAULT_LEVEL:
        raise TypeError(
            "level and compresslevel (the gzip module's name for it) are one argument: give either"
        )
    return compresslevel


class GzipFile(io.BufferedIOBase):
    """A compressed file, as ``gzip.GzipFile``: ``mode`` ``rb`` (default), ``wb``, ``ab``,
    ``xb`` (``r``, ``w``, ``a``, ``x`` too); ``filename`` or ``fileobj`` (a binary file
    object). ``level``: 1..9 or -1 (default, 6); ``compresslevel``, the gzip module's name
    for it, is taken too. ``mtime``: the header's modification time
    (default: now; read back as ``.mtime``). ``format``: ``"gzip"`` (default), ``"zlib"``,
    ``"deflate"``. The gzip header's file name is ``filename``'s base name without ``.gz``
    (read back as ``.original_name``); ``.name`` is the file's name, as in ``gzip``.
    ``queues``: how many device queues a writer spreads its 1 MiB pieces over (default: as
    :func:`warpdrive.compress_stream`); the pieces are joined into one standard stream.
    """

    def __init__(
        self,
        filename: _PathLike | None = None,
        mode: str | None = None,
        level: int = DEFAULT_LEVEL,
        fileobj: IO[bytes] | None = None,
        mtime: float | None = None,
        *,
        format: Format = "gzip",
        queues: int | None = None,
        compresslevel: int | None = None,
    ) -> None:
        level = _one_level(level, compresslevel)
        if mode and ("t" in mode or "U" in mode):
            raise ValueError(f"invalid mode {mode!r}: use warpdrive.open for text")
        if mode and "b" not in mode:
            mode += "b"
        self._own: IO[bytes] | None = None
        if fileobj is None:
            if filename is None:
                raise TypeError("GzipFile needs a filename or a fileobj")
            # Closed by close(), as the gzip module's own file.
            fileobj = self._own = builtins.open(filename, mode or "rb")  # noqa: SIM115
        if mode is None:
            mode = getattr(fileobj, "mode", "rb")
        if filename is None:
            filename = getattr(fileobj, "name", "")
            if not isinstance(filename, (str, bytes)):
                filename = ""
        self.name: str = os.fsdecode(filename)
        self._fp: IO[bytes] | None = fileobj
        self.mode: int
        self._raw: _DecodingReader | None = None
        self._buffer: io.BufferedReader | None = None
        self._c: _core._Compressor | None = None
        self._mtime_arg = mtime
        try:
            if mode.startswith("r"):
                self.mode = _READ
                self._raw = _DecodingReader(fileobj, format)
                self._buffer = io.BufferedReader(self._raw, BUFFER_SIZE)
            elif mode[:1] in ("w", "a", "x"):
                self.mode = _WRITE
                stamp = int(time.time() if mtime is None else mtime)
                hname = _header_name(self.name)
                self._c = _core._Compressor(format, level, hname, stamp, queues)
                self._size = 0
            else:
                raise ValueError(f"invalid mode {mode!r}")
        except BaseException:
            if self._own is not None:
                self._own.close()
            raise

    def _first_header(self) -> _DecodingReader | None:
        """The raw reader once the first member's header is read (reading), else None."""
        if self._raw is not None and self._raw.mtime is None and self._buffer is not None:
            self._buffer.peek(1)
        return self._raw

    @property
    def mtime(self) -> int | None:
        """The header's modification time: of the first member once read (reading), or the
        one written."""
        if (raw := self._first_header()) is not None:
            return raw.mtime
        return None if self._mtime_arg is None else int(self._mtime_arg)

    @property
    def original_name(self) -> str | None:
        """The file name the gzip header of the first member carries (reading)."""
        raw = self._first_header()
        return None if raw is None else raw.original_name

    @property
    def closed(self) -> bool:
        return self._fp is None

    def _check(self, want: int) -> None:
        if self._fp is None:
            raise ValueError("I/O operation on closed file")
        if self.mode != want:
            op = "read" if want == _READ else "write"
            raise io.UnsupportedOperation(f"{op}() on a file opened for the other direction")

    def readable(self) -> bool:
        return self._fp is not None and self.mode == _READ

    def writable(self) -> bool:
        return self._fp is not None and self.mode == _WRITE

    def seekable(self) -> bool:
        return self.readable() and self._raw is not None and self._raw.seekable()

    def fileno(self) -> int:
        if self._fp is None:
            raise ValueError("I/O operation on closed file")
        return self._fp.fileno()

    def _reader(self) -> io.BufferedReader:
        """The buffered decoded stream every read method serves from."""
        self._check(_READ)
        assert self._buffer is not None
        return self._buffer

    def read(self, size: int | None = -1) -> bytes:
        return self._reader().read(size)

    def read1(self, size: int = -1) -> bytes:
        return self._reader().read1(size if size >= 0 else BUFFER_SIZE)

    def readinto(self, b: Buffer) -> int:
        return self._reader().readinto(b)

    def peek(self, n: int = 0) -> bytes:
        return self._reader().peek(n)

    def readline(self, size: int | None = -1) -> bytes:
        return self._reader().readline(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._reader().seek(offset, whence)

    def tell(self) -> int:
        if self._fp is None:
            raise ValueError("I/O operation on closed file")
        if self.mode == _READ:
            assert self._buffer is not None
            return self._buffer.tell()
        return self._size

    def write(self, data: Buffer) -> int:
        self._check(_WRITE)
        assert self._c is not None and self._fp is not None
        with memoryview(data) as view:
            n = view.nbytes
            out = self._c.compress(view)
        if out:
            self._fp.write(out)
        self._size += n
        return n

    def flush(self) -> None:
        """Writing: everything written so far goes to the file as decodable output (a sync
        flush), and the file is flushed."""
        if self._fp is None:
            return
        if self.mode == _WRITE:
            assert self._c is not None
            out = self._c.flush(False)
            if out:
                self._fp.write(out)
            self._fp.flush()

    def close(self) -> None:
        fp = self._fp
        if fp is None:
            return
        try:
            if self.mode == _WRITE and self._c is not None:
                fp.write(self._c.flush(True))
            elif self._buffer is not None:
                self._buffer.close()
        finally:
            self._fp = None
            self._c = None
            if self._own is not None:
                self._own.close()
                self._own = None

    def __iter__(self) -> GzipFile:
        self._check(_READ)
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


_Binary = Literal["r", "rb", "w", "wb", "a", "ab", "x", "xb"]
_Text = Literal["rt", "wt", "at", "xt"]
_Source = _PathLike | IO[bytes]


class OpenOptions(TypedDict, total=False):
    """The keyword arguments :func:`open` passes on to :class:`GzipFile` as they are."""

    format: Format
    mtime: float | None
    queues: int | None
    compresslevel: int | None


@overload
def open(
    filename: _Source,
    mode: _Binary = "rb",
    level: int = DEFAULT_LEVEL,
    **options: Unpack[OpenOptions],
) -> GzipFile: ...
@overload
def open(
    filename: _Source,
    mode: _Text,
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    **options: Unpack[OpenOptions],
) -> io.TextIOWrapper: ...
@overload
def open(
    filename: _Source,
    mode: str,
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    **options: Unpack[OpenOptions],
) -> GzipFile | io.TextIOWrapper: ...
def open(
    filename: _Source,
    mode: str = "rb",
    level: int = DEFAULT_LEVEL,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
    **options: Unpack[OpenOptions],
) -> GzipFile | io.TextIOWrapper:
    """Opens a compressed file, as ``gzip.open``: ``filename`` is a path or a binary file
    object. Binary modes (``rb``, ``wb``, ``ab``, ``xb``, the default ``rb``) return a
    :class:`GzipFile`; text modes (``rt``, ``wt``, ``at``, ``xt``) wrap it in an
    ``io.TextIOWrapper`` with ``encoding``, ``errors`` and ``newline``. ``level`` (or
    ``compresslevel``), ``format``, ``mtime`` and ``queues`` are :class:`GzipFile`'s."""
    if "t" in mode:
        if "b" in mode:
            raise ValueError(f"invalid mode {mode!r}")
    elif encoding is not None or errors is not None or newline is not None:
        raise ValueError("encoding, errors and newline are for text modes only")
    bmode = mode.replace("t", "")
    if isinstance(filename, (str, bytes, os.PathLike)):
        f = GzipFile(filename, bmode, level, **options)
    elif hasattr(filename, "read") or hasattr(filename, "write"):
        f = GzipFile(None, bmode, level, filename, **options)
    else:
        raise TypeError("filename must be a str, bytes or os.PathLike object, or a file")
    if "t" in mode:
        return io.TextIOWrapper(f, io.text_encoding(encoding), errors, newline)
    return f
