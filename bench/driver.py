"""Runs the WarpDrive benchmark suite (started by bench/run, which installs and builds).

Every comparison is measured side by side in one run: the contenders of one table take
turns, repetition after repetition, and each figure is the median of its repetitions.
Results go to bench/out/results.json; bench/report.py turns them into a table on stdout and
docs/benchmarks.md with plots.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PY = sys.executable


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def run_json(argv: list[Any], **kw: Any) -> Any:
    argv = [str(x) for x in argv]
    log("  $", " ".join(argv))
    p = subprocess.run(argv, stdout=subprocess.PIPE, check=True, **kw)
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def first_line(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    return ((p.stdout or p.stderr).strip().splitlines() or ["?"])[0]


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "os": first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "memory_bytes": mem,
        "virtualised": first_line(["sh", "-c", "systemd-detect-virt 2>/dev/null || echo unknown"]),
        "tools": {
            "gzip": first_line(["gzip", "--version"]),
            "pigz": first_line(["pigz", "--version"]),
            "igzip": first_line(["igzip", "--version"]),
            "rustc": first_line(["rustc", "--version"]),
            "python": sys.version.split()[0],
            "strace": first_line(["strace", "--version"]),
        },
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class OtherLoad:
    """How much CPU the rest of the machine used while a part ran: busy time of all cores
    (/proc/stat) less this run's own CPU time (this process and its finished children), as
    an average number of cores, plus the hypervisor's steal time."""

    def __init__(self) -> None:
        self.hz = os.sysconf("SC_CLK_TCK")
        self.t0, self.busy0, self.steal0, self.own0 = self._sample()

    def _sample(self) -> tuple[float, float, float, float]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = (v[0] + v[1] + v[2] + v[5] + v[6]) / self.hz
        steal = (v[7] if len(v) > 7 else 0) / self.hz
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return time.monotonic(), busy, steal, own

    def result(self) -> dict[str, float]:
        t1, busy1, steal1, own1 = self._sample()
        wall = max(t1 - self.t0, 1e-9)
        return {
            "wall_secs": round(wall, 1),
            "own_cores": round((own1 - self.own0) / wall, 2),
            "other_cores": round(max(busy1 - self.busy0 - (own1 - self.own0), 0.0) / wall, 2),
            "steal_cores": round((steal1 - self.steal0) / wall, 2),
        }


# A fixed amount of single-threaded work (sha256 over 64 KiB blocks for 0.5 s) in one
# process: prints MB/s.
HASH_WORK = (
    "import hashlib, time\n"
    "b = bytes(range(256)) * 256; n = 0; end = time.perf_counter() + 0.5\n"
    "while time.perf_counter() < end:\n"
    "    hashlib.sha256(b).digest(); n += 1\n"
    "print(n * len(b) / 0.5 / 1e6)\n"
)


def host_capacity() -> dict[str, float]:
    """What the host gives this guest right now: the speed of one core (sha256 MB/s in one
    process) and how many cores' worth of that two processes get at once. A hypervisor
    that shares the physical cores shows here even when the guest's steal time is 0."""

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen([PY, "-c", HASH_WORK], stdout=subprocess.PIPE, text=True)

    def rate(p: subprocess.Popen[str]) -> float:
        out, _ = p.communicate()
        return float(out)

    # One alone before and after the pair: the host's speed drifts within seconds.
    first = rate(start())
    pair = [start(), start()]
    both = sum(rate(p) for p in pair)
    one = (first + rate(start())) / 2
    return {"core_mb_s": round(one, 1), "cores": round(both / one, 2)}


# ------------------------------------------------------------------------ part 1: ring


