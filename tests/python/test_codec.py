"""warpdrive.compress / decompress: round trips, stdlib and gzip(1) interop, bad input."""

from __future__ import annotations

import array
import gzip
import io
import os
import subprocess
import sys
import threading
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import warpdrive

FORMATS = ["gzip", "zlib", "deflate"]
MiB = 1 << 20


def std_decompress(data: bytes, fmt: str) -> bytes:
    if fmt == "gzip":
        return gzip.decompress(data)
    if fmt == "zlib":
        return zlib.decompress(data)
    return zlib.decompress(data, -15)


def std_compress(data: bytes, fmt: str, level: int = 6) -> bytes:
    wbits = {"gzip": 31, "zlib": 15, "deflate": -15}[fmt]
    c = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


def sample(n: int, seed: int = 1) -> bytes:
    """Compressible but not trivial data of n bytes."""
    words = [b"warp", b"drive", b"queue", b"ring", b"doorbell", bytes([seed % 256])]
    out = bytearray()
    i = seed
    while len(out) < n:
        i = (i * 1103515245 + 12345) & 0x7FFFFFFF
        out += words[i % len(words)]
        if i % 7 == 0:
            out += os.urandom(3)
    return bytes(out[:n])


data_st = st.one_of(
    st.binary(max_size=5000),
    st.builds(sample, st.integers(0, 200_000), st.integers(0, 1000)),
)


@settings(max_examples=60, deadline=None)
@given(data=data_st, fmt=st.sampled_from(FORMATS), level=st.sampled_from([-1, 1, 5, 9]))
def test_round_trip_and_stdlib_reads_ours(data: bytes, fmt: str, level: int) -> None:
    c = warpdrive.compress(data, fmt, level)  # type: ignore[arg-type]
    assert warpdrive.decompress(c, fmt) == data  # type: ignore[arg-type]
    assert std_decompress(c, fmt) == data


@settings(max_examples=60, deadline=None)
@given(data=data_st, fmt=st.sampled_from(FORMATS), level=st.integers(0, 9))
def test_we_read_stdlib_output(data: bytes, fmt: str, level: int) -> None:
    assert warpdrive.decompress(std_compress(data, fmt, level), fmt) == data  # type: ignore[arg-type]


def test_gzip_module_interop() -> None:
    data = sample(300_000)
    assert gzip.decompress(warpdrive.compress(data)) == data
    assert warpdrive.decompress(gzip.compress(data, mtime=0)) == data


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 17])
def test_sizes_around_the_one_request_limit(fmt: str, size: int) -> None:
    data = sample(size, seed=size)
    c = warpdrive.compress(data, fmt)  # type: ignore[arg-type]
    assert std_decompress(c, fmt) == data
    assert warpdrive.decompress(c, fmt) == data  # type: ignore[arg-type]


def test_incompressible_large_input_round_trips() -> None:
    data = os.urandom(2 * MiB + 5)
    c = warpdrive.compress(data, "zlib", 1)
    assert zlib.decompress(c) == data
    assert warpdrive.decompress(c, "zlib") == data


def test_highly_compressible_output_larger_than_the_first_guess() -> None:
    data = bytes(50 * MiB)
    c = warpdrive.compress(data, "gzip", 9)
    assert len(c) < MiB
    # A zlib stream has no size hint, so the one-request path must hand over to streaming.
    z = zlib.compress(data)
    assert warpdrive.decompress(z, "zlib") == data
    assert warpdrive.decompress(c) == data


def test_any_buffer_protocol_input() -> None:
    data = sample(70_000)
    expect = data
    assert gzip.decompress(warpdrive.compress(bytearray(data))) == expect
    assert gzip.decompress(warpdrive.compress(memoryview(data)[10:])) == expect[10:]
    arr = array.array("I", range(10_000))
    assert gzip.decompress(warpdrive.compress(arr)) == arr.tobytes()
    strided = memoryview(data)[::2]  # not contiguous: copied first
    assert gzip.decompress(warpdrive.compress(strided)) == data[::2]
    assert warpdrive.decompress(bytearray(gzip.compress(data))) == data
    with pytest.raises(TypeError):
        warpdrive.compress("text is not bytes")  # type: ignore[arg-type]


def test_multi_member_gzip_and_zero_padding() -> None:
    a, b = sample(1000, 1), sample(200_000, 2)
    assert warpdrive.decompress(gzip.compress(a) + gzip.compress(b)) == a + b
    assert warpdrive.decompress(gzip.compress(a) + bytes(100)) == a


