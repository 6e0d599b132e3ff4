"""Compress files concurrently on one WarpDrive queue from asyncio, with typed code.

    python examples/python/compress_async.py FILE...

Writes FILE.gz next to each input and checks every result with the stdlib gzip module.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
from pathlib import Path

import warpdrive
import warpdrive.aio


async def compress_one(q: warpdrive.aio.AsyncQueue, path: Path) -> tuple[Path, int, int]:
    data = await asyncio.to_thread(path.read_bytes)
    packed = await q.compress(data, "gzip", 6)
    if gzip.decompress(packed) != data:
        raise RuntimeError(f"{path}: round trip failed")
    out = path.with_name(path.name + ".gz")
    await asyncio.to_thread(out.write_bytes, packed)
    return out, len(data), len(packed)


async def main(paths: list[Path]) -> int:
    async with warpdrive.aio.open_queue("compress") as q:
        results = await asyncio.gather(*(compress_one(q, p) for p in paths))
        stats: warpdrive.Stats = q.stats
    for out, n_in, n_out in results:
        print(f"{out}: {n_in} -> {n_out} bytes")
    print(f"{stats.completed} requests on {q.device}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main([Path(a) for a in sys.argv[1:]])))
