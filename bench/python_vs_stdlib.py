"""warpdrive vs the stdlib zlib module, from Python. A program that prints figures, not a test.

    python bench/python_vs_stdlib.py [--quick]

1. sync ``warpdrive.compress`` vs ``zlib.compress`` at the same level on 64 KiB and 16 MiB
   (median of several runs; ratio > 1 means warpdrive is faster);
2. asyncio with 16 concurrent tasks: warpdrive.aio on one queue vs
   ``loop.run_in_executor(None, zlib.compress, ...)``, in requests/s and MB/s of input;
3. the longest event-loop stall while 1,000 requests are in flight, seen by a ticker
   coroutine that sleeps 1 ms at a time.

The data is text-like (compresses about 3:1). On the soft device, "the device" is a
thread of this process, so the figures measure the ring, the bindings and the engine on
this machine's cores, not an accelerator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import zlib
from collections.abc import Awaitable, Callable

import warpdrive
import warpdrive.aio

KiB = 1 << 10
MiB = 1 << 20


def text_like(n: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    words = [rnd.randbytes(rnd.randrange(2, 9)).hex().encode() for _ in range(2000)]
    out = bytearray()
    while len(out) < n:
        out += b" ".join(rnd.choices(words, k=64)) + b"\n"
    return bytes(out[:n])


def median_time(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_sync(level: int, quick: bool) -> None:
    print(f"== sync, level {level}: warpdrive.compress vs zlib.compress (median)")
    for size, runs in ((64 * KiB, 200 if not quick else 30), (16 * MiB, 7 if not quick else 3)):
        data = text_like(size)
        warpdrive.compress(data, "zlib", level)  # warm up: open the cached queue
        zlib.compress(data, level)

        def ours(d: bytes = data) -> bytes:
            return warpdrive.compress(d, "zlib", level)

        def stdlib(d: bytes = data) -> bytes:
            return zlib.compress(d, level)

        tw = median_time(ours, runs)
        tz = median_time(stdlib, runs)
        rw, rz = len(warpdrive.compress(data, "zlib", level)), len(zlib.compress(data, level))
        print(
            f"  {size // KiB:6d} KiB x{runs:3d}: warpdrive {tw * 1e3:8.2f} ms "
            f"({size / tw / 1e6:7.1f} MB/s, out {rw})  zlib {tz * 1e3:8.2f} ms "
            f"({size / tz / 1e6:7.1f} MB/s, out {rz})  speed ratio {tz / tw:5.2f}x"
        )


async def run_concurrent(
    work: Callable[[bytes], Awaitable[bytes]], data: bytes, tasks: int, per_task: int
) -> float:
    async def worker() -> None:
        for _ in range(per_task):
            await work(data)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return time.perf_counter() - t


async def bench_async(level: int, quick: bool) -> None:
    size, tasks = 64 * KiB, 16
    per_task = 25 if quick else 100
    n = tasks * per_task
    data = text_like(size)
    loop = asyncio.get_running_loop()
    print(f"== asyncio, {tasks} tasks, {n} requests of {size // KiB} KiB, level {level}")
    async with warpdrive.aio.open_queue("compress") as q:
        await run_concurrent(lambda d: q.compress(d, "zlib", level), data, tasks, 4)  # warm
        tw = await run_concurrent(lambda d: q.compress(d, "zlib", level), data, tasks, per_task)

    async def in_executor(d: bytes) -> bytes:
        return await loop.run_in_executor(None, zlib.compress, d, level)

    await run_concurrent(in_executor, data, tasks, 4)
    tz = await run_concurrent(in_executor, data, tasks, per_task)
    for name, t in (("warpdrive.aio", tw), ("run_in_executor(zlib)", tz)):
        print(f"  {name:22s} {n / t:9.0f} req/s  {n * size / t / 1e6:8.1f} MB/s")
    print(f"  ratio (warpdrive / executor): {tz / tw:.2f}x")


async def longest_stall(start_load: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Runs a 1 ms ticker while `start_load` runs; returns (longest gap beyond 1 ms, load
    seconds)."""
    stop = False
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.001)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    t = time.perf_counter()
    await start_load()
    elapsed = time.perf_counter() - t
    stop = True
    await tick
    return worst, elapsed


async def bench_stall(level: int) -> None:
    size, n = 64 * KiB, 1000
    datas = [text_like(size, seed=i % 16) for i in range(n)]
    loop = asyncio.get_running_loop()
    print(f"== event-loop stall, {n} requests of {size // KiB} KiB in flight at once")
    async with warpdrive.aio.open_queue("compress") as q:

        async def ours() -> object:
            return await asyncio.gather(*(q.compress(d, "zlib", level) for d in datas))

        cold, t_cold = await longest_stall(ours)
        warm, t_warm = await longest_stall(ours)

    async def executor() -> object:
        return await asyncio.gather(
            *(loop.run_in_executor(None, zlib.compress, d, level) for d in datas)
        )

    ex, t_ex = await longest_stall(executor)
    print(
        f"  warpdrive.aio (first burst, buffers allocated)  longest stall {cold * 1e3:7.2f} ms"
        f"  ({t_cold:.2f} s)"
    )
    print(
        f"  warpdrive.aio (second burst, pooled buffers)    longest stall {warm * 1e3:7.2f} ms"
        f"  ({t_warm:.2f} s)"
    )
    print(
        f"  run_in_executor(zlib)                           longest stall {ex * 1e3:7.2f} ms"
        f"  ({t_ex:.2f} s)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--level", type=int, default=6)
    ap.add_argument("--uvloop", action="store_true", help="run the asyncio parts on uvloop")
    args = ap.parse_args()
    print(
        f"python {sys.version.split()[0]}, warpdrive {warpdrive.__version__}, "
        f"{os.cpu_count()} CPUs, device {warpdrive.open_queue().device}"
    )
    bench_sync(args.level, args.quick)
    factory = None
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - optional

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as r:
        r.run(bench_async(args.level, args.quick))
        r.run(bench_stall(args.level))
    return 0


if __name__ == "__main__":
    sys.exit(main())