def strace_calls(argv: list[Any]) -> int:
    """System calls of a whole process tree, counted by strace -c -f."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as t:
        subprocess.run(
            ["strace", "-f", "-c", "-o", t.name, *[str(x) for x in argv]],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        for line in t.read().splitlines():
            f = line.split()
            if f and f[-1] == "total":
                return int(f[3])
    raise RuntimeError(f"no strace total for {argv}")


def part_ring(a: argparse.Namespace) -> dict[str, Any]:
    secs, reps = (0.2, 3) if a.quick else (0.3, 9)
    log("== ring: NOP round trips (soft ring vs pipe vs rtrb)")
    res = run_json([a.bin / "wd-bench", "ring", "--secs", secs, "--reps", reps])
    # System calls per request: the difference of two runs of N1 and N2 requests cancels
    # set-up and tear-down. The pipe makes several per request, so fewer suffice there.
    big = (20_000, 220_000) if a.quick else (100_000, 1_100_000)
    small = (2_000, 12_000)
    log("== ring: system calls per request (strace -c -f, two sizes, difference)")
    counts: dict[str, dict[str, Any]] = {}
    for mode in ("soft", "pipe", "rtrb"):
        counts[mode] = {}
        n1, n2 = small if mode == "pipe" else big
        for b in res["batches"]:

            def cmd(n: Any, b: Any = b, m: str = mode) -> list[Any]:
                if m == "soft":
                    return [a.bin / "examples" / "ring_nop", "--requests", n, "--batch", b]
                return [
                    a.bin / "wd-bench",
                    "ring-count",
                    "--mode",
                    m,
                    "--requests",
                    n,
                    "--batch",
                    b,
                ]

            c1, c2 = strace_calls(cmd(n1)), strace_calls(cmd(n2))
            counts[mode][str(b)] = {
                "n1": n1,
                "n2": n2,
                "calls1": c1,
                "calls2": c2,
                "per_request": (c2 - c1) / (n2 - n1),
            }
    res["syscalls_strace"] = counts
    return res


# ------------------------------------------------------------------------ part 2: main job

PY_GZIP_C = (
    "import gzip, shutil, sys\n"
    "f = gzip.GzipFile(fileobj=sys.stdout.buffer, mode='wb', compresslevel=int(sys.argv[1]),"
    " mtime=0)\n"
    "shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)\n"
    "f.close()\n"
)
PY_GZIP_D = (
    "import gzip, shutil, sys\n"
    "shutil.copyfileobj(gzip.GzipFile(fileobj=sys.stdin.buffer, mode='rb'), sys.stdout.buffer,"
    " 1 << 20)\n"
)


# The threaded writers Python users pick for fast gzip (python-isal, zlib-ng), and the
# Python API of warpdrive doing the same job: stdin -> stdout, level and threads as given.
PY_ISAL_T = (
    "import shutil, sys\n"
    "from isal import igzip_threaded\n"
    "f = igzip_threaded.open(sys.stdout.buffer, 'wb', compresslevel=int(sys.argv[1]),"
    " threads=2)\n"
    "shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)\n"
    "f.close()\n"
)
PY_ZLIBNG_T = (
    "import shutil, sys\n"
    "from zlib_ng import gzip_ng_threaded\n"
    "f = gzip_ng_threaded.open(sys.stdout.buffer, 'wb', compresslevel=int(sys.argv[1]),"
    " threads=2)\n"
    "shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)\n"
    "f.close()\n"
)
PY_WD_C = (
    "import sys, warpdrive\n"
    "warpdrive.compress_stream(sys.stdin.buffer, sys.stdout.buffer, 'gzip', int(sys.argv[1]))\n"
)
PY_WD_D = (
    "import sys, warpdrive\n"
    "warpdrive.decompress_stream(sys.stdin.buffer, sys.stdout.buffer, 'gzip')\n"
)
# A Python file object writing the stream, as the threaded writers above do.
PY_WD_OPEN_W = (
    "import shutil, sys, warpdrive\n"
    "with warpdrive.open(sys.stdout.buffer, 'wb', compresslevel=int(sys.argv[1])) as f:\n"
    "    shutil.copyfileobj(sys.stdin.buffer, f, 1 << 20)\n"
)
# A Python file object over the file (stdin, redirected from it): read to the end.
PY_WD_OPEN = (
    "import shutil, sys, warpdrive\n"
    "with warpdrive.open(sys.stdin.buffer) as f:\n"
    "    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)\n"
)


def peer_available(module: str) -> bool:
    return subprocess.run([PY, "-c", f"import {module}"], capture_output=True).returncode == 0


def build_corpus(a: argparse.Namespace, mib: int) -> tuple[Path, dict[str, Any]]:
    path = OUT / f"corpus-{mib}M.bin"
    log(f"== corpus: {mib} MiB of mixed system content -> {path}")
    desc = run_json([a.bin / "wd-bench", "corpus", "--mib", mib, "--out", path])
    return path, desc


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def sha256_of_gunzip(path: Path) -> str:
    """sha256 of what `gzip -dc` makes of `path` (raises if gzip fails)."""
    h = hashlib.sha256()
    p = subprocess.Popen(["gzip", "-dc", str(path)], stdout=subprocess.PIPE)
    assert p.stdout is not None
    while b := p.stdout.read(1 << 20):
        h.update(b)
    if p.wait() != 0:
        raise RuntimeError(f"gzip -dc {path} failed")
    return h.hexdigest()


def timed(argv: list[str], stdin: Path | None, stdout: Path) -> float:
    with open(stdin or os.devnull, "rb") as i, open(stdout, "wb") as o:
        t = time.perf_counter()
        subprocess.run(argv, stdin=i, stdout=o, check=True)
        return time.perf_counter() - t


def gzip_extra_len(path: Path) -> int:
    """Bytes of the gzip extra field (XLEN and its data) in the header of the file's first
    member; 0 without one. warpdrive's piece index lives there."""
    with open(path, "rb") as f:
        h = f.read(12)
    if len(h) < 12 or h[:2] != b"\x1f\x8b" or not h[3] & 4:
        return 0
    return 2 + int.from_bytes(h[10:12], "little")


