"""The event-loop thread's CPU time per request of a ``warpdrive.aio`` pool, with the input
lent to the soft device (``bytes``) against copied at send (``bytearray``), same build.

    bench/.venv/bin/python bench/experiments/suite/loop_cpu.py [--corpus bench/out/corpus-32M.bin] [--secs 2]

256 tasks compress 64 KiB pieces (zlib format) at level 1 and 6, three rounds, medians.
Prints MB/s and microseconds of loop-thread CPU (``time.thread_time``) per request.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import warpdrive.aio

PIECE = 64 * 1024


async def one_run(
    pieces: list[bytes] | list[bytearray], level: int, secs: float
) -> tuple[float, float]:
    """MB/s and loop CPU microseconds per request of 256 tasks over ``pieces``."""
    nxt = done = 0
    async with warpdrive.aio.open_pool("compress") as pool:
        await pool.compress(pieces[0], "zlib", level)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + secs

        async def worker() -> None:
            nonlocal nxt, done
            while loop.time() < deadline:
                p = pieces[nxt % len(pieces)]
                nxt += 1
                await pool.compress(p, "zlib", level)
                done += 1

        wall, cpu = time.perf_counter(), time.thread_time()
        await asyncio.gather(*(worker() for _ in range(256)))
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    return done * PIECE / 1e6 / wall, cpu / done * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", default="bench/out/corpus-32M.bin")
    ap.add_argument("--secs", type=float, default=2.0)
    a = ap.parse_args()
    with open(a.corpus, "rb") as f:
        data = f.read(32 << 20)
    lent = [data[i : i + PIECE] for i in range(0, len(data) - PIECE + 1, PIECE)]
    copied = [bytearray(p) for p in lent]
    for level in (1, 6):
        runs: dict[str, list[tuple[float, float]]] = {"bytes (lent)": [], "bytearray (copied)": []}
        for _ in range(3):
            runs["bytes (lent)"].append(asyncio.run(one_run(lent, level, a.secs)))
            runs["bytearray (copied)"].append(asyncio.run(one_run(copied, level, a.secs)))
        for name, v in runs.items():
            mb_s = statistics.median(x[0] for x in v)
            us = statistics.median(x[1] for x in v)
            print(
                f"level {level}, 256 tasks, {name}: {mb_s:.0f} MB/s, loop CPU {us:.1f} us/request"
            )


if __name__ == "__main__":
    main()
