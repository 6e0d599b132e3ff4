"""Part 3 of the benchmark suite: the warpdrive Python package against the standard library.

    bench/.venv/bin/python bench/py_bench.py --corpus FILE [--quick]

Prints one JSON object (bench/driver.py runs it). Uses only the package's public API:
``warpdrive.compress``, ``warpdrive.aio.open_pool(...).compress`` and
``warpdrive.aio.open_queue(...).compress / send_nop / recv``.
Each comparison runs its contenders in turn, repetition after repetition; figures are
medians. Event-loop stalls are measured in separate runs (the instrumentation costs time).
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import gc
import json
import statistics
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import warpdrive
import warpdrive.aio

KIB = 1024


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


# ---------------------------------------------------------------------------- sync


def sync_rate(fn: Callable[[bytes], bytes], ps: list[bytes], secs: float) -> tuple[float, int]:
    """MB/s of ``fn`` over ``ps`` (cyclically) for ``secs``; also the output bytes of one
    pass over the first 16 pieces."""
    out = sum(len(fn(p)) for p in ps[:16])
    n = done = 0
    t = time.perf_counter()
    while n < 2 or time.perf_counter() - t < secs:
        p = ps[n % len(ps)]
        fn(p)
        done += len(p)
        n += 1
    return done / 1e6 / (time.perf_counter() - t), out


def bench_sync(data: bytes, secs: float, reps: int) -> list[dict[str, Any]]:
    rows = []
    for size in (64 * KIB, 1024 * KIB):
        ps = pieces(data, size)
        for level, lname in ((1, "level 1"), (-1, "default level (6)")):
            wd = lambda p, lv=level: warpdrive.compress(p, "zlib", lv)  # noqa: E731
            zl = lambda p, lv=level: zlib.compress(p, lv)  # noqa: E731
            for p in ps[:4]:
                if zlib.decompress(wd(p)) != p:
                    raise SystemExit("warpdrive.compress output does not decode with zlib")
            w, z = [], []
            for _ in range(reps):
                r, wb = sync_rate(wd, ps, secs)
                w.append(r)
                r, zb = sync_rate(zl, ps, secs)
                z.append(r)
            rows.append(
                {
                    "label": f"compress {size // KIB} KiB, {lname}",
                    "size": size,
                    "level": level,
                    "warpdrive_mb_s": statistics.median(w),
                    "zlib_mb_s": statistics.median(z),
                    "vs_zlib": statistics.median(w) / statistics.median(z),
                    "warpdrive_bytes": wb,
                    "zlib_bytes": zb,
                    "warpdrive_runs": w,
                    "zlib_runs": z,
                }
            )
            log(
                f"  sync {rows[-1]['label']}: warpdrive {rows[-1]['warpdrive_mb_s']:.0f} MB/s, zlib {rows[-1]['zlib_mb_s']:.0f} MB/s"
            )
    return rows


# ---------------------------------------------------------------------------- asyncio


class Probe:
    """Measures how long the event loop runs one callback (a "stall": nothing else can run)
    by timing every Handle._run, how much of the longest ones was the interpreter's cyclic
    garbage collector (``gc.callbacks``), and, when a heartbeat task runs, the longest gap
    between its turns."""

    def __init__(self) -> None:
        self.max_cb = 0.0
        # Thread CPU time of the longest (wall-clock) callback: the rest of it the thread
        # was not running (waiting for a core).
        self.max_cb_oncpu = 0.0
        self.max_cb_cpu = 0.0
        self.max_cb_cpu_what = ""
        # GC time (thread CPU) so far, inside the longest-CPU callback, and the longest
        # callback once its GC time is taken out.
        self.gc_cpu = 0.0
        self._gc_start = 0.0
        self.max_cb_cpu_gc = 0.0
        self.max_cb_cpu_excl_gc = 0.0
        self.over_1ms = 0
        # Callbacks over 1 ms of the loop thread's CPU time (the rest of a wall-clock stall
        # is waiting for a core).
        self.over_1ms_cpu = 0
        self.callbacks = 0
        # Only the steady state counts: from the callback after the one that called reset()
        # (which checks the first output and starts the N tasks: the benchmark's own set-up),
        # until active is cleared before the queue's teardown.
        self.active = False
        self._starting = False
        self.max_gap = 0.0
        self._orig = asyncio.events.Handle._run

    def __enter__(self) -> Probe:
        orig = self._orig
        probe = self

        def timed_run(h: asyncio.events.Handle) -> None:
            g = probe.gc_cpu
            c = time.thread_time()
            t = time.perf_counter()
            orig(h)
            d = time.perf_counter() - t
            dc = time.thread_time() - c
            dgc = probe.gc_cpu - g
            if probe._starting:
                probe._starting = False
                probe.active = True
                return
            if not probe.active:
                return
            probe.callbacks += 1
            if d > 1e-3:
                probe.over_1ms += 1
            if dc > 1e-3:
                probe.over_1ms_cpu += 1
            if d > probe.max_cb:
                probe.max_cb = d
                probe.max_cb_oncpu = dc
            probe.max_cb_cpu_excl_gc = max(probe.max_cb_cpu_excl_gc, dc - dgc)
            if dc > probe.max_cb_cpu:
                probe.max_cb_cpu = dc
                probe.max_cb_cpu_gc = dgc
                probe.max_cb_cpu_what = repr(h)[:160]

        asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._orig  # type: ignore[method-assign]
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            self.gc_cpu += time.thread_time() - self._gc_start

    def reset(self) -> None:
        self.max_cb_cpu_gc = self.max_cb_cpu_excl_gc = 0.0
        self.max_cb = self.max_cb_oncpu = self.max_cb_cpu = self.max_gap = 0.0
        self.max_cb_cpu_what = ""
        self.over_1ms = self.over_1ms_cpu = self.callbacks = 0
        self._starting = True

    async def heartbeat(self, stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now


def host_hiccup(secs: float) -> tuple[float, float, int, int]:
    """The longest time (wall clock, and thread CPU time; ms) a step of ~2 us of Python took
    in ``secs`` of repeating it with nothing else running, and how many steps took over
    1 ms (wall clock, and CPU time): what the host alone does to a thread (a VM's vCPU
    taken away shows as both), the floor under any stall figure."""
    longest = longest_cpu = 0.0
    over = over_cpu = 0
    end = time.perf_counter() + secs
    while True:
        c = time.thread_time()
        t = time.perf_counter()
        sum(range(100))
        now = time.perf_counter()
        dc = time.thread_time() - c
        over += now - t > 1e-3
        over_cpu += dc > 1e-3
        longest = max(longest, now - t)
        longest_cpu = max(longest_cpu, dc)
        if now > end:
            return longest * 1e3, longest_cpu * 1e3, over, over_cpu


async def run_tasks(
    ntasks: int, ps: list[bytes], secs: float, one: Callable[[bytes], Awaitable[Any]]
) -> float:
    """``ntasks`` tasks each call ``one`` on the next piece until ``secs`` pass; MB/s."""
    nxt = 0
    done = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + secs

    async def worker() -> None:
        nonlocal nxt, done
        while loop.time() < deadline or nxt < 2:
            p = ps[nxt % len(ps)]
            nxt += 1
            await one(p)
            done += len(p)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(ntasks)))
    return done / 1e6 / (time.perf_counter() - t)


async def one_async_run(
    mode: str,
    ntasks: int,
    ps: list[bytes],
    level: int,
    secs: float,
    probe: Probe | None,
    heartbeat: bool = False,
) -> float:
    """One run of ``mode``: "warpdrive" (a pool, one queue per CPU), "warpdrive_1q" (one
    queue), "warpdrive_normal" (the pool with its soft devices at normal priority instead
    of warpdrive.aio's default, idle) or "executor". With ``heartbeat``, a task that only yields runs beside (for the
    probe's loop gap); it keeps the loop thread busy, so stalls are measured without it."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hb = asyncio.create_task(probe.heartbeat(stop)) if probe and heartbeat else None
    try:
        if mode.startswith("warpdrive"):
            opened: warpdrive.aio.AsyncQueue | warpdrive.aio.AsyncQueuePool = (
                warpdrive.aio.open_queue("compress")
                if mode == "warpdrive_1q"
                else warpdrive.aio.open_pool("compress", background=mode == "warpdrive")
            )
            async with opened as q:
                # One call per queue of a pool, to check the output and start every queue.
                n = len(q) if isinstance(q, warpdrive.aio.AsyncQueuePool) else 1
                first = await asyncio.gather(*(q.compress(ps[0], "zlib", level) for _ in range(n)))
                if any(zlib.decompress(f) != ps[0] for f in first):
                    raise SystemExit("warpdrive.aio compress output does not decode with zlib")
                if probe:
                    gc.collect()  # the previous run's garbage is not this run's stall
                    probe.reset()
                r = await run_tasks(ntasks, ps, secs, lambda p: q.compress(p, "zlib", level))
                if probe:
                    probe.active = (
                        False  # closing the queue (stopping its device) is not a stall of use
                    )
                return r
        await loop.run_in_executor(None, zlib.compress, ps[0], level)
        if probe:
            gc.collect()
            probe.reset()
        r = await run_tasks(
            ntasks, ps, secs, lambda p: loop.run_in_executor(None, zlib.compress, p, level)
        )
        if probe:
            probe.active = False
        return r
    finally:
        stop.set()
        if hb:
            await hb


def bench_asyncio(
    data: bytes, tasks: list[int], levels: list[int], secs: float, reps: int, size: int
) -> dict[str, Any]:
    ps = pieces(data, size)
    out: dict[str, Any] = {}
    for level in levels:
        for n in tasks:
            w, w1, e = [], [], []
            for _ in range(reps):
                w.append(asyncio.run(one_async_run("warpdrive", n, ps, level, secs, None)))
                w1.append(asyncio.run(one_async_run("warpdrive_1q", n, ps, level, secs, None)))
                e.append(asyncio.run(one_async_run("executor", n, ps, level, secs, None)))
            stall: dict[str, float] = {}
            gap: dict[str, float] = {}
            cpu: dict[str, float] = {}
            oncpu: dict[str, float] = {}
            cpu_gc: dict[str, float] = {}
            cpu_excl_gc: dict[str, float] = {}
            over: dict[str, list[int]] = {}
            what: dict[str, str] = {}
            for mode in ("warpdrive", "warpdrive_normal", "executor"):
                with Probe() as pr:
                    asyncio.run(one_async_run(mode, n, ps, level, secs, pr))
                stall[mode] = pr.max_cb * 1e3
                oncpu[mode] = pr.max_cb_oncpu * 1e3
                cpu[mode] = pr.max_cb_cpu * 1e3
                cpu_gc[mode] = pr.max_cb_cpu_gc * 1e3
                cpu_excl_gc[mode] = pr.max_cb_cpu_excl_gc * 1e3
                over[mode] = [pr.over_1ms, pr.callbacks]
                what[mode] = pr.max_cb_cpu_what
                if mode == "warpdrive_normal":
                    continue
                with Probe() as pr:
                    asyncio.run(one_async_run(mode, n, ps, level, secs, pr, heartbeat=True))
                gap[mode] = pr.max_gap * 1e3
            hiccup_ms, hiccup_cpu_ms, _, _ = host_hiccup(secs)
            key = str(n) if level == -1 else f"{n}_l{level}"
            out[key] = {
                "tasks": n,
                "level": level,
                "queues": warpdrive.aio.default_pool_size(),
                "warpdrive_mb_s": statistics.median(w),
                "warpdrive_1q_mb_s": statistics.median(w1),
                "executor_mb_s": statistics.median(e),
                "vs_executor": statistics.median(w) / statistics.median(e),
                "vs_executor_1q": statistics.median(w1) / statistics.median(e),
                "warpdrive_runs": w,
                "warpdrive_1q_runs": w1,
                "executor_runs": e,
                "warpdrive_stall_ms": stall["warpdrive"],
                "executor_stall_ms": stall["executor"],
                "warpdrive_gap_ms": gap["warpdrive"],
                "executor_gap_ms": gap["executor"],
                "warpdrive_stall_oncpu_ms": oncpu["warpdrive"],
                "executor_stall_oncpu_ms": oncpu["executor"],
                "warpdrive_stall_cpu_ms": cpu["warpdrive"],
                "executor_stall_cpu_ms": cpu["executor"],
                "warpdrive_stall_cpu_gc_ms": cpu_gc["warpdrive"],
                "executor_stall_cpu_gc_ms": cpu_gc["executor"],
                "warpdrive_stall_cpu_excl_gc_ms": cpu_excl_gc["warpdrive"],
                "executor_stall_cpu_excl_gc_ms": cpu_excl_gc["executor"],
                "warpdrive_callbacks_over_1ms": over["warpdrive"],
                "warpdrive_normal_stall_ms": stall["warpdrive_normal"],
                "warpdrive_normal_stall_oncpu_ms": oncpu["warpdrive_normal"],
                "warpdrive_normal_callbacks_over_1ms": over["warpdrive_normal"],
                "host_hiccup_ms": hiccup_ms,
                "host_hiccup_cpu_ms": hiccup_cpu_ms,
                "executor_callbacks_over_1ms": over["executor"],
                "warpdrive_longest_cpu_callback": what["warpdrive"],
                "executor_longest_cpu_callback": what["executor"],
            }
            x = out[key]
            log(
                f"  asyncio L{level} {n} tasks: warpdrive pool {x['warpdrive_mb_s']:.0f} MB/s, one queue "
                f"{x['warpdrive_1q_mb_s']:.0f} MB/s, executor {x['executor_mb_s']:.0f} MB/s, stall "
                f"{x['warpdrive_stall_ms']:.2f} ms (on CPU {x['warpdrive_stall_oncpu_ms']:.2f}; "
                f"longest CPU {x['warpdrive_stall_cpu_ms']:.2f}); devices at normal priority "
                f"{x['warpdrive_normal_stall_ms']:.2f} ms; executor {x['executor_stall_ms']:.2f} ms; "
                f"host hiccup {x['host_hiccup_ms']:.2f} ms"
            )
    return out


# ---------------------------------------------------------------------------- small requests


def small_rates(data: bytes, secs: float, reps: int) -> dict[str, Any]:
    ps = pieces(data[: 4 << 20], KIB)

    def count_sync(fn: Callable[[bytes], bytes]) -> float:
        n = 0
        t = time.perf_counter()
        while time.perf_counter() - t < secs:
            for _ in range(100):
                fn(ps[n % len(ps)])
                n += 1
        return n / (time.perf_counter() - t)

    async def count_async(mode: str, ntasks: int) -> float:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + secs
        n = 0
        if mode in ("wd", "nop"):
            async with warpdrive.aio.open_queue("compress") as q:

                async def w() -> None:
                    nonlocal n
                    while loop.time() < deadline:
                        if mode == "nop":
                            await q.send_nop()
                            await q.recv()
                        else:
                            await q.compress(ps[n % len(ps)], "zlib", -1)
                        n += 1

                t = time.perf_counter()
                await asyncio.gather(*(w() for _ in range(ntasks)))
                return n / (time.perf_counter() - t)

        async def e() -> None:
            nonlocal n
            while loop.time() < deadline:
                await loop.run_in_executor(None, zlib.compress, ps[n % len(ps)], -1)
                n += 1

        t = time.perf_counter()
        await asyncio.gather(*(e() for _ in range(ntasks)))
        return n / (time.perf_counter() - t)

    runs: dict[str, list[float]] = {}
    names = {
        "warpdrive.compress(1 KiB), sync": lambda: count_sync(
            lambda p: warpdrive.compress(p, "zlib", -1)
        ),
        "zlib.compress(1 KiB), sync": lambda: count_sync(lambda p: zlib.compress(p, -1)),
        "warpdrive.aio compress(1 KiB), 256 tasks": lambda: asyncio.run(count_async("wd", 256)),
        "run_in_executor(zlib.compress, 1 KiB), 256 tasks": lambda: asyncio.run(
            count_async("ex", 256)
        ),
        "warpdrive.aio send_nop + recv, 256 tasks": lambda: asyncio.run(count_async("nop", 256)),
    }
    for _ in range(reps):
        for k, fn in names.items():
            runs.setdefault(k, []).append(fn())
    rates = {k: statistics.median(v) for k, v in runs.items()}
    for k, v in rates.items():
        log(f"  small: {k}: {v:,.0f}/s")
    return {
        "description": (
            f"1 KiB pieces of the corpus, default level, zlib format, {secs} s per run, "
            f"median of {reps}."
        ),
        "rates": rates,
        "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    secs, reps = (0.4, 3) if a.quick else (1.5, 5)
    with open(a.corpus, "rb") as f:
        data = f.read(32 << 20)
    tasks = [1, 16, 256]
    size = 64 * KIB
    log("== python: sync compress")
    sync = bench_sync(data, secs, reps)
    log("== python: asyncio")
    aio = bench_asyncio(data, tasks, [-1, 1], secs, reps, size)
    log("== python: small requests")
    small = small_rates(data, secs, reps)
    stall = max(v["warpdrive_stall_ms"] for v in aio.values())
    stall_cpu = max(v["warpdrive_stall_cpu_ms"] for v in aio.values())
    stall_cpu_excl_gc = max(v["warpdrive_stall_cpu_excl_gc_ms"] for v in aio.values())
    stall_normal = max(v["warpdrive_normal_stall_ms"] for v in aio.values())
    hiccup = max(v["host_hiccup_ms"] for v in aio.values())
    print(
        json.dumps(
            {
                "warpdrive_version": warpdrive.__version__,
                "description": (
                    f"One-shot calls on pieces of the corpus in zlib format: `warpdrive.compress(piece, "
                    f'"zlib", level)` against `zlib.compress(piece, level)` in the same process, '
                    f"{secs} s per run, median of {reps}, in turn. zlib is Python's (zlib {zlib.ZLIB_RUNTIME_VERSION})."
                ),
                "asyncio_description": (
                    f"N tasks compress {size // KIB} KiB pieces (zlib format) for {secs} s: "
                    f'`await pool.compress(piece, "zlib", level)` on one `warpdrive.aio.open_pool("compress")` '
                    f"shared by all tasks ({warpdrive.aio.default_pool_size()} queues here: one per CPU the "
                    f"process may use, each served by its own device thread, at idle priority as "
                    f"warpdrive.aio opens them by default; each call goes to the queue with "
                    f"the fewest calls in progress), against `await loop.run_in_executor(None, zlib.compress, "
                    f"piece, level)` (default executor: min(32, cores + 4) threads), the fair match since both "
                    f"use every core; *one queue*: the same calls on a single `warpdrive.aio.open_queue` (one "
                    f"device thread). Median of {reps} runs, in turn. Default level (6) first, then "
                    f"level 1. *Longest stall* (of the pool): the longest single callback the event loop ran (every "
                    f"`asyncio.Handle._run` timed, wall clock; *on CPU*: the thread CPU time of that callback, the "
                    f"rest of it the loop thread waited for a core; *longest CPU*: the longest callback in thread "
                    f"CPU time; results.json also has the cyclic garbage collector's share of it, from "
                    f"`gc.callbacks`), in a separate run of each with nothing else "
                    f"on the loop, with the count of "
                    f"callbacks over 1 ms / all callbacks (from the first request to the last answer; opening and "
                    f"closing the queues, and the callback that checks the first output and starts the N tasks, "
                    f"are left out; `gc.collect()` runs before, so one run's garbage is not collected in the "
                    f"next); *normal priority*: the same stall run with the pool opened with "
                    f"`background=False` (device threads at the same priority as the loop's: a loop thread "
                    f"that wakes up while they keep both cores busy waits for the end of a time slice); "
                    f"*host hiccup*: the longest a ~2 us step of plain Python took in {secs} s of repeating it "
                    f"alone (wall clock; taken right after), what the host does to any thread and the floor "
                    f"under every stall figure; *longest loop gap*: the longest "
                    f"time between two turns of a task that only yields (`await asyncio.sleep(0)`), which also "
                    f"counts the loop's turns spent on N other tasks' steps, in a third run (that task keeps the "
                    f"loop thread always runnable, so it competes for a core all the time: stalls are not "
                    f"measured in that run)."
                ),
                "tasks": tasks,
                "sync": sync,
                "asyncio": aio,
                "loop_stall_ms_max": stall,
                "loop_stall_cpu_ms_max": stall_cpu,
                "loop_stall_cpu_excl_gc_ms_max": stall_cpu_excl_gc,
                "loop_stall_normal_priority_ms_max": stall_normal,
                "host_hiccup_ms_max": hiccup,
                "small": small,
            }
        )
    )


if __name__ == "__main__":
    main()
