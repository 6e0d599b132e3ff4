"""How often the event loop has a callback over 1 ms, against how often the host alone
makes a plain Python step take over 1 ms, in the same script, run after run.

    bench/.venv/bin/python bench/experiments/suite/stall_floor.py [--runs N] [--tasks T] [--level L]

Each run: N tasks compress 64 KiB pieces on a warpdrive.aio pool for 1.5 s with every
callback timed (bench/py_bench.py's Probe), then a ~2 us step of plain Python repeated for
1.5 s with nothing else running. If the counts match, the loop's long callbacks are the
host's (a VM's vCPU taken away is charged to whatever thread was running), not ours.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

# bench/, where py_bench.py and out/ are.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from py_bench import Probe, host_hiccup, one_async_run, pieces

BENCH = Path(__file__).resolve().parents[2]

SECS = 1.5


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--tasks", type=int, default=1)
    ap.add_argument("--level", type=int, default=-1)
    ap.add_argument("--corpus", default=str(BENCH / "out" / "corpus-32M.bin"))
    a = ap.parse_args()
    with open(a.corpus, "rb") as f:
        ps = pieces(f.read(32 << 20), 64 * 1024)
    loop_over = plain_over = loop_over_cpu = plain_over_cpu = 0
    for _ in range(a.runs):
        with Probe() as pr:
            asyncio.run(one_async_run("warpdrive", a.tasks, ps, a.level, SECS, pr))
        longest, longest_cpu, over, over_cpu = host_hiccup(SECS)
        loop_over += pr.over_1ms
        plain_over += over
        loop_over_cpu += pr.over_1ms_cpu
        plain_over_cpu += over_cpu
        print(
            f"loop: {pr.over_1ms} of {pr.callbacks} callbacks over 1 ms ({pr.over_1ms_cpu} "
            f"in CPU time), longest {pr.max_cb * 1e3:.2f} ms ({pr.max_cb_oncpu * 1e3:.2f} on "
            f"CPU; longest in CPU time {pr.max_cb_cpu * 1e3:.2f}) | plain steps: {over} over "
            f"1 ms ({over_cpu} in CPU time), longest {longest:.2f} ms (CPU {longest_cpu:.2f})",
            flush=True,
        )
    print(
        f"{a.runs} runs of {SECS} s each: over 1 ms of wall-clock time: loop callbacks "
        f"{loop_over}, plain steps {plain_over}; over 1 ms of CPU time: loop callbacks "
        f"{loop_over_cpu}, plain steps {plain_over_cpu}"
    )


if __name__ == "__main__":
    main()