def test_levels_are_checked_and_change_the_output() -> None:
    data = sample(500_000)
    fast, small = warpdrive.compress(data, level=1), warpdrive.compress(data, level=9)
    # A level reaches the device wherever its ring has a field for it (not uacce's v2/v3).
    with warpdrive.open_queue("compress") as q:
        takes_level = q.takes_level
    assert len(small) < len(fast) if takes_level else small == fast
    for bad in (0, 10, -2):
        with pytest.raises(warpdrive.BadRequestError):
            warpdrive.compress(data, level=bad)
    with pytest.raises(ValueError, match="format"):
        warpdrive.compress(data, "lz4")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_input_raises_bad_data(fmt: str) -> None:
    data = sample(400_000)
    c = warpdrive.compress(data, fmt)  # type: ignore[arg-type]
    for cut in (1, len(c) // 2, len(c) - 1):
        with pytest.raises(warpdrive.BadDataError):
            warpdrive.decompress(c[:cut], fmt)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["gzip", "zlib"])
def test_corrupt_input_raises_bad_data(fmt: str) -> None:
    data = sample(100_000)
    c = bytearray(warpdrive.compress(data, fmt))  # type: ignore[arg-type]
    # A flipped bit in the checksum trailer is caught by the checksum.
    c[-5] ^= 0x01
    with pytest.raises(warpdrive.BadDataError):
        warpdrive.decompress(bytes(c), fmt)  # type: ignore[arg-type]
    with pytest.raises(warpdrive.BadDataError):
        warpdrive.decompress(b"this is not compressed data at all" * 10, fmt)  # type: ignore[arg-type]
    with pytest.raises(warpdrive.BadDataError):
        warpdrive.decompress(b"", fmt)  # type: ignore[arg-type]


def test_bad_data_is_a_value_error_and_a_warpdrive_error() -> None:
    with pytest.raises(ValueError) as ei:
        warpdrive.decompress(b"\x1f\x8b garbage")
    assert isinstance(ei.value, warpdrive.WarpDriveError)


def test_the_gzip_program_reads_ours_and_we_read_its(tmp_path: os.PathLike[str]) -> None:
    data = sample(2 * MiB + 3)
    ours = os.path.join(tmp_path, "ours.gz")
    with open(ours, "wb") as f:
        f.write(warpdrive.compress(data))
    subprocess.run(["gzip", "-t", ours], check=True)
    out = subprocess.run(["gzip", "-dc", ours], check=True, capture_output=True).stdout
    assert out == data
    theirs = subprocess.run(["gzip", "-c", "-9"], input=data, check=True, capture_output=True)
    assert warpdrive.decompress(theirs.stdout) == data


@pytest.mark.parametrize(("size", "calls"), [(MiB, 20), (24 * MiB, 1)])
def test_compress_releases_the_gil(size: int, calls: int) -> None:
    # With a switch interval of 100 s the GIL changes hands only when its holder lets go of
    # it. The main thread waits (without the GIL) until the worker is about to compress, and
    # then needs the GIL to look: it finds the work unfinished only if a compress call let
    # go of the GIL; a call that held it would return first, and the worker would record
    # that it is done before it let go. (1 MiB is one request on the cached queue; 24 MiB
    # goes through the streaming path.)
    data = sample(size, seed=3)
    about_to_compress = threading.Event()
    done = threading.Event()

    def work() -> None:
        about_to_compress.set()
        for _ in range(calls):
            warpdrive.compress(data, level=9)
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        th = threading.Thread(target=work)
        th.start()
        about_to_compress.wait()
        looked_while_compressing = not done.is_set()
        th.join()
    finally:
        sys.setswitchinterval(old)
    assert looked_while_compressing, "compress held the GIL for the whole call"


@pytest.mark.parametrize("queues", [1, 3])
def test_compress_stream_spreads_over_the_queues_asked_for(queues: int) -> None:
    data = sample(3 * MiB + 5, seed=9)
    dst = io.BytesIO()
    n_in, n_out = warpdrive.compress_stream(
        io.BytesIO(data), dst, queues=queues, chunk_size=256 * 1024
    )
    assert (n_in, n_out) == (len(data), len(dst.getvalue()))
    assert gzip.decompress(dst.getvalue()) == data


def test_compress_stream_refuses_a_queue_count_out_of_range() -> None:
    for bad in (0, 65):
        with pytest.raises(warpdrive.BadRequestError, match="queues"):
            warpdrive.compress_stream(io.BytesIO(b"x"), io.BytesIO(), queues=bad)
    with pytest.raises(OverflowError):
        warpdrive.compress_stream(io.BytesIO(b"x"), io.BytesIO(), queues=-1)
