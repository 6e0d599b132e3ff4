"""compressobj/decompressobj, level and format arguments, checksums and errors, each checked
against the stdlib's zlib and gzip modules."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
import zlib

import pytest

import warpdrive
from warpdrive.types import Format

WBITS: list[tuple[Format, int]] = [("zlib", 15), ("gzip", 31), ("deflate", -15)]


def sample(n: int, seed: int = 1) -> bytes:
    rnd = random.Random(seed)
    words = [bytes(rnd.choices(b"abcdefghij \n", k=rnd.randint(1, 9))) for _ in range(300)]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words)
    return bytes(out[:n])


@pytest.mark.parametrize(("name", "wbits"), WBITS)
def test_compressobj_in_pieces_is_one_stream_zlib_reads(name: Format, wbits: int) -> None:
    data = sample(3_000_000)
    specs: list[Format | int] = [name, wbits]
    for spec in specs:
        c = warpdrive.compressobj(6, zlib.DEFLATED, spec)
        parts = [c.compress(data[:10])]
        # A sync flush makes all so far decodable, as zlib's.
        parts.append(c.flush(zlib.Z_SYNC_FLUSH))
        d = zlib.decompressobj(wbits)
        assert d.decompress(b"".join(parts)) == data[:10]
        for i in range(10, len(data), 700_000):
            parts.append(c.compress(data[i : i + 700_000]))
        parts.append(c.flush())
        z = b"".join(parts)
        assert zlib.decompress(z, wbits) == data
        assert warpdrive.decompress(z, name) == data


def test_compressobj_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError):
        warpdrive.compressobj(wbits=12)
    with pytest.raises(ValueError):
        warpdrive.compressobj(zdict=b"abc")
    c = warpdrive.compressobj()
    c.flush()
    with pytest.raises(warpdrive.BadRequestError):
        c.compress(b"more")
    # Compression needs a format: "auto" in any case is no name of one, as the core says.
    for name in ("auto", "AUTO", "lz4"):
        with pytest.raises(warpdrive.BadRequestError, match="format must be"):
            warpdrive.compressobj(wbits=name)  # type: ignore[arg-type]


def test_the_objects_read_a_formats_name_as_the_core_does() -> None:
    data = b"warpdrive " * 5000
    for name, wbits in [("GZ", 31), ("Zlib", 15), ("RAW", -15)]:
        c = warpdrive.compressobj(wbits=name)  # type: ignore[arg-type]
        z = c.compress(data) + c.flush()
        assert zlib.decompress(z, wbits) == data
        d = warpdrive.decompressobj(name)
        assert d.decompress(z) == data and d.eof
    d = warpdrive.decompressobj("Auto")
    assert d.decompress(zlib.compress(data)) == data


@pytest.mark.parametrize(("name", "wbits"), WBITS)
def test_decompressobj_matches_zlib_with_max_length(name: Format, wbits: int) -> None:
    data = sample(2_500_000, 2)
    co = zlib.compressobj(9, zlib.DEFLATED, wbits)
    z = co.compress(data) + co.flush()
    stream = z + b"unused bytes"
    for spec in (wbits, name):
        d = warpdrive.decompressobj(spec)
        ref = zlib.decompressobj(wbits)
        got, pos = [], 0
        while not d.eof:
            chunk = d.unconsumed_tail or stream[pos : pos + 100_000]
            if not d.unconsumed_tail:
                pos += len(chunk)
            out = d.decompress(chunk, 65536)
            assert len(out) <= 65536
            got.append(out)
        assert b"".join(got) == data
        ref.decompress(stream)
        assert d.unused_data == stream[len(z) :] == ref.unused_data
        assert d.unconsumed_tail == b""
        # After the end, data goes to unused_data, as in zlib.
        d.decompress(b"!")
        assert d.unused_data.endswith(b"!")


def test_decompressobj_flush_and_auto_detection() -> None:
    data = sample(200_000, 3)
    for z in (zlib.compress(data), gzip.compress(data)):
        for wbits in (47, 0 if z[0] != 0x1F else 47, "auto"):
            d = warpdrive.decompressobj(wbits)
            first = d.decompress(z, 1000)
            assert len(first) == 1000
            assert first + d.flush() == data
            assert d.eof
        assert warpdrive.decompress(z, "auto") == data
        assert warpdrive.decompress(z, 47) == data


def test_decompressobj_stops_after_one_gzip_member() -> None:
    a, b = gzip.compress(b"first"), gzip.compress(b"second")
    d = warpdrive.decompressobj(31)
    assert d.decompress(a + b) == b"first"
    assert d.eof and d.unused_data == b
    ref = zlib.decompressobj(31)
    ref.decompress(a + b)
    assert ref.unused_data == d.unused_data


def test_a_1gb_bomb_decompresses_in_bounded_memory() -> None:
    # 1 GiB of zeros (about 1 MB compressed) decoded 1 MiB at a time: the child's peak
    # address space (VmHWM) must stay far below the output's size.
    code = """
