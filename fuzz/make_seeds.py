"""Writes the committed seed corpus (small files) of the fuzz targets. Rerun after adding a
regression input: `python3 fuzz/make_seeds.py`."""

from __future__ import annotations

import gzip
import hashlib
import pathlib
import zlib

HERE = pathlib.Path(__file__).resolve().parent
SEL = {"deflate": 0, "zlib": 1, "gzip": 2}

# Regression inputs (raw deflate; see tests/python/test_decode.py): more codes than deflate
# has, incomplete Huffman codes zlib refuses, and the incomplete codes it allows.
RAW = [
    "f5c00104000000802000000000000000000000000001000000000000000000000000000000000000000100000009",
    "05de0104000000802000000000000000000000000001000000000000000000000000000000000000000500000008",
    "05c001040000008020000000000000000000000000010000000000000000000000000000000000000027",
    "05c1010400000080200000000000000000000000000100000000000000000000000000000000000000bd",
    "05c0010800000080200000000000000000000000000000000000000000000000000400000000000000000000"
    "000000000000000000000000000000000000000000000000000000000015",
    "05c001040000008020000000000000000000000000010000000000000000000000000000000000000025",
    "05c001040000008020000000000000000000000000010000000000000000000000000000000000000011",
    "05c001040000008020000000000000000000000000000000000000000000000000000000000000008002",
]


# Regression inputs of the gzip_header target (selector byte first).
HEADERS = [
    "011f8b0000000000",  # method 0: refused at once by zlib, not "incomplete"
]


def wrap(fmt: str, raw: bytes) -> bytes:
    try:
        out = zlib.decompress(raw, -15)
    except zlib.error:
        out = b"a"
    if fmt == "zlib":
        return b"\x78\x9c" + raw + zlib.adler32(out).to_bytes(4, "big")
    if fmt == "gzip":
        return (
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
            + raw
            + zlib.crc32(out).to_bytes(4, "little")
            + len(out).to_bytes(4, "little")
        )
    return raw


def streams() -> list[tuple[str, bytes]]:
    text = b"WarpDrive user-space accelerator queues; " * 20 + bytes(range(256))
    out: list[tuple[str, bytes]] = []
    for fmt, wbits in (("deflate", -15), ("zlib", 15), ("gzip", 31)):
        for level in (0, 1, 6, 9):
            c = zlib.compressobj(level, zlib.DEFLATED, wbits)
            out.append((fmt, c.compress(text[: 50 * (level + 1)]) + c.flush()))
        for raw in RAW:
            out.append((fmt, wrap(fmt, bytes.fromhex(raw))))
    out.append(("zlib", bytes.fromhex("881ccb48cdc9c90700062c0215")))  # window field 8
    a = gzip.compress(b"first member", mtime=0)
    b = gzip.compress(b"", mtime=0)
    out.append(("gzip", a + b"\0" * 3 + b + a + b"\0\0"))
    out.append(("gzip", a + b"junk"))
    # gzip with every optional header field and a header CRC.
    h = bytearray(b"\x1f\x8b\x08\x1e\x00\x00\x00\x00\x00\x03")
    h += b"\x04\x00ab\x00\x00name\x00comment\x00"
    h += (zlib.crc32(bytes(h)) & 0xFFFF).to_bytes(2, "little")
    out.append(("gzip", bytes(h) + a[10:]))
    return out


def device_plans() -> list[bytes]:
    """Seeds of device_answers: a head byte (requests, borrowed runs), two bytes per
    request, then faults (serial, kind, payload); see the target for the layout."""
    import struct

    reqs = bytes([2, 40, 6, 90, 9, 3])  # three requests: deflate, gzip level 1, ...
    forge_ok = struct.pack("<IIII", 100, 50, 0, 0)  # status 0, plausible sizes
    forge_big = struct.pack("<IIII", 100, 1 << 30, 0, 0)  # produced beyond the space
    forge_status = struct.pack("<IIII", 0, 0, 0x77, 1)  # a status no device defines
    faults = [
        b"",
        bytes([1, 0]) + struct.pack("<H", 2),  # names the next request's slot
        bytes([1, 0]) + struct.pack("<H", 5000),  # past the ring
        bytes([0, 1]),  # repeated
        bytes([0, 2, 4]),  # writes past the space
        bytes([2, 3]) + struct.pack("<I", 99),  # another tag
        bytes([0, 4]) + struct.pack("<H", 0) + forge_ok,
        bytes([1, 4]) + struct.pack("<H", 1) + forge_big,
        bytes([2, 4]) + struct.pack("<H", 2) + forge_status,
    ]
    out = []
    for f in faults:
        out.append(bytes([2]) + reqs + f)
        out.append(bytes([0x82]) + reqs + f)
    return out


def piece_seeds() -> list[bytes]:
    """Seeds of pieces: a byte choosing the number of pieces (2 + byte % 3), a u16 length
    for each piece but the last, then the pieces (raw deflate)."""

    def stored(last: int, n: int, data: bytes) -> bytes:
        return bytes([last]) + n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little") + data

    text = b"WarpDrive user-space accelerator queues; " * 30
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    # Independent pieces ending at flush points, as WarpDrive writes them.
    p1 = c.compress(text) + c.flush(zlib.Z_FULL_FLUSH)
    p2 = c.compress(text[::-1]) + c.flush(zlib.Z_FULL_FLUSH)
    p3 = c.compress(bytes(range(256))) + c.flush()
    world = stored(1, 5, b"world")
    out = []
    for first in (
        stored(0, 10, b"hello"),  # a stored block that goes on into the next piece
        stored(1, 10, b"hello"),  # the last block, open
        bytes([0xCA, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]),  # a block ending inside a byte
    ):
        out.append(bytes([0]) + len(first).to_bytes(2, "little") + first + world)
    out.append(bytes([0]) + len(p1).to_bytes(2, "little") + p1 + p3)
    out.append(
        bytes([1]) + len(p1).to_bytes(2, "little") + len(p2).to_bytes(2, "little") + p1 + p2 + p3
    )
    return out


def main() -> None:
    d = HERE / "corpus" / "pieces"
    d.mkdir(parents=True, exist_ok=True)
    for seed in piece_seeds():
        (d / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    d = HERE / "corpus" / "device_answers"
    d.mkdir(parents=True, exist_ok=True)
    for seed in device_plans():
        (d / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    for target in ("decompress", "decompress_stream", "gzip_header"):
        d = HERE / "corpus" / target
        d.mkdir(parents=True, exist_ok=True)
        for fmt, data in streams():
            if target == "gzip_header":
                if fmt == "deflate":
                    continue
                seed = bytes([1 if fmt == "gzip" else 0]) + data[:64]
            elif target == "decompress_stream":
                seed = bytes([SEL[fmt], 3, 1, 7, 200]) + data
            else:
                seed = bytes([SEL[fmt]]) + data
            (d / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    for h in HEADERS:
        seed = bytes.fromhex(h)
        (HERE / "corpus" / "gzip_header" / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


if __name__ == "__main__":
    main()
