"""warpdrive.aio.open: the file object for asyncio, read and written against the stdlib."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import warpdrive.aio

Run = Callable[[Coroutine[Any, Any, Any]], Any]


def test_async_read_write_and_lines(tmp_path: Path, run: Run) -> None:
    data = b"".join(b"line %d\n" % i for i in range(100_000))
    path = tmp_path / "a.gz"

    async def main() -> None:
        async with warpdrive.aio.open(path, "wb") as f:
            for i in range(0, len(data), 300_000):
                await f.write(data[i : i + 300_000])
        assert gzip.decompress(path.read_bytes()) == data
        async with warpdrive.aio.open(path) as f:
            assert await f.read(7) == b"line 0\n"
            got = [line async for line in f]
        assert b"".join(got) == data[7:]
        async with warpdrive.aio.open(path, "rt", encoding="ascii") as t:
            assert await t.readline() == "line 0\n"
            assert await t.read() == data[7:].decode()

    run(main())


def test_async_reading_of_stdlib_output(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "b.gz"
    path.write_bytes(gzip.compress(b"abc" * 100_000) + gzip.compress(b"xyz"))

    async def main() -> bytes:
        async with warpdrive.aio.open(path) as f:
            parts = []
            while chunk := await f.read(65536):
                assert len(chunk) <= 65536
                parts.append(chunk)
        return b"".join(parts)

    assert run(main()) == b"abc" * 100_000 + b"xyz"
