"""Smoke test of the aarch64 wheel in Debian's arm64 Python (no pytest there): one-shot calls
against the standard library, the queue API, asyncio, the streaming calls and the command
line. tests/aarch64/run runs it under qemu-aarch64 on the soft device; the arm64 guest
(tests/aarch64/guest-stage.sh) on the backend WARPDRIVE_DEVICE names, vfio and uacce."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import io
import os
import platform
import random
import tempfile
import zlib

import warpdrive
import warpdrive.aio
import warpdrive.cli

checks = 0


def check(ok: bool, what: str) -> None:
    global checks
    if not ok:
        raise SystemExit(f"aarch64 smoke: FAILED: {what}")
    checks += 1


def sample(n: int, seed: int) -> bytes:
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + b" "
    return bytes(out[:n])


def one_shot() -> None:
    for n in (0, 1, 4096, 300_000):
        data = sample(n, n)
        for level in (1, 6, 9):
            gz = warpdrive.compress(data, level=level)
            check(gzip.decompress(gz) == data, f"gzip level {level}, {n} bytes")
            check(warpdrive.decompress(gz) == data, f"round trip level {level}, {n} bytes")
        check(zlib.decompress(warpdrive.compress(data, "zlib")) == data, f"zlib, {n} bytes")
        raw = zlib.compressobj(6, zlib.DEFLATED, -15)
        deflated = raw.compress(data) + raw.flush()
        check(warpdrive.decompress(deflated, "deflate") == data, f"raw deflate, {n} bytes")
    try:
        warpdrive.decompress(b"not gzip at all")
    except warpdrive.BadDataError:
        check(True, "bad data refused")
    else:
        check(False, "bad data accepted")


def queue_api() -> None:
    data = sample(100_000, 7)
    with warpdrive.open_queue("compress") as q:
        q.send(q.alloc_from(data), q.alloc(warpdrive.compress_bound(len(data))), tag=5)
        c = q.recv(timeout=60)
        check(c.tag == 5 and c.ok, "queue completion")
        check(c.dst is not None and gzip.decompress(c.dst.tobytes()) == data, "queue output")


async def asyncio_calls() -> None:
    data = [sample(50_000, s) for s in range(8)]
    async with warpdrive.aio.open_queue("compress") as q:
        outs = await asyncio.gather(*(q.compress(d) for d in data))
    check([gzip.decompress(o) for o in outs] == data, "asyncio compress")
    async with warpdrive.aio.open_queue("decompress") as q:
        back = await asyncio.gather(*(q.decompress(o) for o in outs))
    check(back == data, "asyncio decompress")


def streams() -> None:
    data = sample(3_000_000, 11)
    dst = io.BytesIO()
    warpdrive.compress_stream(io.BytesIO(data), dst)
    check(gzip.decompress(dst.getvalue()) == data, "compress_stream")
    back = io.BytesIO()
    warpdrive.decompress_stream(io.BytesIO(dst.getvalue()), back)
    check(back.getvalue() == data, "decompress_stream")


def command_line() -> None:
    data = sample(500_000, 13)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.txt")
        with open(path, "wb") as f:
            f.write(data)
        with contextlib.redirect_stderr(io.StringIO()):
            check(warpdrive.cli.main(["compress", path]) == 0, "CLI compress")
            with open(path + ".gz", "rb") as f:
                check(gzip.decompress(f.read()) == data, "CLI output is gzip")
            if os.path.exists(path):  # kept (gzip removes it; either is fine here)
                os.rename(path, path + ".orig")
            check(warpdrive.cli.main(["decompress", path + ".gz"]) == 0, "CLI decompress")
        with open(path, "rb") as f:
            check(f.read() == data, "CLI round trip")


def main() -> None:
    check(platform.machine() == "aarch64", f"running on {platform.machine()}")
    one_shot()
    queue_api()
    asyncio.run(asyncio_calls())
    streams()
    command_line()
    print(f"aarch64 smoke: {checks} checks passed ({warpdrive.__name__} on {platform.machine()})")


if __name__ == "__main__":
    main()
