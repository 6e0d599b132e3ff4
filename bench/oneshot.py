"""One-shot calls from Python: warpdrive against python-isal and zlib-ng. Prints figures and,
with --json, writes them; not a test.

    python bench/oneshot.py --corpus FILE [--quick] [--json OUT]

For each size (4 KiB, 64 KiB, 1 MiB) the corpus is cut into pieces of that size; each
contender compresses (zlib format, levels 1 and 6) and decompresses the same pieces, in
turn, several rounds; the figure is the median over rounds of MB/s of uncompressed data.
Decompression reads each contender's own output, so every library decodes what it wrote
(the sizes are printed beside). python-isal has no level 6 (its levels are 0-3): at
level 6 the peers are zlib-ng and the stdlib. Ratios: warpdrive against the faster of
python-isal and zlib-ng, and against the faster of those whose output is no more than 2%
larger than warpdrive's.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import warpdrive

KiB = 1 << 10
MiB = 1 << 20

Codec = tuple[Callable[[bytes, int], bytes], Callable[[bytes], bytes]]

#: A peer writes "the same output size" as warpdrive when its output is at most this much
#: larger (smaller is always a match): the main job's size budget against pigz.
SAME_SIZE = 1.02


def contenders() -> dict[str, Codec]:
    c: dict[str, Codec] = {
        "warpdrive": (
            lambda d, lv: warpdrive.compress(d, "zlib", lv),
            lambda d: warpdrive.decompress(d, "zlib"),
        ),
        "zlib (stdlib)": (zlib.compress, zlib.decompress),
    }
    for name, module in (("python-isal", "isal.isal_zlib"), ("zlib-ng", "zlib_ng.zlib_ng")):
        try:
            m = importlib.import_module(module)
        except ImportError:
            continue
        c[name] = (m.compress, m.decompress)
    return c


def pieces(corpus: bytes, size: int, total: int) -> list[bytes]:
    """Pieces of `size` spread over the corpus, `total` bytes in all."""
    n = max(1, total // size)
    step = max(size, (len(corpus) - size) // n)
    return [corpus[i * step : i * step + size] for i in range(n) if i * step + size <= len(corpus)]


def peer_ratios(row: dict[str, Any], peers: list[str]) -> dict[str, Any]:
    """warpdrive against the faster peer whatever it writes (``vs_best_peer``), and against
    the faster of those that write as little as warpdrive (``vs_same_size_peer``; a larger
    output can be quicker to make and to decode: zlib-ng's level 1 writes fixed-Huffman
    blocks). A key is missing when no peer qualifies."""
    ours = row["warpdrive"]
    same = [n for n in peers if row[n]["bytes"] <= ours["bytes"] * SAME_SIZE]
    out: dict[str, Any] = {}
    for key, among in (("vs_best_peer", peers), ("vs_same_size_peer", same)):
        if among:
            out[key] = {
                op: ours[f"{op}_mb_s"] / max(row[n][f"{op}_mb_s"] for n in among)
                for op in ("compress", "decompress")
            }
    return out


def run(corpus: bytes, quick: bool) -> dict[str, Any]:
    cs = contenders()
    rounds = 5 if quick else 9
    total = (4 if quick else 16) * MiB
    out: dict[str, Any] = {"rounds": rounds, "bytes_per_round": total, "results": {}}
    for size in (4 * KiB, 64 * KiB, MiB):
        ps = pieces(corpus, size, total)
        nbytes = sum(map(len, ps))
        for level in (1, 6):
            # python-isal's levels stop at 3: it is not a peer at level 6.
            names = [n for n in cs if not (n == "python-isal" and level > 3)]
            packed = {n: [cs[n][0](p, level) for p in ps] for n in names}
            for n in names:
                if any(cs[n][1](z) != p for z, p in zip(packed[n], ps, strict=True)):
                    raise SystemExit(f"{n} did not round-trip at {size} bytes, level {level}")
            comp: dict[str, list[float]] = {n: [] for n in names}
            dec: dict[str, list[float]] = {n: [] for n in names}
            for _ in range(rounds):
                for n in names:
                    f, g = cs[n]
                    t = time.perf_counter()
                    for p in ps:
                        f(p, level)
                    comp[n].append(nbytes / (time.perf_counter() - t) / 1e6)
                    t = time.perf_counter()
                    for z in packed[n]:
                        g(z)
                    dec[n].append(nbytes / (time.perf_counter() - t) / 1e6)
            row: dict[str, Any] = {}
            for n in names:
                row[n] = {
                    "compress_mb_s": statistics.median(comp[n]),
                    "decompress_mb_s": statistics.median(dec[n]),
                    "bytes": sum(map(len, packed[n])),
                }
            row.update(peer_ratios(row, [n for n in names if n in ("python-isal", "zlib-ng")]))
            out["results"][f"{size}/L{level}"] = row
            show = "  ".join(
                f"{n} {row[n]['compress_mb_s']:7.1f}/{row[n]['decompress_mb_s']:7.1f}"
                for n in names
            )
            print(f"{size // KiB:5d} KiB L{level}: (compress/decompress MB/s) {show}", flush=True)
    for key in ("vs_best_peer", "vs_same_size_peer"):
        mins = [min(r[key].values()) for r in out["results"].values() if key in r]
        if mins:
            out[f"{key}_min"] = min(mins)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    corpus = a.corpus.read_bytes()[: 64 * MiB]
    warpdrive.compress(b"warm up", "zlib", 1)
    res = run(corpus, a.quick)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
