"""Strict, bounded decoding: zlib's verdict on every input, errors that say what is wrong,
limits on the output, and no panic reaching Python."""

from __future__ import annotations

import asyncio
import gzip
import io
import random
import subprocess
import sys
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import warpdrive
import warpdrive.aio
from warpdrive import errors

FORMATS = ["gzip", "zlib", "deflate"]
MiB = 1 << 20

# Raw deflate blocks (checked against zlib): Huffman codes that do not fill their code
# space, which zlib refuses, and the incomplete codes it allows.
REFUSED = {
    "HLIT 287": (
        "f5c00104000000802000000000000000000000000001000000000000000000000000000000000000"
        "000100000009"
    ),
    "HDIST 31": (
        "05de0104000000802000000000000000000000000001000000000000000000000000000000000000"
        "000500000008"
    ),
    "incomplete literal/length code": (
        "05c001040000008020000000000000000000000000010000000000000000000000000000000000000027"
    ),
    "incomplete distance code": (
        "05c1010400000080200000000000000000000000000100000000000000000000000000000000000000bd"
    ),
    "incomplete code-length code": (
        "05c0010800000080200000000000000000000000000000000000000000000000"
        "0004000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000015"
    ),
}
ACCEPTED = {
    "single one-bit distance code": (
        "05c001040000008020000000000000000000000000010000000000000000000000000000000000000025"
    ),
    "no distance code": (
        "05c001040000008020000000000000000000000000010000000000000000000000000000000000000011"
    ),
    "single one-bit literal/length code": (
        "05c001040000008020000000000000000000000000000000000000000000000000000000000000008002"
    ),
}


def wrap(fmt: str, raw: bytes, out: bytes) -> bytes:
    """A raw deflate stream decoding to ``out``, with a correct wrapper of ``fmt``."""
    if fmt == "zlib":
        return b"\x78\x9c" + raw + zlib.adler32(out).to_bytes(4, "big")
    if fmt == "gzip":
        trailer = zlib.crc32(out).to_bytes(4, "little") + len(out).to_bytes(4, "little")
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + raw + trailer
    return raw


def zlib_verdict(data: bytes, fmt: str) -> bytes | None:
    """What zlib makes of ``data`` as one whole input of ``fmt``: the output, or None if it
    refuses it. gzip: members one after another, zero padding between and after them (as
    gzip(1) and Python's gzip module read them)."""
    wbits = {"gzip": 31, "zlib": 15, "deflate": -15}[fmt]
    out = b""
    rest = data
    while True:
        d = zlib.decompressobj(wbits)
        try:
            out += d.decompress(rest) + d.flush()
        except zlib.error:
            return None
        if not d.eof:
            return None
        rest = d.unused_data
        if fmt != "gzip":
            return out if not rest else None
        rest = rest.lstrip(b"\0")
        if not rest:
            return out


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.n = 0
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        mv = memoryview(b)  # type: ignore[arg-type]
        self.data += mv
        return len(mv)


def ours_all_ways(data: bytes, fmt: str) -> list[bytes | None]:
    """Our verdict through the one-shot call, the stream call and asyncio."""
    verdicts: list[bytes | None] = []
    try:
        verdicts.append(warpdrive.decompress(data, fmt))  # type: ignore[arg-type]
    except errors.BadDataError:
        verdicts.append(None)
    sink = _Sink()
    try:
        warpdrive.decompress_stream(io.BytesIO(data), sink, fmt)  # type: ignore[arg-type]
        verdicts.append(bytes(sink.data))
    except errors.BadDataError:
        verdicts.append(None)

    async def aio() -> bytes | None:
        async with warpdrive.aio.open_queue("decompress") as q:
            try:
                return await q.decompress(data, fmt)  # type: ignore[arg-type]
            except errors.BadDataError:
                return None

    verdicts.append(asyncio.run(aio()))
    return verdicts


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_codes_that_do_not_fill_their_code_space_are_refused(fmt: str, name: str) -> None:
    data = wrap(fmt, bytes.fromhex(REFUSED[name]), b"a")
    assert zlib_verdict(data, fmt) is None
    assert ours_all_ways(data, fmt) == [None, None, None]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_the_incomplete_codes_zlib_allows_are_accepted(fmt: str, name: str) -> None:
    raw = bytes.fromhex(ACCEPTED[name])
    want = zlib.decompress(raw, -15)
    data = wrap(fmt, raw, want)
    assert ours_all_ways(data, fmt) == [want] * 3


