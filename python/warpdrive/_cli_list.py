"""The command line's ``-l``: the sizes, name, time and CRC a compressed file's gzip header
and trailer hold (read, not decoded), and the table of them."""

from __future__ import annotations

import os
import stat
import struct
import time
from typing import IO, TYPE_CHECKING, NamedTuple

from . import _core
from ._cli_io import CliError, Sink, Source

if TYPE_CHECKING:
    from ._cli_options import Options


def gzip_header(head: bytes) -> tuple[int, str | None, int]:
    """Length, stored name and stored time of the gzip header at the start of ``head``."""
    if len(head) < 10 or head[:3] != b"\x1f\x8b\x08":
        raise ValueError("not in gzip format")
    flags, mtime = head[3], struct.unpack_from("<I", head, 4)[0]
    pos = 10
    if flags & 4:  # FEXTRA
        if len(head) < pos + 2:
            raise ValueError("header truncated")
        pos += 2 + struct.unpack_from("<H", head, pos)[0]
    name = None
    for bit in (8, 16):  # FNAME, FCOMMENT
        if flags & bit:
            end = head.find(b"\0", pos)
            if end < 0:
                raise ValueError("header truncated")
            if bit == 8:
                name = os.fsdecode(head[pos:end])
            pos = end + 1
    if flags & 2:  # FHCRC
        pos += 2
    return pos, name, mtime


def stored_name(f: IO[bytes]) -> tuple[str | None, int | None]:
    """The name and time gzip stored in the header of ``f`` (-N); ``f`` is rewound."""
    head = f.read(64 << 10)
    f.seek(0)
    try:
        _, name, mtime = gzip_header(head)
    except ValueError:
        return None, None
    return name, mtime or None


class Listed(NamedTuple):
    """One row of -l: sizes, header and trailer bytes, and -v's CRC (None: not a gzip
    stream) and time (seconds since the epoch)."""

    packed: int
    plain: int
    overhead: int
    name: str
    crc: int | None = None
    when: int = 0


def list_entries(entries: list[tuple[str, Source, os.stat_result, str]], opts: Options) -> None:
    for name, src, st, stem in entries:
        row = _sizes(src, st, opts, name)
        shown, when = stem, int(st.st_mtime) if stat.S_ISREG(st.st_mode) else 0
        if opts.name and row.name:
            shown = os.path.join(os.path.dirname(stem), os.path.basename(row.name))
        if opts.name and row.when:
            when = row.when
        opts.listed.append(row._replace(name=shown, when=when))


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _list_row(row: Listed, verbose: bool) -> str:
    saved = row.plain - (row.packed - row.overhead)
    ratio = 100.0 * saved / row.plain if row.plain else 0.0
    line = f"{row.packed:19d} {row.plain:19d} {ratio:5.1f}% {row.name}"
    if not verbose:
        return line
    if row.name == "(totals)":
        return " " * 28 + line
    t = time.localtime(row.when)
    crc = "--------" if row.crc is None else f"{row.crc:08x}"
    date = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"
    return f"defla {crc} {date} {line}"


def print_list(opts: Options) -> None:
    rows = opts.listed
    if not rows:
        return
    if not opts.quiet:
        head = "         compressed        uncompressed  ratio uncompressed_name"
        print(("method  crc     date  time  " if opts.verbose else "") + head)
    for row in rows:
        print(_list_row(row, opts.verbose))
    if len(rows) > 1 and not opts.quiet:
        total = Listed(
            sum(r.packed for r in rows),
            sum(r.plain for r in rows),
            sum(r.overhead for r in rows),
            "(totals)",
        )
        print(_list_row(total, opts.verbose))


def _sizes(src: Source, st: os.stat_result, opts: Options, name: str) -> Listed:
    """Compressed size, decompressed size, header and trailer bytes, and what the gzip
    header and trailer hold: the stored name and time, the CRC."""
    if opts.format == "zlib":
        n_in, n_out = _core.decompress_stream(src, Sink(None, "-"), "zlib")
        return Listed(n_in, n_out, 6, "")
    head = src.read(64 << 10)
    try:
        hlen, stored, mtime = gzip_header(head)
    except ValueError as e:
        raise CliError(f"{name}: {e}") from None
    if stat.S_ISREG(st.st_mode) and st.st_size >= 18:
        f = src.f
        f.seek(-8, os.SEEK_END)
        total, tail = st.st_size, f.read(8)
    else:
        # A stream: read to the end, keeping the last 8 bytes (CRC-32 and ISIZE).
        total, tail = len(head), head[-8:]
        while chunk := src.read(1 << 20):
            total += len(chunk)
            tail = (tail + chunk)[-8:]
        if total < 18:
            raise CliError(f"{name}: unexpected end of file")
    crc, plain = struct.unpack("<II", tail)
    return Listed(total, plain, hlen + 8, stored or "", crc, mtime)
