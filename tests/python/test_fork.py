"""fork: a child cannot use the parent's queues or buffers (ForkedError); the parent's
queue keeps working; the child can open queues of its own. The child gives up the parent's
VFIO descriptors at once, so closing a queue (and exiting) never waits for a child."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable

import pytest

import warpdrive
import warpdrive.aio


def in_child(body: Callable[[], None]) -> int:
    """Runs `body` in a fork child; returns the child's exit status (0 = passed)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body()
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_child_gets_forked_error_and_parent_keeps_working() -> None:
    q = warpdrive.open_queue("compress")
    buf = q.alloc(1000)
    buf.fill(b"x" * 1000)
    # A request in flight at fork time stays the parent's.
    q.send(q.alloc_from(b"in flight" * 1000), q.alloc(20_000), tag=9)

    def child() -> None:
        with pytest.raises(warpdrive.ForkedError):
            q.send_nop()
        with pytest.raises(warpdrive.ForkedError):
            q.recv(timeout=1)
        with pytest.raises(warpdrive.ForkedError):
            q.fileno()
        with pytest.raises(warpdrive.ForkedError):
            len(buf)
        with pytest.raises(warpdrive.ForkedError):
            memoryview(buf)
        assert not buf.valid
        # The child opens its own queues; the one-shot API works too.
        data = b"child data " * 5000
        assert gzip.decompress(warpdrive.compress(data)) == data
        with warpdrive.open_queue("compress") as mine:
            mine.send(mine.alloc_from(data), mine.alloc(100_000))
            c = mine.recv(timeout=10)
            assert c.dst is not None
            assert gzip.decompress(c.dst.tobytes()) == data
        q.close()  # forgets the parent's queue without touching its device

    assert in_child(child) == 0
    c = q.recv(timeout=10)
    assert c.tag == 9 and c.dst is not None
    assert gzip.decompress(c.dst.tobytes()) == b"in flight" * 1000
    dst = q.alloc(4096)
    q.send(buf, dst)
    c = q.recv(timeout=10)
    assert c.dst is not None
    assert gzip.decompress(c.dst.tobytes()) == b"x" * 1000
    q.close()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_asyncio_queue_in_a_child_fails_clearly() -> None:
    async def main() -> None:
        async with warpdrive.aio.open_queue("compress") as aq:
            assert gzip.decompress(await aq.compress(b"before")) == b"before"

            def child() -> None:
                with pytest.raises(warpdrive.ForkedError):
                    aq.alloc(10)

                async def use_in_child() -> None:
                    with pytest.raises(warpdrive.ForkedError):
                        await aq.compress(b"in child")
                    async with warpdrive.aio.open_queue("compress") as own:
                        assert gzip.decompress(await own.compress(b"own")) == b"own"

                asyncio.run(use_in_child())

            assert in_child(child) == 0
            assert gzip.decompress(await aq.compress(b"after")) == b"after"

    asyncio.run(main())


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_asyncio_pool_in_a_child_fails_clearly() -> None:
    async def main() -> None:
        async with warpdrive.aio.open_pool("compress", queues=2) as pool:
            outs = await asyncio.gather(*(pool.compress(b"before") for _ in range(4)))
            assert all(gzip.decompress(o) == b"before" for o in outs)

            def child() -> None:
                async def use_in_child() -> None:
                    for _ in range(len(pool)):  # whichever queue the call goes to
                        with pytest.raises(warpdrive.ForkedError):
                            await pool.compress(b"in child")
                    await pool.aclose()  # forgets the parent's queues
                    async with warpdrive.aio.open_pool("compress", queues=2) as own:
                        assert gzip.decompress(await own.compress(b"own")) == b"own"

                asyncio.run(use_in_child())

            assert in_child(child) == 0
            outs = await asyncio.gather(*(pool.compress(b"after") for _ in range(4)))
            assert all(gzip.decompress(o) == b"after" for o in outs)

    asyncio.run(main())