def test_a_zlib_window_field_above_7_is_refused() -> None:
    data = bytes.fromhex("881ccb48cdc9c90700062c0215")
    assert zlib_verdict(data, "zlib") is None
    assert ours_all_ways(data, "zlib") == [None, None, None]
    with pytest.raises(errors.BadHeaderError, match="window"):
        warpdrive.decompress(data, "zlib")


def _mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 2:
            del b[rng.randrange(len(b) + 1) :]
        else:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes([rng.randrange(256)] * rng.randint(1, 4))
    return bytes(b)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    fmt=st.sampled_from(FORMATS),
    level=st.sampled_from([0, 1, 6, 9]),
    members=st.integers(1, 3),
)
def test_mutated_streams_get_zlibs_verdict(seed: int, fmt: str, level: int, members: int) -> None:
    rng = random.Random(seed)
    wbits = {"gzip": 31, "zlib": 15, "deflate": -15}[fmt]
    parts = []
    for _ in range(members if fmt == "gzip" else 1):
        n = rng.choice([0, 1, 100, 3000])
        text = bytes(rng.choice(b"abcab \n") for _ in range(n))
        c = zlib.compressobj(level, zlib.DEFLATED, wbits)
        parts.append(c.compress(text) + c.flush())
    data = _mutate(b"".join(parts), rng)
    if not data:
        return
    want = zlib_verdict(data, fmt)
    assert ours_all_ways(data, fmt) == [want] * 3, data.hex()


# ------------------------------------------------------------------ errors


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize(
    ("make", "fmt", "cls", "words"),
    [
        (lambda: b"plain text, not compressed", "gzip", errors.NotCompressedError, "not gzip"),
        (lambda: b"plain text, not compressed", "zlib", errors.NotCompressedError, "not zlib"),
        (lambda: b"", "gzip", errors.NotCompressedError, "empty"),
        (lambda: _gz(b"abc") + b"junk", "gzip", errors.TrailingGarbageError, "trailing"),
        (lambda: zlib.compress(b"abc") + b"junk", "zlib", errors.TrailingGarbageError, "trailing"),
        (
            lambda: b"\x78\x9d" + zlib.compress(b"abc")[2:],
            "zlib",
            errors.NotCompressedError,
            "zlib",
        ),
        (lambda: _gz(b"abc")[:-3], "gzip", errors.TruncatedDataError, "truncated"),
        (lambda: _gz(b"abc")[:4], "gzip", errors.TruncatedDataError, "truncated"),
        (
            lambda: _gz(b"abc")[:10] + b"\xff" + _gz(b"abc")[11:],
            "gzip",
            errors.CorruptDataError,
            "corrupt",
        ),
        (lambda: zlib.compress(b"abc")[:-1] + b"\0", "zlib", errors.ChecksumError, "checksum"),
        (lambda: _gz(b"abc")[:-8] + b"\0" * 8, "gzip", errors.ChecksumError, "checksum"),
        (
            lambda: _gz(b"abc")[:2] + b"\x07" + _gz(b"abc")[3:],
            "gzip",
            errors.BadHeaderError,
            "method",
        ),
    ],
)
def test_errors_say_what_is_wrong(
    make: Callable[[], bytes], fmt: str, cls: type[Exception], words: str
) -> None:
    data = make()
    with pytest.raises(cls, match=words):
        warpdrive.decompress(data, fmt)  # type: ignore[arg-type]
    with pytest.raises(cls, match=words):
        warpdrive.decompress_stream(io.BytesIO(data), _Sink(), fmt)  # type: ignore[arg-type]

    async def aio() -> None:
        async with warpdrive.aio.open_queue("decompress") as q:
            with pytest.raises(cls, match=words):
                await q.decompress(data, fmt)  # type: ignore[arg-type]

    asyncio.run(aio())
    assert issubclass(cls, errors.BadDataError) and issubclass(cls, ValueError)


def test_auto_names_what_is_wrong_as_the_format_it_detects_does() -> None:
    # Empty input counts as gzip (nothing to tell it by); anything not starting with gzip's
    # magic is judged as zlib.
    for data, what in [
        (b"", "empty"),
        (b"plain text, not compressed", "not zlib"),
        (b"\x1f plain text", "not gzip"),
    ]:
        with pytest.raises(errors.NotCompressedError, match=what):
            warpdrive.decompress(data, "auto")
        with pytest.raises(errors.NotCompressedError, match=what):
            warpdrive.decompress_stream(io.BytesIO(data), _Sink(), "auto")  # type: ignore[arg-type]


