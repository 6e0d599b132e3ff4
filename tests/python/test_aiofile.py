"""warpdrive.aio.open: the file object for asyncio, read and written against the stdlib."""

from __future__ import annotations

import asyncio
import gzip
import io
import zlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

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


def test_every_forwarded_method_in_both_modes(tmp_path: Path, run: Run) -> None:
    data = b"".join(b"row %d\n" % i for i in range(50_000))
    path = tmp_path / "c.gz"

    async def main() -> None:
        async with warpdrive.aio.open(path, "wb", mtime=7) as f:
            assert isinstance(f, warpdrive.aio.AsyncFile)
            assert await f.write(data[:1000]) == 1000
            assert await f.tell() == 1000
            await f.flush()
            # After a sync flush what was written decodes (no trailer yet).
            assert zlib.decompressobj(31).decompress(path.read_bytes()) == data[:1000]
            await f.write(memoryview(data)[1000:])
        assert f.closed and gzip.decompress(path.read_bytes()) == data
        async with warpdrive.aio.open(path) as f:
            assert await f.seek(100_000) == 100_000
            assert await f.read(6) == data[100_000:100_006]
            assert await f.tell() == 100_006
            await f.seek(-6, io.SEEK_CUR)
            assert await f.readline() == data[100_000:].split(b"\n")[0] + b"\n"
            assert f.raw.mtime == 7
        async with warpdrive.aio.open(path, "rt", encoding="ascii") as t:
            assert await t.read(4) == "row "
            pos = await t.tell()
            assert await t.readline() == "0\n"
            await t.seek(pos)
            assert await t.read(2) == "0\n"
            assert [line async for line in t][-1] == "row 49999\n"
        wt = tmp_path / "d.gz"
        async with warpdrive.aio.open(wt, "wt", encoding="utf-8") as t:
            assert await t.write("näme\n") == 5
            await t.flush()
        assert gzip.decompress(wt.read_bytes()) == "näme\n".encode()

    run(main())
    # The methods say what they run.
    doc = warpdrive.aio.AsyncBinaryFile.write.__doc__
    assert doc is not None and "GzipFile.write" in doc


def test_async_iteration_takes_lines_in_batches(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One worker-thread call per line made `async for` about 20 times slower than the
    # blocking file's iteration: the lines come in batches.
    data = b"".join(b"line %d\n" % i for i in range(100_000))
    path = tmp_path / "l.gz"
    path.write_bytes(gzip.compress(data))
    calls = 0
    to_thread = asyncio.to_thread

    async def counting(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await to_thread(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)

    async def main() -> list[bytes]:
        async with warpdrive.aio.open(path) as f:
            return [line async for line in f]

    assert run(main()) == data.splitlines(keepends=True)
    assert calls < 100, calls


@pytest.mark.parametrize("mode", ["rb", "rt"])
def test_calls_after_some_lines_see_the_file_where_the_lines_end(
    tmp_path: Path, run: Run, mode: str
) -> None:
    data = b"".join(b"line %d\r\n" % i if i % 7 else b"l\xc3\xa9 %d\n" % i for i in range(60_000))
    path = tmp_path / "m.gz"
    path.write_bytes(gzip.compress(data))

    def ref() -> list[Any]:
        # The same calls on the blocking file (readline: iteration there disables tell).
        got: list[Any] = []
        with warpdrive.open(path, mode, encoding="utf-8" if "t" in mode else None) as f:
            got += [f.readline() for _ in range(3)]
            got += [f.read(0), f.readline(0), f.readline(4), f.read(10), f.tell()]
            got += [f.readline() for _ in range(2)]
            f.seek(f.tell())
            got.append(f.read(5))
            got += [f.readline() for _ in range(2)]
            got += [len(f.read())]
        return got

    async def ours() -> list[Any]:
        got: list[Any] = []
        async with warpdrive.aio.open(path, mode, encoding="utf-8" if "t" in mode else None) as f:
            it = aiter(f)
            got += [await anext(it) for _ in range(3)]
            got += [await f.read(0), await f.readline(0)]
            got += [await f.readline(4), await f.read(10), await f.tell()]
            got += [await anext(it) for _ in range(2)]
            await f.seek(await f.tell())
            got.append(await f.read(5))
            got += [await anext(it) for _ in range(2)]
            got += [len(await f.read())]
        return got

    assert run(ours()) == ref()
