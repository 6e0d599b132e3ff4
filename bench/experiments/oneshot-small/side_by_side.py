"""Small one-shot calls, side by side in one process: warpdrive against zlib-ng, python-isal
and the stdlib's zlib, zlib format. Prints figures; not a test.

    python side_by_side.py [--corpus FILE] [--sizes 4096,...] [--rounds N] [--mib M]
                           [--only c|d] [--who wd,ng,...] [--loop SECONDS]

The pieces are cut as bench/oneshot.py cuts them (`--mib` MiB per round, spread over the
corpus). Without `--corpus` a mixed corpus of system files is read here (documentation,
man pages, C headers, ELF programs and libraries, interleaved file by file; the same kinds
as `wd-bench corpus`, not the same bytes).

Each round times every contender over all pieces (CPU time of this thread), the contenders'
order turning from round to round, so that a slow spell of the machine falls on all of them;
the figure is the median over rounds. Compression is level 1. Decompression is timed three
times: each library on its own level-1 output (what bench/oneshot.py measures), and every
library on the same stream (zlib-ng's, then warpdrive's), which separates the call's cost
from the stream's.

`--loop SECONDS` instead runs only warpdrive's 4 KiB call (the first of `--only`) in a loop
for that long, for `perf record` or `strace -c`.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import importlib
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import warpdrive

KiB = 1 << 10
MiB = 1 << 20

Fn = Callable[[bytes], bytes]


def contenders() -> dict[str, tuple[Fn, Fn]]:
    """name -> (compress at level 1, decompress), zlib format."""
    c: dict[str, tuple[Fn, Fn]] = {
        "wd": (
            lambda d: warpdrive.compress(d, "zlib", 1),
            lambda z: warpdrive.decompress(z, "zlib"),
        ),
    }
    for name, module in (("ng", "zlib_ng.zlib_ng"), ("isal", "isal.isal_zlib")):
        try:
            m = importlib.import_module(module)
        except ImportError:
            print(f"({module} is not installed: left out)")
            continue
        c[name] = (functools.partial(compress_at_1, m), m.decompress)
    c["stdlib"] = (lambda d: zlib.compress(d, 1), zlib.decompress)
    return c


def is_elf(p: Path) -> bool:
    with p.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def compress_at_1(module: Any, data: bytes) -> bytes:
    out: bytes = module.compress(data, 1)
    return out


def system_corpus(size: int) -> bytes:
    """`size` bytes of system files, the categories interleaved file by file."""
    roots: list[tuple[list[str], Callable[[Path], bool]]] = [
        (["/usr/share/common-licenses", "/usr/share/doc"], lambda p: p.suffix != ".gz"),
        (["/usr/share/man"], lambda p: "/man/man" in str(p) and p.suffix == ".gz"),
        (["/usr/include"], lambda p: p.suffix == ".h"),
        (["/usr/bin"], is_elf),
        (["/usr/lib/x86_64-linux-gnu"], lambda p: ".so" in p.name),
    ]
    cats: list[list[Path]] = []
    for dirs, keep in roots:
        files = sorted(
            p for d in dirs for p in Path(d).rglob("*") if p.is_file() and not p.is_symlink()
        )
        kept: list[Path] = []
        for p in files:
            try:
                if keep(p):
                    kept.append(p)
            except OSError:
                pass
        cats.append(kept)
    out = bytearray()
    i = 0
    while len(out) < size and any(i < len(c) for c in cats):
        for c in cats:
            if i < len(c):
                try:
                    data = c[i].read_bytes()
                    if c[i].suffix == ".gz":
                        data = gzip.decompress(data)
                except (OSError, EOFError, gzip.BadGzipFile):
                    continue
                out += data[: 1 * MiB]
        i += 1
    return bytes(out[:size])


def pieces(corpus: bytes, size: int, total: int) -> list[bytes]:
    """Pieces of `size` spread over the corpus, `total` bytes in all (as bench/oneshot.py)."""
    n = max(1, total // size)
    step = max(size, (len(corpus) - size) // n)
    return [corpus[i * step : i * step + size] for i in range(n) if i * step + size <= len(corpus)]


def timed(f: Fn, inputs: list[bytes]) -> float:
    """CPU seconds of this thread for `f` over `inputs`: the soft device serves a one-shot
    call on the caller's thread, and CPU time leaves out the spells when another process
    has the core (the figures hold on a busy machine; wall time would not)."""
    t = time.thread_time()
    for x in inputs:
        f(x)
    return time.thread_time() - t


def side_by_side(
    title: str, calls: dict[str, tuple[Fn, list[bytes]]], nbytes: int, rounds: int
) -> None:
    """Times each call over its inputs, interleaved, and prints the medians."""
    secs: dict[str, list[float]] = {n: [] for n in calls}
    names = list(calls)
    for r in range(rounds):
        turn = names[r % len(names) :] + names[: r % len(names)]
        for n in turn:
            f, inputs = calls[n]
            secs[n].append(timed(f, inputs))
    med = {n: statistics.median(s) for n, s in secs.items()}
    ncalls = len(next(iter(calls.values()))[1])
    ref = med.get("ng")
    parts = []
    for n in names:
        mb_s = nbytes / med[n] / 1e6
        us = med[n] / ncalls * 1e6
        ratio = f" x{ref / med[n]:.2f}" if ref is not None else ""
        parts.append(f"{n} {mb_s:6.0f} MB/s {us:6.2f} us{ratio}")
    print(f"{title:<28} " + " | ".join(parts), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--sizes", default="4096")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--mib", type=int, default=2, help="MiB of pieces per round")
    ap.add_argument("--only", default="cd", help="c: compress, d: decompress")
    ap.add_argument("--who", default="", help="contenders, comma-separated (default: all)")
    ap.add_argument("--loop", type=float, default=0.0)
    a = ap.parse_args()
    corpus = a.corpus.read_bytes()[: 64 * MiB] if a.corpus else system_corpus(32 * MiB)
    cs = contenders()
    if a.who:
        cs = {n: cs[n] for n in a.who.split(",")}
    warpdrive.compress(b"warm up", "zlib", 1)
    if a.loop:
        ps = pieces(corpus, 4 * KiB, a.mib * MiB)
        op = a.only[0]
        f = cs["wd"][0] if op == "c" else cs["wd"][1]
        inputs = ps if op == "c" else [cs["wd"][0](p) for p in ps]
        end = time.perf_counter() + a.loop
        n = 0
        while time.perf_counter() < end:
            for x in inputs:
                f(x)
            n += len(inputs)
        print(f"{n} calls")
        return
    print("median over rounds; us per call; xR: zlib-ng's time / this one's (1 = as fast)")
    for size in map(int, a.sizes.split(",")):
        ps = pieces(corpus, size, a.mib * MiB)
        nbytes = sum(map(len, ps))
        own = {n: [c(p) for p in ps] for n, (c, _) in cs.items()}
        for who, (_, d) in cs.items():
            if any(d(z) != p for z, p in zip(own[who], ps, strict=True)):
                raise SystemExit(f"{who} did not round-trip at {size} bytes")
        # The same stream for all: zlib-ng's (fixed-Huffman blocks at 4 KiB) and warpdrive's
        # (ISA-L's level 1: one dynamic block, whose Huffman tables a decoder must build).
        commons: list[str] = [n for n in ("ng", "wd") if n in own] or ["stdlib"]
        if "c" in a.only:
            side_by_side(
                f"{size} B compress L1",
                {n: (c, ps) for n, (c, _) in cs.items()},
                nbytes,
                a.rounds,
            )
        if "d" in a.only:
            side_by_side(
                f"{size} B decompress own",
                {n: (d, own[n]) for n, (_, d) in cs.items()},
                nbytes,
                a.rounds,
            )
            for src in commons:
                side_by_side(
                    f"{size} B decompress {src}'s",
                    {n: (d, own[src]) for n, (_, d) in cs.items()},
                    nbytes,
                    a.rounds,
                )


if __name__ == "__main__":
    main()