def test_decompress_stream_tells_gzip_from_zlib_when_asked() -> None:
    data = bytes(range(256)) * 300
    for packed in (zlib.compress(data), _gz(data), _gz(data[:1000]) + _gz(data[1000:])):
        # A reader that gives a byte at a time: the detection must not lose what it read.
        class Trickle(io.RawIOBase):
            def __init__(self, b: bytes) -> None:
                self.src = io.BytesIO(b)

            def readable(self) -> bool:
                return True

            def readinto(self, buf: object) -> int:
                one = self.src.read(1)
                memoryview(buf)[: len(one)] = one  # type: ignore[call-overload]
                return len(one)

        for src in (io.BytesIO(packed), Trickle(packed)):
            sink = _Sink()
            done = warpdrive.decompress_stream(src, sink, "auto")  # type: ignore[arg-type]
            assert done == (len(packed), len(data))
            assert bytes(sink.data) == data


def test_truncated_input_is_also_an_eoferror_as_in_gzip() -> None:
    with pytest.raises(EOFError):
        warpdrive.decompress(_gz(b"abc" * 100)[:-5])


def test_zero_padding_between_gzip_members_is_accepted_as_gzip_does() -> None:
    data = _gz(b"one") + b"\0" * 5 + _gz(b"two") + b"\0" * 3
    assert gzip.decompress(data) == b"onetwo"
    assert ours_all_ways(data, "gzip") == [b"onetwo"] * 3


# ------------------------------------------------------------------ limits


def _zero_bomb(gib: int) -> bytes:
    """gzip of ``gib`` GiB of zeros: 16 MiB members repeated."""
    one = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = one.compress(bytes(16 * MiB)) + one.flush()
    return member * (64 * gib)


def _child_peak(code: str) -> tuple[int, str]:
    """Runs ``code`` in a fresh interpreter; returns its peak RSS (VmHWM, KiB) and stdout."""
    tail = (
        "\nprint(next(line.split()[1] for line in open('/proc/self/status')"
        " if line.startswith('VmHWM:')), file=sys.stderr)"
    )
    p = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code + tail],
        capture_output=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr.decode()
    return int(p.stderr.decode().split()[-1]), p.stdout.decode()


BOMB = """
import zlib, io, asyncio, warpdrive, warpdrive.aio
from warpdrive import errors
one = zlib.compressobj(9, zlib.DEFLATED, 31)
member = one.compress(bytes(16 << 20)) + one.flush()
bomb = member * (64 * {gib})
"""


@pytest.mark.parametrize("gib", [1, 4])
def test_a_bomb_stops_at_max_length_in_bounded_memory(gib: int) -> None:
    code = BOMB.format(gib=gib) + (
        "for f in (lambda: warpdrive.decompress(bomb, max_length=10 << 20),\n"
        "          lambda: warpdrive.decompress(member, max_length=1 << 20)):\n"
        "    try:\n"
        "        f()\n"
        "    except errors.OutputLimitError as e:\n"
        "        print('LIMIT', e)\n"
        "async def aio():\n"
        "    async with warpdrive.aio.open_queue('decompress') as q:\n"
        "        try:\n"
        "            await q.decompress(bomb, max_length=10 << 20)\n"
        "        except errors.OutputLimitError:\n"
        "            print('LIMIT aio')\n"
        "asyncio.run(aio())\n"
    )
    peak, out = _child_peak(code)
    assert out.count("LIMIT") == 3, out
    assert peak < 150 * 1024, peak


def test_a_bomb_streams_through_decompress_stream_in_bounded_memory() -> None:
    # 256 MiB (the 1 GiB bomb's first quarter): enough to show that memory does not grow
    # with the output, and quick enough for the emulated guest.
    code = BOMB.format(gib=1) + (
        "bomb = bomb[: len(bomb) // 4]\n"
        "class Null:\n"
        "    n = 0\n"
        "    def write(self, b):\n"
        "        self.n += len(b)\n"
        "        return len(b)\n"
        "out = Null()\n"
        "print(warpdrive.decompress_stream(io.BytesIO(bomb), out))\n"
        "try:\n"
        "    warpdrive.decompress_stream(io.BytesIO(bomb), Null(), max_length=5 << 20)\n"
        "except errors.OutputLimitError:\n"
        "    print('limit')\n"
    )
    peak, out = _child_peak(code)
    assert f"{256 << 20})" in out and "limit" in out, out
    assert peak < 150 * 1024, peak


