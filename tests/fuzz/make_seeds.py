#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Write the seed corpus of stream_fuzz into tests/fuzz/corpus/stream/.

Each file is 6 control bytes (type, checksum kind, 4 bytes of split seed:
see stream_fuzz.c) followed by a zlib, gzip or raw deflate stream. The
streams are made with Python's zlib; the gzip headers are built here so
that every optional field (FEXTRA, FNAME, FCOMMENT, FHCRC) appears, and a
few streams are wrong on purpose (zlib must refuse them, and so must the
parser).
"""

import pathlib
import struct
import zlib

RAW, ZLIB, GZIP = 0, 1, 2  # control byte values: type = value % 3 + 1
CSUM_FORMAT, CSUM_CRC32, CSUM_ADLER32 = 0, 1, 2

OUT = pathlib.Path(__file__).resolve().parent / "corpus" / "stream"

TEXT = b"".join(b"%d warpdrive softzip stream seed\n" % i for i in range(400))
MIXED = bytes((i * 7919 + (i >> 5) * 31) & 0xFF for i in range(6000)) + TEXT[:3000]


def deflate_raw(data: bytes, level: int = 6, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9, strategy)
    return c.compress(data) + c.flush()


def zlib_header(cinfo: int = 7, fdict: bool = False, flevel: int = 2) -> bytes:
    cmf = cinfo << 4 | 8
    flg = flevel << 6 | (0x20 if fdict else 0)
    flg |= 31 - ((cmf << 8 | flg) % 31)
    return bytes([cmf, flg])


def zlib_stream(data: bytes, dictid: bool = False, **hdr: int | bool) -> bytes:
    out = zlib_header(**hdr)  # type: ignore[arg-type]
    if dictid:
        out += struct.pack(">I", zlib.adler32(b"dictionary"))
    return out + deflate_raw(data) + struct.pack(">I", zlib.adler32(data))


def gzip_stream(
    data: bytes,
    extra: bytes | None = None,
    name: bytes | None = None,
    comment: bytes | None = None,
    hcrc: bool = False,
    bad_hcrc: bool = False,
    flags_or: int = 0,
    isize_delta: int = 0,
) -> bytes:
    flg = (4 if extra is not None else 0) | (8 if name is not None else 0)
    flg |= (16 if comment is not None else 0) | (2 if hcrc else 0) | flags_or
    hdr = bytes([0x1F, 0x8B, 8, flg]) + struct.pack("<I", 1700000000) + bytes([0, 3])
    if extra is not None:
        hdr += struct.pack("<H", len(extra)) + extra
    if name is not None:
        hdr += name + b"\0"
    if comment is not None:
        hdr += comment + b"\0"
    if hcrc:
        crc = zlib.crc32(hdr) & 0xFFFF
        hdr += struct.pack("<H", crc ^ (0x5A5A if bad_hcrc else 0))
    trailer = struct.pack("<II", zlib.crc32(data), (len(data) + isize_delta) & 0xFFFFFFFF)
    return hdr + deflate_raw(data, 9) + trailer


def write(name: str, kind: int, csum: int, seed: int, stream: bytes) -> None:
    ctrl = bytes([kind, csum]) + struct.pack("<I", seed)
    (OUT / name).write_bytes(ctrl + stream)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write("raw-text", RAW, CSUM_FORMAT, 1, deflate_raw(TEXT))
    write("raw-stored", RAW, CSUM_CRC32, 2, deflate_raw(MIXED, 0))
    write("raw-fixed", RAW, CSUM_ADLER32, 3, deflate_raw(TEXT, 6, zlib.Z_FIXED))
    write("raw-empty", RAW, CSUM_FORMAT, 4, deflate_raw(b""))
    write("zlib-text", ZLIB, CSUM_FORMAT, 5, zlib.compress(TEXT, 6))
    write("zlib-mixed-l1", ZLIB, CSUM_CRC32, 6, zlib.compress(MIXED, 1))
    write("zlib-empty", ZLIB, CSUM_FORMAT, 7, zlib.compress(b""))
    write("zlib-cinfo0", ZLIB, CSUM_FORMAT, 8, zlib_stream(TEXT[:200], cinfo=0))
    write("zlib-bad-adler", ZLIB, CSUM_FORMAT, 9, zlib.compress(TEXT)[:-1] + b"\0")
    write("zlib-trailing", ZLIB, CSUM_ADLER32, 10, zlib.compress(TEXT) + b"garbage after")
    # the header rules zlib applies: window field above 7, preset dictionary
    write("zlib-cinfo8", ZLIB, CSUM_FORMAT, 11, zlib_stream(TEXT, cinfo=8))
    write("zlib-cinfo15", ZLIB, CSUM_FORMAT, 12, zlib_stream(TEXT, cinfo=15))
    # FDICT set on a plain stream: only the flag says it needs a dictionary
    write("zlib-fdict", ZLIB, CSUM_FORMAT, 13, zlib_stream(TEXT, fdict=True))
    write("zlib-fdict-dictid", ZLIB, CSUM_FORMAT, 25, zlib_stream(TEXT, dictid=True, fdict=True))
    write("gzip-plain", GZIP, CSUM_FORMAT, 14, gzip_stream(TEXT))
    write("gzip-fname", GZIP, CSUM_CRC32, 15, gzip_stream(MIXED, name=b"mixed.bin"))
    write(
        "gzip-all-fields",
        GZIP,
        CSUM_ADLER32,
        16,
        gzip_stream(TEXT, extra=b"AB\x04\0wdrv", name=b"t.txt", comment=b"seed", hcrc=True),
    )
    write("gzip-hcrc", GZIP, CSUM_FORMAT, 17, gzip_stream(TEXT, hcrc=True))
    bad_hcrc = gzip_stream(TEXT, name=b"x", hcrc=True, bad_hcrc=True)
    write("gzip-hcrc-bad", GZIP, CSUM_FORMAT, 18, bad_hcrc)
    write("gzip-extra-empty", GZIP, CSUM_FORMAT, 19, gzip_stream(TEXT, extra=b""))
    write("gzip-ftext", GZIP, CSUM_FORMAT, 20, gzip_stream(TEXT, flags_or=1))
    write("gzip-reserved-flag", GZIP, CSUM_FORMAT, 21, gzip_stream(TEXT, flags_or=0x20))
    write("gzip-bad-isize", GZIP, CSUM_FORMAT, 22, gzip_stream(TEXT, isize_delta=1))
    write("gzip-empty", GZIP, CSUM_CRC32, 23, gzip_stream(b""))
    write("gzip-truncated", GZIP, CSUM_FORMAT, 24, gzip_stream(TEXT)[:-3])


if __name__ == "__main__":
    main()
