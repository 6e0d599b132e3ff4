"""The locked-memory limit (RLIMIT_MEMLOCK) of an ordinary user: the one-shot and stream
functions fit the default 8 MiB, and a limit too small for any request raises
MemlockLimitError (never a DMA fault). On the soft device nothing is pinned, so every call
works at any limit; in the QEMU guest these run on sdmdev through VFIO as uid 65534, where
the kernel charges pins to the limit. Each case runs in its own interpreter: the limit
belongs to the whole process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import warpdrive

PRELUDE = """
import gzip, io, json, random, resource, sys, warpdrive

def charged():
    # A kernel device charges pins to the limit unless the process has CAP_IPC_LOCK.
    with warpdrive.open_queue("compress") as q:
        vfio = q.device.startswith("vfio")
    caps = next(l for l in open("/proc/self/status") if l.startswith("CapEff:"))
    return vfio and not int(caps.split()[1], 16) & (1 << 14)

def limit(n):
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (n, resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]))

def data(n, seed):
    block = random.Random(seed).randbytes(3000) + bytes(range(65, 91)) * 200
    return (block * (n // len(block) + 1))[:n]
"""


def run(body: str) -> dict[str, object]:
    script = PRELUDE + textwrap.dedent(body)
    p = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert p.returncode == 0, p.stderr
    out: dict[str, object] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def test_memlock_error_is_a_share_error_with_the_numbers() -> None:
    e = warpdrive.MemlockLimitError("limit", 12288, 4096)
    assert isinstance(e, warpdrive.ShareError)
    assert isinstance(e, warpdrive.WarpDriveError)
    assert (e.needed, e.limit) == (12288, 4096)
    assert warpdrive.MemlockLimitError("x").needed is None


def test_one_shot_and_stream_calls_fit_the_default_8_mib() -> None:
    r = run(
        """
        limit(8 << 20)
        five = data(5 << 20, 7)
        ok = gzip.decompress(warpdrive.compress(five)) == five
        ok = ok and warpdrive.decompress(gzip.compress(five, 1)) == five
        big = data(15_000_000, 3)
        out = io.BytesIO()
        warpdrive.compress_stream(io.BytesIO(big), out)
        ok = ok and gzip.decompress(out.getvalue()) == big
        print(json.dumps({"ok": ok, "charged": charged()}))
        """
    )
    assert r["ok"] is True


def test_a_limit_below_the_smallest_request_is_memlock_limit_error() -> None:
    r = run(
        """
        is_charged = charged()
        limit(4096)
        small = data(100_000, 5)
        got = {"charged": is_charged}
        try:
            got["ok"] = gzip.decompress(warpdrive.compress(small)) == small
        except warpdrive.MemlockLimitError as e:
            got.update(error=str(e), needed=e.needed, limit=e.limit)
        # A request of one's own, larger than the limit: the device's answer.
        with warpdrive.open_queue("compress") as q:
            q.send(q.alloc_from(small), q.alloc(warpdrive.compress_bound(len(small))))
            c = q.recv(timeout=60)
            try:
                c.check()
                got["own_ok"] = True
            except warpdrive.MemlockLimitError as e:
                got.update(own_error=str(e), own_needed=e.needed)
        print(json.dumps(got))
        """
    )
    if not r["charged"]:
        assert r["ok"] is True and r["own_ok"] is True
        return
    msg = str(r["error"])
    assert "RLIMIT_MEMLOCK is 4096 bytes" in msg, msg
    for hint in ("ulimit -l", "limits.conf", "LimitMEMLOCK=", "CAP_IPC_LOCK"):
        assert hint in msg, msg
    assert "dma fault" not in msg.lower()
    assert r["limit"] == 4096
    assert isinstance(r["needed"], int) and r["needed"] > 4096
    own = str(r["own_error"])
    assert "RLIMIT_MEMLOCK" in own and "dma fault" not in own.lower(), own
    assert isinstance(r["own_needed"], int) and r["own_needed"] >= 100_000
