"""Soak test of the Python binding: verified round trips from an asyncio loop.

    python tests/soak/soak_py.py [--requests M] [--tasks C] [--seed X]

One *request* is one round trip: a compression of a random input (0 B to 1 MiB, mostly
small; gzip, zlib or raw deflate; level 1, 2, 6 or 9) and the decompression of its result.
``C`` tasks on one event loop share the work: most calls go to a ``warpdrive.aio`` pool of
each direction, one in eight to a single ``warpdrive.aio`` queue of each direction, and one in
eight to the one-shot ``warpdrive.compress``/``decompress`` on a worker thread. Every round
trip is checked twice: the decompressed bytes must equal the input, and Python's ``zlib``
(an independent decoder) must read the compressed stream back to the input, to its end.

Resources (VmRSS, open fds, lines of ``/proc/self/maps``) are sampled while it runs. The
first 10% of the requests are a warm-up run with its own queues, closed at its end; the
baseline is sampled then, and the final sample after the remaining requests, whose queues are
closed the same way. The final sample must be within the tolerances below of the baseline.
(The binding does not expose the DMA domain's share count, so shares are not sampled here;
the Rust soak checks them.)

The last line is ``N passed, M failed``; the exit status is 1 on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import warpdrive
import warpdrive.aio

Format = Literal["gzip", "zlib", "deflate"]
FORMATS: tuple[Format, ...] = ("gzip", "zlib", "deflate")
LEVELS = (1, 2, 6, 9)
WBITS = {"gzip": 31, "zlib": 15, "deflate": -15}
MIB = 1 << 20

#: Growth of VmRSS allowed from the baseline to the final sample (both with every asyncio
#: queue closed): the soft domain's buffer cache (at most 64 buffers / 64 MiB) may still fill
#: as larger sizes come up, and freed memory stays in the allocators' free lists. A lost
#: buffer per request is far above it.
RSS_TOLERANCE_KIB = 96 << 10
#: Open fds may not grow at all: the queues of both phases are closed when sampled.
FD_TOLERANCE = 0
#: Mappings that may appear: the domain's cached buffers (each one mapping, at most 64) and a
#: few large allocations the allocator serves with mmap.
MAPS_TOLERANCE = 64 + 16
WARMUP_FRACTION = 0.10


@dataclass
class Sample:
    rss_kib: int
    fds: int
    maps: int


def sample() -> Sample:
    rss = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open("/proc/self/maps") as f:
        maps = sum(1 for _ in f)
    return Sample(rss, len(os.listdir("/proc/self/fd")), maps)


def corpus(seed: int) -> bytes:
    """1 MiB of text-like bytes, 1 MiB of random bytes, 1 MiB of long runs."""
    r = random.Random(seed ^ 0xC0FFEE)
    words = [bytes(r.randrange(97, 123) for _ in range(r.randrange(2, 11))) for _ in range(512)]
    text = bytearray()
    while len(text) < MIB:
        text += b" ".join(r.choices(words, k=64)) + b"\n"
    runs = bytearray()
    while len(runs) < MIB:
        runs += bytes([r.randrange(256)]) * r.randrange(1, 8193)
    return bytes(text[:MIB]) + r.randbytes(MIB) + bytes(runs[:MIB])


def pick_size(r: random.Random) -> int:
    """0 B to 1 MiB, skewed small: 60% under 1 KiB, 30% under 64 KiB, 9% under 256 KiB."""
    p = r.randrange(100)
    top = 1 << 10 if p < 60 else 64 << 10 if p < 90 else 256 << 10 if p < 99 else MIB + 1
    return r.randrange(top)


def independent(fmt: Format, comp: bytes) -> bytes:
    d = zlib.decompressobj(WBITS[fmt])
    out = d.decompress(comp) + d.flush()
    if not d.eof or d.unused_data:
        raise ValueError("zlib: the stream does not end where the output does")
    return out


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    failures: list[str] = field(default_factory=list)


async def phase(
    n: int, tasks: int, data: bytes, seed: int, tally: Tally, pool: ThreadPoolExecutor
) -> None:
    """``n`` round trips on fresh asyncio queues, closed at the end."""
    loop = asyncio.get_running_loop()
    left = n
    async with (
        warpdrive.aio.open_pool("compress", queues=2) as cpool,
        warpdrive.aio.open_pool("decompress", queues=2) as dpool,
        warpdrive.aio.open_queue("compress") as cq,
        warpdrive.aio.open_queue("decompress") as dq,
    ):

        async def worker(i: int) -> None:
            nonlocal left
            r = random.Random(seed * 1000 + i)
            while left > 0:
                left -= 1
                size = pick_size(r)
                off = r.randrange(3) * MIB + r.randrange(MIB - min(size, MIB) + 1)
                off = min(off, len(data) - size)
                src = data[off : off + size]
                fmt = FORMATS[r.randrange(3)]
                level = LEVELS[r.randrange(4)]
                route = r.randrange(8)
                try:
                    if route == 0:
                        comp = await cq.compress(src, fmt, level)
                        back = await dq.decompress(comp, fmt)
                    elif route == 1:
                        comp = await loop.run_in_executor(pool, warpdrive.compress, src, fmt, level)
                        back = await loop.run_in_executor(pool, warpdrive.decompress, comp, fmt)
                    else:
                        comp = await cpool.compress(src, fmt, level)
                        back = await dpool.decompress(comp, fmt)
                    if back != src:
                        raise ValueError(f"round trip differs ({size} -> {len(back)} bytes)")
                    if independent(fmt, comp) != src:
                        raise ValueError("zlib reads different bytes")
                    tally.passed += 1
                    tally.bytes_in += size
                    tally.bytes_out += len(comp)
                except (warpdrive.WarpDriveError, ValueError) as e:
                    tally.failed += 1
                    if len(tally.failures) < 20:
                        tally.failures.append(f"{size} B {fmt} level {level}: {e!r}")

        await asyncio.gather(*(worker(i) for i in range(tasks)))


async def sampler(stop: asyncio.Event, every: float, samples: list[Sample]) -> None:
    while not stop.is_set():
        samples.append(sample())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


def prewarm(executor: ThreadPoolExecutor, workers: int) -> None:
    """Starts every thread of ``executor`` now, so that none starts during the run."""
    barrier = threading.Barrier(workers)
    for f in [executor.submit(barrier.wait) for _ in range(workers)]:
        f.result()


async def main(args: argparse.Namespace) -> int:
    data = corpus(args.seed)
    # The loop's default executor (large shares are made and dropped there) and the one for
    # the one-shot calls: fixed sizes, every thread started before the baseline.
    loop = asyncio.get_running_loop()
    default = ThreadPoolExecutor(max_workers=2)
    prewarm(default, 2)
    loop.set_default_executor(default)
    oneshot = ThreadPoolExecutor(max_workers=1)
    prewarm(oneshot, 1)
    # The binding's one-shot decompression keeps a queue per thread, and one that goes on to
    # the streaming path (1 MiB of zeros does) takes a second one from wd-core's pool, which
    # keeps it. Open both now, as a long warm-up would.
    zeros = await loop.run_in_executor(oneshot, warpdrive.compress, bytes(MIB), "zlib", 1)
    await loop.run_in_executor(oneshot, warpdrive.decompress, zeros, "zlib")

    tally = Tally()
    samples: list[Sample] = []
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler(stop, args.sample_every, samples))
    warm = max(1, int(args.requests * WARMUP_FRACTION))
    print(
        f"soak_py: {args.requests} requests (round trips), WARPDRIVE_DEVICE="
        f"{os.environ.get('WARPDRIVE_DEVICE', 'auto')}, {args.tasks} tasks"
    )
    start = time.monotonic()
    await phase(warm, args.tasks, data, args.seed, tally, oneshot)
    baseline = sample()
    await phase(args.requests - warm, args.tasks, data, args.seed + 1, tally, oneshot)
    secs = time.monotonic() - start
    final = sample()
    stop.set()
    await sampling
    samples.append(final)

    n = tally.passed + tally.failed
    print(
        f"soak_py: {n} requests in {secs:.1f} s, {n / secs:.0f} requests/s, "
        f"{tally.bytes_in / MIB:.1f} MiB in, {tally.bytes_out / MIB:.1f} MiB compressed"
    )
    print(f"soak_py: {len(samples)} samples; baseline after the warm-up's {warm} requests")
    problems: list[str] = []
    for name, attr, tol in (
        ("rss KiB", "rss_kib", RSS_TOLERANCE_KIB),
        ("fds", "fds", FD_TOLERANCE),
        ("maps", "maps", MAPS_TOLERANCE),
    ):
        a, z = getattr(baseline, attr), getattr(final, attr)
        m = max(getattr(s, attr) for s in samples)
        print(f"soak_py: {name:8} first {a:>9} max {m:>9} last {z:>9} (tolerance +{tol})")
        if z > a + tol:
            problems.append(f"{name} grew from {a} to {z} (tolerance {tol})")
    if n != args.requests:
        problems.append(f"{n} requests ran, {args.requests} asked")
    for p in tally.failures + problems:
        print(f"soak_py: FAILED: {p}")
    failed = tally.failed + len(problems)
    print(f"{tally.passed} passed, {failed} failed")
    oneshot.shutdown()
    return 0 if failed == 0 else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--tasks", type=int, default=8)
    p.add_argument("--seed", type=int, default=0x5EED)
    p.add_argument("--sample-every", type=float, default=0.25)
    a = p.parse_args()
    if a.requests < 1 or a.tasks < 1 or a.sample_every <= 0:
        p.error("--requests, --tasks and --sample-every must be positive")
    return a


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
