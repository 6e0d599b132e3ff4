"""Reading a .gz through ``warpdrive.open`` vs ``decompress_stream`` on the same file. A
program that prints figures, not a test.

    python bench/experiments/python-package/gzipfile_read.py [--size-mib 128] [--runs 7] [--piece-kib 128]

Writes a text-like file of ``--size-mib`` MiB compressed (gzip, level 1) to a temporary
folder, then times, in MB/s of decompressed output: ``decompress_stream`` into a sink;
the reader's decoder alone (1 MiB pieces on one queue, nothing consuming them);
``warpdrive.open(path).read(piece)`` until the end and ``for line in`` the text mode
file, each with the read-ahead off (``gzipfile.READ_AHEAD = 0``: each piece decoded when
the caller asks for it) and on (the default). The runs of every variant alternate, so a
machine whose load changes meanwhile slows them alike; the best and the median run are
printed (the best is the steadier figure on a shared machine).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

import warpdrive
from warpdrive import gzipfile

MiB = 1 << 20


def text_like(n: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    words = [rnd.randbytes(rnd.randrange(2, 9)).hex().encode() for _ in range(2000)]
    line = bytearray()
    while len(line) < 4 * MiB:
        line += b" ".join(rnd.choices(words, k=16)) + b"\n"
    block = bytes(line[: 4 * MiB])
    return (block * (n // len(block) + 1))[:n]


class _Sink:
    def write(self, b: bytes) -> int:
        return len(b)


def rates(fns: dict[str, Callable[[], int]], runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t = time.perf_counter()
            n = fn()
            out[name].append(n / (time.perf_counter() - t) / 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=128)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--piece-kib", type=int, default=128)
    a = ap.parse_args()
    piece = a.piece_kib << 10
    default_ahead = gzipfile.READ_AHEAD
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "data.gz")
        with open(path, "wb") as f:
            warpdrive.compress_stream(io.BytesIO(text_like(a.size_mib * MiB)), f, "gzip", 1)

        def stream() -> int:
            with open(path, "rb") as f:
                return warpdrive.decompress_stream(f, _Sink())[1]

        def decoder() -> int:
            # The reader's own decoding, with no caller to serve.
            n = 0
            with open(path, "rb") as f:
                dec = gzipfile._Decoder(f, "gzip")
                while p := dec.piece(gzipfile.READ_SIZE):
                    n += len(p)
            return n

        def reader(ahead: int) -> Callable[[], int]:
            def run() -> int:
                gzipfile.READ_AHEAD = ahead
                n = 0
                with warpdrive.open(path, "rb") as f:
                    while b := f.read(piece):
                        n += len(b)
                return n

            return run

        def lines(ahead: int) -> Callable[[], int]:
            def run() -> int:
                gzipfile.READ_AHEAD = ahead
                n = 0
                with warpdrive.open(path, "rt", encoding="ascii") as f:
                    for line in f:
                        n += len(line)
                return n

            return run

        fns = {
            "decompress_stream": stream,
            "the reader's decoder alone": decoder,
            f"open().read({a.piece_kib} KiB), no read-ahead": reader(0),
            f"open().read({a.piece_kib} KiB), READ_AHEAD={default_ahead}": reader(default_ahead),
            "for line in open('rt'), no read-ahead": lines(0),
            f"for line in open('rt'), READ_AHEAD={default_ahead}": lines(default_ahead),
        }
        got = rates(fns, a.runs)
        gzipfile.READ_AHEAD = default_ahead
        print(f"{a.size_mib} MiB text-like, gzip level 1, {a.runs} runs each, MB/s of output")
        print(f"  {'':44} {'best':>6} {'median':>7}")
        for name, r in got.items():
            print(f"  {name:44} {max(r):6.0f} {statistics.median(r):7.0f}")


if __name__ == "__main__":
    main()