import sys, zlib, warpdrive
c = zlib.compressobj(9)
bomb = b"".join(c.compress(bytes(1 << 20)) for _ in range(1024)) + c.flush()
d = warpdrive.decompressobj(15)
total, chunk = 0, bomb
while not d.eof:
    out = d.decompress(chunk, 1 << 20)
    assert len(out) <= 1 << 20 and not out.strip(b"\\0")
    total += len(out)
    chunk = d.unconsumed_tail
print(total)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr
    total, peak_kib = map(int, p.stdout.split())
    assert total == 1 << 30
    assert peak_kib < 150 * 1024, peak_kib


def test_level_is_the_second_argument_as_in_the_stdlib() -> None:
    data = sample(100_000, 4)
    z9 = warpdrive.compress(data, 9)
    assert z9 == warpdrive.compress(data, "gzip", 9)
    # The level reaches the device where its ring has a field for it (not uacce's v2/v3).
    with warpdrive.open_queue("compress") as q:
        takes_level = q.takes_level
    assert (z9 != warpdrive.compress(data, 1)) == takes_level
    assert gzip.decompress(z9) == data
    with pytest.raises(TypeError):
        warpdrive.compress(data, 9, level=1)
    # Existing callers: a format name second.
    assert zlib.decompress(warpdrive.compress(data, "zlib")) == data


def test_decompress_reads_every_stdlib_output() -> None:
    data = sample(300_000, 5)
    assert warpdrive.decompress(zlib.compress(data), "auto") == data
    assert warpdrive.decompress(zlib.compress(data), 15) == data
    assert warpdrive.decompress(gzip.compress(data), "auto") == data
    assert warpdrive.decompress(zlib.compress(data, wbits=-15), -15) == data
    assert warpdrive.decompress(gzip.compress(data, mtime=5)) == data


def test_the_gzip_header_is_the_same_for_every_input() -> None:
    outs = {n: warpdrive.compress(sample(n, 6)) for n in (0, 1, 100, 1 << 20, 3 << 20)}
    # A multi-piece output adds only the extra field of its piece index (FEXTRA, flag 0x04).
    assert [n for n, z in outs.items() if z[3] & 0x04] == [3 << 20]
    heads = {z[:3] + bytes([z[3] & ~0x04]) + z[4:10] for z in outs.values()}
    assert len(heads) == 1
    (head,) = heads
    assert head[9] == 3  # Unix, fixed
    c = warpdrive.compressobj(wbits=31)
    assert (c.compress(b"x") + c.flush())[:10] == head


def test_errors_are_also_the_stdlibs() -> None:
    data = sample(50_000, 7)
    z, gz = zlib.compress(data), gzip.compress(data)
    with pytest.raises(zlib.error):
        warpdrive.decompress(z[:5] + bytes(20) + z[25:], "zlib")
    with pytest.raises(gzip.BadGzipFile):
        warpdrive.decompress(b"not gzip at all")
    with pytest.raises(gzip.BadGzipFile):
        warpdrive.decompress(gz[:-8] + bytes(8))
    with pytest.raises(EOFError):
        warpdrive.decompress(gz[:-3])
    with pytest.raises(zlib.error):
        d = warpdrive.decompressobj(15)
        d.decompress(b"\x78\x9c\xff\xff\xff\xff")


def test_checksums_match_zlib() -> None:
    a, b = sample(70_001, 8), sample(100_000, 9)
    assert warpdrive.crc32(a) == zlib.crc32(a)
    assert warpdrive.adler32(a) == zlib.adler32(a)
    assert warpdrive.crc32(b, warpdrive.crc32(a)) == zlib.crc32(a + b)
    assert warpdrive.adler32(b, warpdrive.adler32(a)) == zlib.adler32(a + b)
    assert warpdrive.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    ad = warpdrive.adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b))
    assert ad == zlib.adler32(a + b)
    assert warpdrive.crc32(memoryview(a)[10:20]) == zlib.crc32(a[10:20])


