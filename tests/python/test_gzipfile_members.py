"""What follows a member of a compressed file read with warpdrive.open: zero padding, another
member or garbage, judged as every other way of decoding judges it (the core's rule), for any
name of the format the core reads."""

from __future__ import annotations

import asyncio
import gzip
import io
import zlib

import pytest

import warpdrive
import warpdrive.aio
from warpdrive import errors


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


class _Trickle(io.RawIOBase):
    """A file whose reads return at most ``step`` bytes (as a pipe may)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("name", ["gzip", "gz", "GZIP", "Gzip"])
def test_members_and_padding_are_read_whatever_the_formats_name(name: str) -> None:
    data = _gz(b"one") + b"\0" * 5 + _gz(b"two") + b"\0" * 3
    assert warpdrive.decompress(data, name) == b"onetwo"  # type: ignore[arg-type]
    with warpdrive.open(io.BytesIO(data), format=name) as f:  # type: ignore[call-overload]
        assert f.read() == b"onetwo"


def test_padding_and_members_split_across_reads() -> None:
    data = _gz(b"one") + b"\0" * 40 + _gz(b"two") + b"\0" * 9 + _gz(b"three")
    for step in (1, 2, 3, 7, 64):
        with warpdrive.open(_Trickle(data, step)) as f:  # type: ignore[call-overload]
            assert f.read() == b"onetwothree", step


@pytest.mark.parametrize(
    "tail",
    [b"junk", b"\x1f", b"\x1f\x00", b"\x1f\x8c\x08", b"\0\0\x1f\x00rest", b"\0\0junk"],
    ids=["junk", "lone-1f", "1f-00", "1f-8c", "padding-then-1f-00", "padding-then-junk"],
)
def test_what_follows_a_member_gets_the_verdict_of_every_other_path(tail: bytes) -> None:
    data = _gz(b"abc") + tail

    def verdict(read: object) -> type[BaseException] | bytes:
        try:
            return read()  # type: ignore[operator, no-any-return]
        except errors.BadDataError as e:
            return type(e)

    def file_read() -> bytes:
        with warpdrive.open(io.BytesIO(data)) as f:
            return f.read()

    async def aio() -> bytes:
        async with warpdrive.aio.open_queue("decompress") as q:
            return await q.decompress(data)

    want = verdict(lambda: warpdrive.decompress(data))
    assert isinstance(want, type)
    assert verdict(file_read) is want
    assert verdict(lambda: asyncio.run(aio())) is want


def test_garbage_after_a_zlib_stream_is_trailing_garbage() -> None:
    data = zlib.compress(b"abc") + b"\0"
    with (
        warpdrive.open(io.BytesIO(data), format="zlib") as f,
        pytest.raises(errors.TrailingGarbageError),
    ):
        f.read()