def test_a_large_output_costs_its_size_once_not_twice() -> None:
    # 128 MiB from a 128 KB bomb, no limit: the bytes object is filled from the decoded
    # pieces as they are freed, so the peak is about the output (plus the interpreter's
    # 40-60 MB), not the output twice.
    code = BOMB.format(gib=1) + (
        "out = warpdrive.decompress(bomb[: len(bomb) // 8])\n"
        "assert len(out) == 128 << 20 and not out.strip(bytes(1))\n"
    )
    peak, _ = _child_peak(code)
    assert peak < (128 + 80) * 1024, peak


def test_max_length_is_exact_and_checked() -> None:
    data = bytes(range(256)) * 40
    for fmt in FORMATS:
        c = warpdrive.compress(data, fmt)  # type: ignore[arg-type]
        assert warpdrive.decompress(c, fmt, max_length=len(data)) == data  # type: ignore[arg-type]
        with pytest.raises(errors.OutputLimitError):
            warpdrive.decompress(c, fmt, max_length=len(data) - 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        warpdrive.decompress(c, max_length=-1)


def test_a_claimed_size_does_not_make_a_call_allocate_it() -> None:
    # 20 bytes of gzip whose trailer claims 64 MiB - 2: the first buffer is sized by what
    # 20 bytes can decode to, not by the claim. Measured as the growth of the peak virtual
    # size (mapped memory counts there even if never touched).
    code = (
        "import asyncio, warpdrive, warpdrive.aio\n"
        "from warpdrive import errors\n"
        "def vmpeak():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status')"
        " if l.startswith('VmPeak:'))\n"
        "liar = warpdrive.compress(b'')[:-4] + ((64 << 20) - 2).to_bytes(4, 'little')\n"
        "good = warpdrive.compress(b'x' * 100)\n"
        "async def aio(data):\n"
        "    async with warpdrive.aio.open_queue('decompress') as q:\n"
        "        try:\n"
        "            await q.decompress(data)\n"
        "        except errors.ChecksumError:\n"
        "            pass\n"
        "        return vmpeak()\n"
        "warpdrive.decompress(good)\n"
        "base = asyncio.run(aio(good))\n"
        "try:\n"
        "    warpdrive.decompress(liar)\n"
        "except errors.ChecksumError:\n"
        "    pass\n"
        "print(vmpeak() - base, asyncio.run(aio(liar)) - base)\n"
    )
    _, out = _child_peak(code)
    sync_growth, aio_growth = (int(x) for x in out.split())
    assert sync_growth < 4096 and aio_growth < 4096, out


# ------------------------------------------------------------------ no panics


def test_huge_recv_timeouts_are_overflow_errors_not_panics() -> None:
    with warpdrive.open_queue("compress") as q:
        q.send_nop(1)
        with pytest.raises(OverflowError):
            q.recv(timeout=1e20)
        with pytest.raises(ValueError):
            q.recv(timeout=float("nan"))
        with pytest.raises(ValueError):
            q.recv(timeout=-1.0)
        assert q.recv(timeout=5).tag == 1


def test_compress_bound_overflow_is_an_overflow_error() -> None:
    assert warpdrive.compress_bound(0) > 0
    with pytest.raises(OverflowError):
        warpdrive.compress_bound(2**64 - 1)
    with pytest.raises(OverflowError):
        warpdrive.compress_bound(-1)


def test_huge_sizes_are_exceptions_not_panics() -> None:
    with warpdrive.open_queue("compress") as q:
        with pytest.raises((OverflowError, MemoryError, errors.WarpDriveError)):
            q.alloc(2**64 - 1)
        with pytest.raises((OverflowError, MemoryError, errors.WarpDriveError)):
            q.alloc(2**63)
    with pytest.raises(OverflowError):
        warpdrive.decompress(b"x", max_length=2**64)


def test_internal_error_is_a_runtime_error_and_a_warpdrive_error() -> None:
    assert issubclass(errors.InternalError, RuntimeError)
    assert issubclass(errors.InternalError, errors.WarpDriveError)


class _BadWriter:
    def __init__(self, answer: int) -> None:
        self.answer = answer
        self.calls = 0

    def write(self, b: bytes) -> int:
        self.calls += 1
        return self.answer


@pytest.mark.parametrize(("answer", "exc"), [(0, BlockingIOError), (1 << 40, ValueError)])
def test_a_writer_that_reports_nonsense_is_an_error_not_a_hang(
    answer: int, exc: type[Exception]
) -> None:
    gz = warpdrive.compress(b"some data" * 100)
    w = _BadWriter(answer)
    with pytest.raises(exc, match="write"):
        warpdrive.decompress_stream(io.BytesIO(gz), w)
    assert w.calls == 1
