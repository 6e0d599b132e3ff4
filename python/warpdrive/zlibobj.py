"""Incremental compression and decompression with the ``zlib`` module's semantics:
:func:`compressobj` / :func:`decompressobj` return :class:`Compress` / :class:`Decompress`
objects (``compress``/``flush``; ``decompress(data, max_length)`` with
``unconsumed_tail``, ``unused_data`` and ``eof``), and the checksums ``crc32`` and
``adler32`` with their ``_combine``.

The stream format is a format name (``"gzip"``, ``"zlib"``, ``"deflate"``; decompression
also ``"auto"``: gzip or zlib, told by the first byte) or zlib's ``wbits``: 8..15 (and 0)
zlib, 24..31 gzip, -8..-15 raw deflate, 40..47 automatic gzip/zlib detection when
decompressing. Compression writes a 32 KiB window, so it takes only 15, 31 and -15. As in
zlib, decompression refuses a zlib header that states a larger window than ``wbits`` (its
low four bits) allows: ``BadHeaderError``, "invalid window size".
"""

from __future__ import annotations

import zlib

from . import _core
from .types import DEFAULT_LEVEL

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from typing import Final

    from typing_extensions import Buffer

    from .types import Format

__all__ = [
    "Z_FINISH",
    "Z_FULL_FLUSH",
    "Z_NO_FLUSH",
    "Z_SYNC_FLUSH",
    "Compress",
    "Decompress",
    "adler32",
    "adler32_combine",
    "compressobj",
    "crc32",
    "crc32_combine",
    "decompressobj",
]

#: zlib's flush modes, with zlib's numbers.
Z_NO_FLUSH: Final[int] = zlib.Z_NO_FLUSH
Z_SYNC_FLUSH: Final[int] = zlib.Z_SYNC_FLUSH
Z_FULL_FLUSH: Final[int] = zlib.Z_FULL_FLUSH
Z_FINISH: Final[int] = zlib.Z_FINISH

crc32 = _core.crc32
adler32 = _core.adler32
crc32_combine = _core.crc32_combine
adler32_combine = _core.adler32_combine


class Compress:
    """Incremental compression into one stream (what ``zlib.compressobj`` returns).

    ``compress(data)`` returns what is ready (input is compressed in 1 MiB pieces, so it is
    often ``b""``); ``flush()`` ends the stream. Every flush mode other than ``Z_NO_FLUSH``
    and ``Z_FINISH`` makes all output so far decodable (a sync flush); pieces are
    compressed independently, so a sync flush is also a full flush. Pieces run on up to
    ``queues`` device queues at once (default 1: many objects, one queue each at most);
    between a sync flush and the next piece the object holds no queue. A gzip stream's
    header carries ``name`` and ``mtime`` when given.
    """

    def __init__(
        self,
        level: int = DEFAULT_LEVEL,
        wbits: int | Format = 15,
        *,
        name: bytes | None = None,
        mtime: int = 0,
        queues: int | None = None,
    ) -> None:
        fmt = _core._parse_format(wbits)
        self._c = _core._Compressor(fmt, level, name, mtime, queues or 1)

    def compress(self, data: Buffer, /) -> bytes:
        """Takes ``data``; returns the compressed output that is ready."""
        return self._c.compress(data)

    def flush(self, mode: int = Z_FINISH, /) -> bytes:
        """``Z_FINISH`` (default) ends the stream; ``Z_SYNC_FLUSH``/``Z_FULL_FLUSH`` output
        everything taken so far; ``Z_NO_FLUSH`` returns ``b""``."""
        if mode == Z_NO_FLUSH:
            return b""
        if mode not in (Z_SYNC_FLUSH, Z_FULL_FLUSH, Z_FINISH, zlib.Z_PARTIAL_FLUSH):
            raise ValueError(f"unknown flush mode {mode}")
        return self._c.flush(mode == Z_FINISH)


class Decompress:
    """Incremental decompression of one stream (what ``zlib.decompressobj`` returns).

    ``decompress(data, max_length)`` returns at most ``max_length`` bytes (0: no limit);
    input not used because of the limit is in ``unconsumed_tail`` (feed it back), bytes
    after the end of the stream in ``unused_data``, and ``eof`` says the stream has ended.
    A gzip stream ends after its first member, as in zlib; the rest is ``unused_data``.
    """

    def __init__(self, wbits: int | str = 15) -> None:
        self._d = _core._Decompressor(wbits)
        self.unused_data = b""
        self.unconsumed_tail = b""
        self.eof = False

    def decompress(self, data: Buffer, /, max_length: int = 0) -> bytes:
        """Decodes ``data``, returning at most ``max_length`` bytes (0: no limit)."""
        if max_length < 0:
            raise ValueError("max_length must be non-negative")
        view = memoryview(data).cast("B")
        if self.eof:
            self.unused_data += bytes(view)
            return b""
        out, used = self._d.decompress(view, max_length or None)
        if self._d.finished:
            self.eof = True
            self.unused_data += bytes(view[used:])
            self.unconsumed_tail = b""
        else:
            self.unconsumed_tail = bytes(view[used:])
        return out

    def flush(self, length: int = zlib.DEF_BUF_SIZE, /) -> bytes:
        """Everything left: the output ``unconsumed_tail`` and the decoder still hold."""
        if length <= 0:
            raise ValueError("length must be greater than zero")
        out = []
        while not self.eof and (self.unconsumed_tail or self._d.pending):
            out.append(self.decompress(self.unconsumed_tail))
        return b"".join(out)

    @property
    def format(self) -> str | None:
        """The stream's format (None while an automatic choice has seen no byte)."""
        return self._d.format

    def _truncated_error(self) -> Exception | None:
        return self._d.truncated_error()


def compressobj(
    level: int = DEFAULT_LEVEL,
    method: int = zlib.DEFLATED,
    wbits: int | Format = 15,
    memLevel: int = zlib.DEF_MEM_LEVEL,
    strategy: int = zlib.Z_DEFAULT_STRATEGY,
    zdict: Buffer | None = None,
) -> Compress:
    """A :class:`Compress` object, with ``zlib.compressobj``'s arguments. ``wbits`` may also
    be a format name. ``memLevel`` and ``strategy`` are accepted and do not change the
    device's work; ``method`` must be ``DEFLATED``; a preset dictionary is not supported."""
    if method != zlib.DEFLATED:
        raise ValueError("method must be zlib.DEFLATED")
    if zdict is not None:
        raise ValueError("preset dictionaries are not supported")
    del memLevel, strategy
    return Compress(level, wbits)


def decompressobj(wbits: int | str = 15, zdict: Buffer | None = None) -> Decompress:
    """A :class:`Decompress` object, with ``zlib.decompressobj``'s arguments. ``wbits`` may
    also be a format name or ``"auto"``. A preset dictionary is not supported."""
    if zdict is not None and len(memoryview(zdict)) > 0:
        raise ValueError("preset dictionaries are not supported")
    return Decompress(wbits)