def contender(tool: str, level: str | None, *argv: str | Path) -> dict[str, Any]:
    """One contender: its name, its level label (compression only) and its command, with
    {IN}/{OUT} placeholders where it takes file names (else it reads stdin, writes stdout)."""
    t: dict[str, Any] = {"tool": tool, "argv": [str(x) for x in argv]}
    if level is not None:
        t["level"] = level
    return t


def main_tools(a: argparse.Namespace) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The contenders for compression and decompression, in the order they run."""
    wd = a.bin / "wd-bench"
    l1, l6 = "1", "6 (default)"
    cli = Path(PY).parent / "warpdrive"
    has_cli = cli.exists()
    comp = [
        contender("warpdrive", l1, wd, "gz", "-l", "1", "-q", "2", "{IN}", "{OUT}"),
        contender("warpdrive", l6, wd, "gz", "-l", "6", "-q", "2", "{IN}", "{OUT}"),
    ]
    if has_cli:
        comp += [
            contender("warpdrive CLI", l1, cli, "compress", "-q", "-c", "-l", "1"),
            contender("warpdrive CLI", l6, cli, "compress", "-q", "-c"),
        ]
    comp += [
        contender("gzip", l1, "gzip", "-c", "-1"),
        contender("gzip", l6, "gzip", "-c", "-6"),
        contender("pigz -p 2", l1, "pigz", "-p", "2", "-c", "-1"),
        contender("pigz -p 2", l6, "pigz", "-p", "2", "-c", "-6"),
        contender("igzip -T 2", "1 (default)", "igzip", "-T", "2", "-c", "-1"),
        contender("igzip -T 2", "3 (its best)", "igzip", "-T", "2", "-c", "-3"),
        contender("igzip", "1 (default)", "igzip", "-c", "-1"),
        contender("python gzip", "1", PY, "-c", PY_GZIP_C, "1"),
        contender("python gzip", "9 (default)", PY, "-c", PY_GZIP_C, "9"),
    ]
    dec = [contender("warpdrive", None, wd, "gunzip", "{IN}", "{OUT}")]
    if has_cli:
        dec.append(contender("warpdrive CLI", None, cli, "decompress", "-c"))
    dec += [
        contender("gzip", None, "gzip", "-dc"),
        contender("pigz -p 2", None, "pigz", "-p", "2", "-dc"),
        contender("igzip", None, "igzip", "-dc"),
        contender("python gzip", None, PY, "-c", PY_GZIP_D),
    ]
    if peer_available("isal"):
        comp.append(contender("python-isal threaded (2)", l1, PY, "-c", PY_ISAL_T, "1"))
        dec.append(contender("python -m isal.igzip", None, PY, "-m", "isal.igzip", "-dc"))
    if peer_available("zlib_ng"):
        comp.append(contender("zlib-ng threaded (2)", l6, PY, "-c", PY_ZLIBNG_T, "6"))
    rapid = Path(PY).parent / "rapidgzip"
    if rapid.exists():
        dec.append(contender("rapidgzip -P 2", None, rapid, "-P", "2", "-dc"))
    if peer_available("warpdrive"):
        comp += [
            contender("warpdrive python", l1, PY, "-c", PY_WD_C, "1"),
            contender("warpdrive python", l6, PY, "-c", PY_WD_C, "6"),
            contender("warpdrive.open (python)", l1, PY, "-c", PY_WD_OPEN_W, "1"),
            contender("warpdrive.open (python)", l6, PY, "-c", PY_WD_OPEN_W, "6"),
        ]
        dec.append(contender("warpdrive python", None, PY, "-c", PY_WD_D))
        dec.append(contender("warpdrive.open (python)", None, PY, "-c", PY_WD_OPEN))
    return comp, dec


def run_tool(t: dict[str, Any], inp: Path, outp: Path) -> float:
    argv = [x.replace("{IN}", str(inp)).replace("{OUT}", str(outp)) for x in t["argv"]]
    if "{IN}" in t["argv"]:
        return (
            timed(argv, None, Path(os.devnull)) if "{OUT}" in t["argv"] else timed(argv, None, outp)
        )
    return timed(argv, inp, outp)


def part_main(a: argparse.Namespace) -> dict[str, Any]:
    mib = 32 if a.quick else 256
    reps = 3 if a.quick else 5
    # A decompression takes well under a second: more repetitions cost little and steady
    # the pair-by-pair ratios (see `paired`).
    dreps = 3 if a.quick else 9
    corpus, desc = build_corpus(a, mib)
    size = corpus.stat().st_size
    want = sha256_file(corpus)
    comp, dec = main_tools(a)
    tmp = Path(
        tempfile.mkdtemp(prefix="wd-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    try:
        log(
            f"== main job: compress {mib} MiB, {len(comp)} contenders x {reps} repetitions (in turn)"
        )
        for t in comp:
            t["secs"], t["out"] = (
                [],
                tmp / (t["tool"] + t["level"]).replace(" ", "_").replace("/", ""),
            )
        for rep in range(reps):
            for t in comp:
                t["secs"].append(run_tool(t, corpus, t["out"]))
            log(f"  compress repetition {rep + 1}/{reps} done, load {loadavg()}")
        for t in comp:
            t["bytes"] = t["out"].stat().st_size
            t["gzip_extra_bytes"] = gzip_extra_len(t["out"])
            t["gzip_t"] = subprocess.run(["gzip", "-t", str(t["out"])]).returncode == 0
            t["decodes_to_input"] = t["gzip_t"] and sha256_of_gunzip(t["out"]) == want
        # Every decompressor reads the same file: gzip -6's output.
        ref = next(t for t in comp if t["tool"] == "gzip" and t["level"].startswith("6"))["out"]
        ours = next(t for t in comp if t["tool"] == "warpdrive" and t["level"].startswith("6"))[
            "out"
        ]
        log(
            f"== main job: decompress gzip -6's output, {len(dec)} contenders x {dreps} repetitions"
        )
        for t in dec:
            t["secs"], t["out"] = [], tmp / ("d-" + t["tool"].replace(" ", "_"))
        for rep in range(dreps):
            for t in dec:
                t["secs"].append(run_tool(t, ref, t["out"]))
                if rep == 0:
                    t["output_matches"] = sha256_file(t["out"]) == want
                t["out"].unlink()
            log(f"  decompress repetition {rep + 1}/{dreps} done, load {loadavg()}")
        # Our decompressor on our own (multi-piece) stream, checked too, in turn with
        # igzip on the same stream.
        own, own_ig = tmp / "d-own", tmp / "d-own-igzip"
        igzip = next(t for t in dec if t["tool"] == "igzip")
        reader = next((t for t in dec if t["tool"] == "warpdrive.open (python)"), None)
        own_rd = tmp / "d-own-open"
        own_secs: list[float] = []
        own_igzip_secs: list[float] = []
        own_open_secs: list[float] = []
        for _ in range(dreps):
            own_secs.append(run_tool(dec[0], ours, own))
            own_igzip_secs.append(run_tool(igzip, ours, own_ig))
            if reader is not None:
                own_open_secs.append(run_tool(reader, ours, own_rd))
        own_ok = sha256_file(own) == want and sha256_file(own_ig) == want
        if reader is not None:
            own_ok = own_ok and sha256_file(own_rd) == want
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def row(t: dict[str, Any]) -> dict[str, Any]:
        med = statistics.median(t["secs"])
        r = {k: v for k, v in t.items() if k not in ("out", "argv")}
        r["command"] = " ".join(x if "\n" not in x else "<script>" for x in t["argv"])
        r["median_secs"] = med
        r["mb_s"] = size / 1e6 / med
        return r

    return {
        "corpus": desc,
        "input_bytes": size,
        "reps": reps,
        "decompress_reps": dreps,
        "compress": [row(t) for t in comp],
        "decompress": [row(t) for t in dec],
        "decompress_own_stream": {
            "secs": own_secs,
            "igzip_secs": own_igzip_secs,
            "median_secs": statistics.median(own_secs),
            "mb_s": size / 1e6 / statistics.median(own_secs),
            "output_matches": own_ok,
            "igzip_median_secs": statistics.median(own_igzip_secs),
            "igzip_mb_s": size / 1e6 / statistics.median(own_igzip_secs),
            **(
                {
                    "open_secs": own_open_secs,
                    "open_mb_s": size / 1e6 / statistics.median(own_open_secs),
                }
                if own_open_secs
                else {}
            ),
        },
    }


# ------------------------------------------------------------------------ part 4: scaling


def part_scaling(a: argparse.Namespace) -> dict[str, Any]:
    corpus, desc = build_corpus(a, 64 if not a.quick else 32)
    log("== scaling: request sizes 4 KiB .. 8 MiB, queue path vs the engine called directly")
    sizes = run_json(
        [
            a.bin / "wd-bench",
            "sizes",
            "--corpus",
            corpus,
            "--mib",
            64 if not a.quick else 32,
            "--reps",
            3 if a.quick else 5,
            "--secs",
            0.15 if a.quick else 0.4,
        ]
    )
    log("== scaling: whole streams on 1 vs 2 queues")
    queues = run_json(
        [
            a.bin / "wd-bench",
            "queues",
            "--corpus",
            corpus,
            "--mib",
            64 if not a.quick else 16,
            "--reps",
            3 if a.quick else 5,
        ]
    )
    log("== scaling: allocating a shared buffer while the device works")
    probes = [
        run_json([a.bin / "wd-bench", "alloc-probe", "--corpus", corpus, "--mib", m])
        for m in (1, 8)
    ]
    return {"corpus": desc, "sizes": sizes, "queues": queues, "alloc_probe": probes}


# ------------------------------------------------------------------------ part 3: python


def part_python(a: argparse.Namespace) -> dict[str, Any]:
    probe = subprocess.run(
        [PY, "-c", "import warpdrive, warpdrive.aio"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        msg = "the warpdrive package is not installed in bench/.venv (not in this tree yet?)"
        log(f"== python: skipped: {msg}")
        return {"skipped": msg, "detail": probe.stderr.strip().splitlines()[-1:]}
    log("== python: warpdrive vs zlib, asyncio vs run_in_executor")
    corpus, _ = build_corpus(a, 32)
    argv = [PY, ROOT / "bench" / "py_bench.py", "--corpus", corpus] + (
        ["--quick"] if a.quick else []
    )
    return run_json(argv)


# ------------------------------------------------------------------------ one-shot calls


def part_oneshot(a: argparse.Namespace) -> dict[str, Any]:
    probe = subprocess.run([PY, "-c", "import warpdrive"], capture_output=True, text=True)
    if probe.returncode != 0:
        msg = "the warpdrive package is not installed in bench/.venv"
        log(f"== oneshot: skipped: {msg}")
        return {"skipped": msg}
    log("== oneshot: warpdrive.compress/decompress vs python-isal and zlib-ng")
    corpus, desc = build_corpus(a, 32)
    out = OUT / "oneshot.json"
    argv = [PY, ROOT / "bench" / "oneshot.py", "--corpus", corpus, "--json", out]
    subprocess.run(
        [str(x) for x in argv + (["--quick"] if a.quick else [])], check=True, stdout=sys.stderr
    )
    res: dict[str, Any] = json.loads(out.read_text())
    res["corpus"] = desc
    return res


# ------------------------------------------------------------------------ ratios


def ratios(res: dict[str, Any]) -> dict[str, Any]:
    r: dict[str, Any] = {}
    if res.get("ring"):
        r.update(_ring_ratios(res["ring"]))
    if res.get("scaling"):
        r.update(_scaling_ratios(res["scaling"]))
    if res.get("main"):
        r.update(_main_ratios(res["main"]))
    one = res.get("oneshot")
    for key in ("vs_best_peer_min", "vs_same_size_peer_min"):
        if one and key in one:
            r[f"oneshot_{key}"] = one[key]
    py = res.get("python")
    if py and "skipped" not in py:
        r.update(_python_ratios(py))
    return r


def _ring_ratios(ring: dict[str, Any]) -> dict[str, Any]:
    m = ring["modes"]
    return {
        "ring_vs_syscall_b32": m["soft"]["32"]["rate_median"] / m["pipe"]["32"]["rate_median"],
        "ring_vs_rtrb_b32": m["soft"]["32"]["rate_median"] / m["rtrb"]["32"]["rate_median"],
    }


def _scaling_ratios(sc: dict[str, Any]) -> dict[str, Any]:
    s = sc["sizes"]["results"]
    return {
        "queue_vs_direct_64k": s["L1"]["65536"]["zip_compress"]["vs_direct"],
        "queue_vs_direct_64k_l6": s["L6"]["65536"]["zip_compress"]["vs_direct"],
        "queue_sync_vs_direct_64k": s["L1"]["65536"]["queue_sync"]["vs_direct"],
        "queue_sync_vs_direct_64k_l6": s["L6"]["65536"]["queue_sync"]["vs_direct"],
        "two_vs_one_queue_l1": sc["queues"]["results"]["L1"]["q2_vs_q1"],
        "two_vs_one_queue_l6": sc["queues"]["results"]["L6"]["q2_vs_q1"],
    }


def paired(a_secs: list[float], b_secs: list[float]) -> tuple[float, float, float]:
    """The speed of A over B, repetition by repetition (each repetition runs the contenders
    in turn, so a pair shares the machine's state of the moment): the median of those ratios,
    and the lowest and highest. A drift of the machine's speed during the run moves the
    medians of A and B apart; it moves a pair's two runs together."""
    rs = [b / a for a, b in zip(a_secs, b_secs, strict=True)]
    return statistics.median(rs), min(rs), max(rs)


def _main_ratios(mj: dict[str, Any]) -> dict[str, Any]:
    """The main job's ratios. Speed ratios are pair by pair (`paired`); each one's lowest
    and highest pair are kept in ``spread`` (for the page). Sizes are one figure each."""
    r: dict[str, Any] = {}
    spread: dict[str, list[float]] = {}

    def speed(key: str, a: dict[str, Any], b: dict[str, Any]) -> None:
        r[key], lo, hi = paired(a["secs"], b["secs"])
        spread[key] = [lo, hi]

    c = {(t["tool"], t["level"].split()[0]): t for t in mj["compress"]}
    ours1, ours6 = c[("warpdrive", "1")], c[("warpdrive", "6")]
    speed("main_vs_pigz_l1", ours1, c[("pigz -p 2", "1")])
    speed("main_vs_pigz_default", ours6, c[("pigz -p 2", "6")])
    speed("main_vs_igzip_l1", ours1, c[("igzip -T 2", "1")])
    r["main_size_vs_pigz_l1"] = ours1["bytes"] / c[("pigz -p 2", "1")]["bytes"]
    r["main_size_vs_pigz_default"] = ours6["bytes"] / c[("pigz -p 2", "6")]["bytes"]
    d = {t["tool"]: t for t in mj["decompress"]}
    speed("main_decompress_vs_igzip", d["warpdrive"], d["igzip"])
    speed("main_decompress_vs_pigz", d["warpdrive"], d["pigz -p 2"])
    r["decompress_vs_igzip"] = r["main_decompress_vs_igzip"]
    spread["decompress_vs_igzip"] = spread["main_decompress_vs_igzip"]
    # The command line against the library on the same file: the Python library in a Python
    # process as the CLI is (interpreter start-up on both sides), and the Rust library in a
    # native one.
    for lib, name in (("library", "warpdrive python"), ("rust", "warpdrive")):
        for lv, key in (("1", "l1"), ("6", "default")):
            if ("warpdrive CLI", lv) in c and (name, lv) in c:
                speed(f"cli_vs_{lib}_{key}", c[("warpdrive CLI", lv)], c[(name, lv)])
        if "warpdrive CLI" in d and name in d:
            speed(f"cli_vs_{lib}_decompress", d["warpdrive CLI"], d[name])
    own = mj["decompress_own_stream"]
    if "igzip_secs" in own:
        speed("own_decompress_vs_igzip", {"secs": own["secs"]}, {"secs": own["igzip_secs"]})
    # The Python users' peers: threaded writers at 2 threads, and the same job through
    # warpdrive's Python API; output sizes beside each.
    for key, peer, lv in (
        ("isal_threaded_l1", "python-isal threaded (2)", "1"),
        ("zlibng_threaded_default", "zlib-ng threaded (2)", "6"),
    ):
        if (peer, lv) not in c:
            continue
        other = c[(peer, lv)]
        speed(f"main_vs_{key}", c[("warpdrive", lv)], other)
        r[f"main_size_vs_{key}"] = c[("warpdrive", lv)]["bytes"] / other["bytes"]
        if ("warpdrive python", lv) in c:
            api = c[("warpdrive python", lv)]
            speed(f"python_api_vs_{key}", api, other)
            r[f"python_api_size_vs_{key}"] = api["bytes"] / other["bytes"]
        if ("warpdrive.open (python)", lv) in c:
            w = c[("warpdrive.open (python)", lv)]
            speed(f"python_open_vs_{key}", w, other)
            r[f"python_open_size_vs_{key}"] = w["bytes"] / other["bytes"]
        if ("warpdrive CLI", lv) in c:
            speed(f"cli_vs_{key}", c[("warpdrive CLI", lv)], other)
    r["spread"] = spread
    return r


def _python_ratios(py: dict[str, Any]) -> dict[str, Any]:
    r: dict[str, Any] = {
        "asyncio_vs_executor_16": py["asyncio"]["16"]["vs_executor"],
        "asyncio_vs_executor_256": py["asyncio"]["256"]["vs_executor"],
        "asyncio_vs_executor_16_l1": py["asyncio"]["16_l1"]["vs_executor"],
        "loop_stall_ms_max": py["loop_stall_ms_max"],
        "loop_stall_cpu_ms_max": py["loop_stall_cpu_ms_max"],
    }
    if "loop_stall_cpu_excl_gc_ms_max" in py:
        r["loop_stall_cpu_excl_gc_ms_max"] = py["loop_stall_cpu_excl_gc_ms_max"]
    if "loop_stall_normal_priority_ms_max" in py:
        r["loop_stall_normal_priority_ms_max"] = py["loop_stall_normal_priority_ms_max"]
        r["host_hiccup_ms_max"] = py["host_hiccup_ms_max"]
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", type=Path, required=True, help="cargo's release folder")
    ap.add_argument("--quick", action="store_true", help="reduced sizes and repetitions")
    ap.add_argument("--parts", default="ring,main,scaling,python,oneshot")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = a.parts.split(",")
    res: dict[str, Any] = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": a.quick,
        "command": "bench/run"
        + (" --quick" if a.quick else "")
        + (f" --parts {a.parts}" if a.parts != ap.get_default("parts") else ""),
        "git_commit": first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "machine": machine(),
        "load_before": loadavg(),
    }
    t0 = time.monotonic()
    steps = {
        "ring": part_ring,
        "main": part_main,
        "scaling": part_scaling,
        "python": part_python,
        "oneshot": part_oneshot,
    }
    for p in parts:
        if p not in steps:
            sys.exit(f"unknown part {p}: use {','.join(steps)}")
    for p, step in steps.items():
        if p in parts:
            t = time.monotonic()
            before = host_capacity()
            other = OtherLoad()
            res[p] = step(a)
            res.setdefault("other_load", {})[p] = other.result()
            res.setdefault("host_capacity", {})[p] = [before, host_capacity()]
            res.setdefault("part_secs", {})[p] = round(time.monotonic() - t, 1)
            res.setdefault("load_after_part", {})[p] = loadavg()
    res["total_secs"] = round(time.monotonic() - t0, 1)
    res["load_after"] = loadavg()
    res["ratios"] = ratios(res)
    res["ratio_spread"] = res["ratios"].pop("spread", {})
    path = OUT / "results.json"
    path.write_text(json.dumps(res, indent=1, sort_keys=False) + "\n")
    log(f"wrote {path}")
    subprocess.run([PY, ROOT / "bench" / "report.py", path], check=True)


if __name__ == "__main__":
    main()