def test_one_shot_calls_read_an_int_as_the_stdlib_calls_do() -> None:
    data = sample(20_000, seed=5)
    # compress: an int second argument is the level, as in gzip.compress and zlib.compress.
    assert gzip.decompress(warpdrive.compress(data, 9)) == data
    assert warpdrive.compress(data, 1) == warpdrive.compress(data, "gzip", 1)
    with pytest.raises(TypeError, match="level twice"):
        warpdrive.compress(data, 9, 6)
    for bad_level in (0, 10, 2**70):
        with pytest.raises(ValueError):
            warpdrive.compress(data, bad_level)
    # decompress: an int is zlib's wbits.
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    streams = {
        "zlib": zlib.compress(data),
        "gzip": gzip.compress(data),
        "deflate": raw.compress(data) + raw.flush(),
    }
    for wbits, fmt in [(15, "zlib"), (31, "gzip"), (-15, "deflate")]:
        assert warpdrive.decompress(streams[fmt], wbits) == data, wbits
    for wbits, fmt in [(40, "gzip"), (47, "gzip"), (47, "zlib")]:
        assert warpdrive.decompress(streams[fmt], wbits) == data, (wbits, fmt)
    # 40 also limits a zlib header's window to 256 bytes, so zlib.compress's stream (32 KiB)
    # is refused with it, as zlib refuses it: see the window test below.
    for call in (zlib.decompress, warpdrive.decompress):
        with pytest.raises(zlib.error, match="invalid window size"):
            call(streams["zlib"], 40)
    # 0 is zlib's "the window the zlib header states": zlib only, as zlib reads it.
    assert warpdrive.decompress(streams["zlib"], 0) == data
    for call in (zlib.decompress, warpdrive.decompress):
        with pytest.raises(zlib.error):
            call(streams["gzip"], 0)
    with pytest.raises(zlib.error):
        warpdrive.decompressobj(0).decompress(streams["gzip"])
    for bad_wbits in (16, 23, 32, 39, 48, -7, -16, 2**70):
        with pytest.raises(warpdrive.BadRequestError):
            warpdrive.decompress(streams["gzip"], bad_wbits)
    # Neither a name nor an int: a TypeError, as the stdlib raises for a wrong type.
    for bad in (None, 1.5, b"gzip"):
        with pytest.raises(TypeError, match="format"):
            warpdrive.compress(data, bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="format"):
            warpdrive.decompress(streams["gzip"], bad)  # type: ignore[arg-type]


def zlib_stream_with_window(data: bytes, cinfo: int) -> bytes:
    """A zlib stream whose header states a window of 2**(cinfo + 8) bytes, with a body that
    refers no further back than 256 bytes (so the window is the header's claim only)."""
    co = zlib.compressobj(1, zlib.DEFLATED, -9, 1)
    body = co.compress(data) + co.flush()
    cmf = cinfo << 4 | 8
    flg = 31 - (cmf << 8) % 31
    return bytes([cmf, flg]) + body + zlib.adler32(data).to_bytes(4, "big")


def decode_with_wbits(way: str, wbits: int, z: bytes) -> bytes:
    """``z`` decompressed with ``wbits`` one of four ways: the one-shot call, one
    ``decompressobj`` call, a ``decompressobj`` fed a byte at a time ("bytewise"), or one
    fed its two header bytes one at a time and then the rest in one call ("header
    bytewise")."""
    if way == "decompress":
        return warpdrive.decompress(z, wbits)
    d = warpdrive.decompressobj(wbits)
    if way == "decompressobj":
        return d.decompress(z)
    pieces = [z[i : i + 1] for i in range(len(z) if way == "bytewise" else 2)]
    return b"".join(d.decompress(p) for p in [*pieces, z[len(pieces) :]])


def test_a_window_larger_than_wbits_allows_is_refused_as_zlib_refuses_it() -> None:
    # zlib checks the header's window against wbits ("invalid window size"); 0 and the
    # gzip values do not limit it.
    data = sample(3000, seed=11)
    for cinfo in range(8):
        z = zlib_stream_with_window(data, cinfo)
        for wbits in (0, *range(8, 16), *range(40, 48)):
            try:
                expected: bytes | None = zlib.decompress(z, wbits)
            except zlib.error as e:
                assert "invalid window size" in str(e), (cinfo, wbits, e)
                expected = None
            # The header is checked as it completes, so each way feeds it differently; the
            # body after it is the same for every header and wbits: fed a byte at a time
            # for zlib's usual header only (a request per byte: 1,800 of them each time).
            bytewise = "bytewise" if cinfo == 7 else "header bytewise"
            for way in ("decompress", "decompressobj", bytewise):
                where = (cinfo, wbits, way)
                if expected is None:
                    with pytest.raises(warpdrive.BadHeaderError, match="invalid window size"):
                        decode_with_wbits(way, wbits, z)
                else:
                    assert decode_with_wbits(way, wbits, z) == expected == data, where
