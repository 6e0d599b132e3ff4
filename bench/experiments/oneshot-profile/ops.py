"""One kind of one-shot call, repeated: run under callgrind to count instructions per call.

    python ops.py WHO OP SIZE ROUNDS [STREAM]

WHO and STREAM: wd (warpdrive), isal (python-isal), ng (zlib-ng); OP: c (compress, zlib
format, level 1) or d (decompress STREAM's level-1 output). SIZE: bytes per call. Prints
the number of pieces; `run.sh` turns two runs (1 and 3 rounds) into instructions per call.
The corpus is bench/out/corpus-64M.bin (bench/run makes it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from isal import isal_zlib
from zlib_ng import zlib_ng

import warpdrive

CORPUS = Path(__file__).resolve().parents[2] / "out" / "corpus-64M.bin"


def main() -> None:
    who, op, size, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = CORPUS.read_bytes()[: 16 << 20]
    n = min(300, len(data) // (3 * size))
    pieces = [data[i * size * 3 : i * size * 3 + size] for i in range(n)]
    comp: dict[str, Callable[[bytes], bytes]] = {
        "wd": lambda d: warpdrive.compress(d, "zlib", 1),
        "isal": lambda d: isal_zlib.compress(d, 1),
        "ng": lambda d: zlib_ng.compress(d, 1),
    }
    dec: dict[str, Callable[[bytes], bytes]] = {
        "wd": lambda d: warpdrive.decompress(d, "zlib"),
        "isal": isal_zlib.decompress,
        "ng": zlib_ng.decompress,
    }
    if op == "c":
        f, inputs = comp[who], pieces
    else:
        f, inputs = dec[who], [comp[sys.argv[5]](p) for p in pieces]
    for d in inputs[:20]:  # warm-up: the queue pool, the engines' first allocations
        f(d)
    for _ in range(rounds):
        for d in inputs:
            f(d)
    print(len(inputs))


if __name__ == "__main__":
    main()