def _vfio_fds() -> list[str]:
    """Descriptors of this process that lead to VFIO: the container and groups
    (/dev/vfio/*) and devices (anon_inode:[vfio-device])."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("/dev/vfio/") or "vfio-device" in target:
            out.append(target)
    return out


def _lingering_child(report: Callable[[], int], seconds: float = 10.0) -> tuple[int, int]:
    """Forks a child that reports `report()` (one byte) through a pipe and then lives on for
    `seconds` (unless killed). Returns (pid, the child's report)."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 255
        try:
            os.close(r)
            code = report()
        finally:
            os.write(w, bytes([code]))
            time.sleep(seconds)
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.close(r)
    return pid, got[0] if got else 255


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_child_holds_no_vfio_descriptor_and_close_does_not_wait_for_it() -> None:
    q = warpdrive.open_queue("compress")
    q.send_nop(tag=1)
    assert q.recv(timeout=10).tag == 1
    if q.device.startswith("vfio"):
        assert len(_vfio_fds()) >= 3, _vfio_fds()
    pid, held = _lingering_child(lambda: len(_vfio_fds()))
    try:
        assert held == 0, "the fork child kept its parent's VFIO descriptors"
        t = time.monotonic()
        q.close()
        took = time.monotonic() - t
        assert took < 2, f"close took {took:.1f} s while a fork child lived"
    finally:
        _kill(pid)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_dropping_a_queue_does_not_wait_for_a_fork_child() -> None:
    """A queue dropped (not closed) while a fork child lives: the drop does not wait for the
    child (and releases the GIL while it waits on the kernel)."""
    q = warpdrive.open_queue("compress")
    q.send_nop()
    q.recv(timeout=10)
    pid, _ = _lingering_child(lambda: 0)
    try:
        start = time.monotonic()
        del q
        took = time.monotonic() - start
        assert took < 2, f"dropping the queue took {took:.1f} s while a fork child lived"
    finally:
        _kill(pid)


def _mp_job(seed: int) -> bool:
    data = bytes((i * seed) % 251 for i in range(200_000))
    with warpdrive.open_queue("compress") as q:
        q.send(q.alloc_from(data), q.alloc(warpdrive.compress_bound(len(data))))
        c = q.recv(timeout=30)
        assert c.dst is not None
        ok = gzip.decompress(c.dst.tobytes()) == data
    return ok and gzip.decompress(warpdrive.compress(data)) == data


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_multiprocessing_with_fork_uses_queues_in_parent_and_children() -> None:
    q = warpdrive.open_queue("compress")
    data = b"parent before " * 10_000
    assert gzip.decompress(warpdrive.compress(data)) == data
    ctx = multiprocessing.get_context("fork")
    t = time.monotonic()
    with ctx.Pool(2) as pool:
        assert pool.map(_mp_job, range(1, 5)) == [True] * 4
    assert time.monotonic() - t < 60
    # The parent's own queue and the pooled ones still work, and close promptly.
    q.send(q.alloc_from(data), q.alloc(warpdrive.compress_bound(len(data))))
    c = q.recv(timeout=10)
    assert c.dst is not None and gzip.decompress(c.dst.tobytes()) == data
    t = time.monotonic()
    q.close()
    assert time.monotonic() - t < 2


def test_interpreter_exit_with_live_fork_children_is_prompt() -> None:
    """A program with open and pooled queues forks a child that lives on (20 s), and exits
    without closing anything: the exit (closing queues, removing their mdevs) must not wait
    for the child. Timed from the program's last line, so start-up does not count."""
    script = textwrap.dedent(
        """
        import os, sys, time, warpdrive
        q = warpdrive.open_queue("compress")
        q.send_nop()
        q.recv(timeout=10)
        warpdrive.compress(b"pooled " * 1000)
        warpdrive.decompress(warpdrive.compress(b"x" * 100))
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            time.sleep(20)
            os._exit(0)
        print(pid, time.monotonic(), flush=True)
        sys.exit(0)
        """
    )
    p = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    ended = time.monotonic()
    words = p.stdout.split()
    if words:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(words[0]), signal.SIGKILL)
    assert p.returncode == 0, p.stderr
    took = ended - float(words[1])
    assert took < 5, f"exit took {took:.1f} s with a live fork child"
