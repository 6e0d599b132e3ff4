"""The sync Queue: buffers, ownership on send, completions, errors, fileno, stats."""

from __future__ import annotations

import array
import gzip
import os
import random
import select
import sys
import threading
import time
import zlib
from typing import TYPE_CHECKING

import pytest

import warpdrive

if TYPE_CHECKING:
    from conftest import SeeSoftDeviceThreads


def test_send_moves_buffers_and_the_completion_returns_them() -> None:
    with warpdrive.open_queue("compress", device="soft") as q:
        assert q.direction == "compress"
        assert q.device == "soft:compress"
        src = q.alloc(10_000)
        assert len(src) == 10_000 and src.capacity >= 10_000
        with memoryview(src) as m:
            m[:] = b"ab" * 5_000
        dst = q.alloc(20_000)
        q.send(src, dst, format="zlib", level=9, tag=42)
        for moved in (src, dst):
            assert not moved.valid
            with pytest.raises(warpdrive.BufferMovedError):
                len(moved)
            with pytest.raises(warpdrive.BufferMovedError):
                memoryview(moved)
            with pytest.raises(warpdrive.BufferMovedError):
                moved.tobytes()
        c = q.recv(timeout=10)
        assert c.tag == 42 and c.ok and c.status == 0
        assert c.consumed == 10_000
        assert c.dst is not None and c.src is not None
        assert len(c.dst) == c.produced
        assert zlib.decompress(bytes(c.dst)) == b"ab" * 5_000
        assert c.checksum == zlib.adler32(b"ab" * 5_000)
        # The returned buffers are Python's again and can be reused for another request.
        again_src, again_dst = c.src, c.dst
        again_src.fill(b"hello")
        again_dst.resize(again_dst.capacity)
        q.send(again_src, again_dst, format="gzip")
        c2 = q.recv(timeout=10)
        assert c2.dst is not None
        assert gzip.decompress(c2.dst.tobytes()) == b"hello"
        st = q.stats
        assert st.submitted == 2 and st.completed == 2
        assert st.bytes_in == 10_005


def lent_here(q: warpdrive.Queue) -> bool:
    """The soft device and uacce read `bytes` in place; VFIO copies every input."""
    assert q.reads_in_place == (q.kind in ("soft", "uacce"))
    return q.reads_in_place


def test_send_bytes_reads_bytes_in_place_and_copies_everything_else() -> None:
    text = b"".join(b"line %d of the input\n" % i for i in range(4000))

    class Sub(bytes):
        pass

    inputs: list[tuple[str, object, bytes, bool]] = [
        ("bytes", text, text, True),
        ("slice of a view of bytes", memoryview(text)[7:50_007], text[7:50_007], True),
        ("cast view of bytes", memoryview(text).cast("B"), text, True),
        ("strided view", memoryview(text)[::2], text[::2], False),
        ("bytearray", bytearray(text), text, False),
        ("bytes subclass", Sub(text), text, False),
        (
            "array of ints",
            array.array("I", [7] * 1000),
            array.array("I", [7] * 1000).tobytes(),
            False,
        ),
        ("empty bytes", b"", b"", False),
    ]
    with warpdrive.open_queue("compress") as q:
        for name, data, want, lendable in inputs:
            dst = q.alloc(warpdrive.compress_bound(len(want)))
            q.send_bytes(data, dst, format="zlib", level=1, tag=5)  # type: ignore[arg-type]
            assert not dst.valid, name
            c = q.recv(timeout=10)
            assert c.ok and c.tag == 5 and c.consumed == len(want), name
            assert c.dst is not None
            assert zlib.decompress(bytes(c.dst)) == want, name
            if lendable and lent_here(q):
                assert c.src is None, f"{name}: read in place, nothing to hand back"
            else:
                assert c.src is not None, f"{name}: the copy comes back"
                assert bytes(c.src) == want, name


def test_send_bytes_holds_the_object_until_the_completion_is_received() -> None:
    data = bytes(range(256)) * 400
    before = sys.getrefcount(data)
    with warpdrive.open_queue("compress") as q:
        q.send_bytes(data, q.alloc(200_000), format="gzip", level=9)
        assert sys.getrefcount(data) == before + (1 if lent_here(q) else 0)
        c = q.recv(timeout=10)
        assert c.ok and gzip.decompress(bytes(c.dst or b"")) == data
        assert sys.getrefcount(data) == before, "the queue let go of it"
        # The caller's only reference may go while the request is in flight.
        q.send_bytes(bytes(range(256)) * 400, q.alloc(200_000), format="gzip", level=9)
        c = q.recv(timeout=10)
        assert gzip.decompress(bytes(c.dst or b"")) == data


def test_send_bytes_copies_mutable_input_at_send() -> None:
    data = bytearray(b"kept as it was at send " * 2000)
    want = bytes(data)
    with warpdrive.open_queue("compress") as q:
        q.send_bytes(data, q.alloc(100_000), format="deflate", level=1)
        data[:] = bytes(len(data))
        c = q.recv(timeout=10)
        assert zlib.decompress(bytes(c.dst or b""), -15) == want


def test_send_bytes_refused_leaves_dst_valid_and_holds_nothing() -> None:
    data = b"refused " * 100
    before = sys.getrefcount(data)
    with warpdrive.open_queue("compress") as q:
        dst = q.alloc(10_000)
        with pytest.raises(warpdrive.BadRequestError, match="flag"):
            q.send_bytes(data, dst, continue_stream=True)
        with pytest.raises(warpdrive.BadRequestError):
            q.send_bytes(data, dst, format="zip")  # type: ignore[arg-type]
        view = memoryview(data)
        view.release()
        with pytest.raises(ValueError, match="released"):
            q.send_bytes(view, dst)
        with pytest.raises(TypeError):
            q.send_bytes("text is not bytes", dst)  # type: ignore[arg-type]
        assert dst.valid and q.outstanding == 0
        assert sys.getrefcount(data) == before
        assert q.stats.submitted == 0


def test_a_live_memoryview_blocks_the_send() -> None:
    with warpdrive.open_queue("compress") as q:
        src, dst = q.alloc(100), q.alloc(4096)
        view = memoryview(src)
        with pytest.raises(BufferError):
            q.send(src, dst)
        assert src.valid and dst.valid  # a refused send leaves both buffers usable
        view.release()
        q.send(src, dst)
        assert q.recv(timeout=10).ok


def test_same_buffer_twice_is_refused() -> None:
    with warpdrive.open_queue("compress") as q:
        b = q.alloc(100)
        with pytest.raises(warpdrive.BadRequestError):
            q.send(b, b)
        assert b.valid


def test_output_too_small_is_reported_not_crashed() -> None:
    with warpdrive.open_queue("compress") as q:
        src = q.alloc_from(os.urandom(64 * 1024))
        dst = q.alloc(100)
        q.send(src, dst, format="gzip")
        c = q.recv(timeout=10)
        assert not c.ok
        with pytest.raises(warpdrive.OutputTooSmallError):
            c.check()


def test_decompress_queue_continues_a_stream_with_small_output() -> None:
    data = bytes(range(256)) * 2000
    packed = gzip.compress(data)
    out = bytearray()
    with warpdrive.open_queue("decompress") as q:
        src = q.alloc_from(packed)
        dst = q.alloc(4096)
        cont = False
        while True:
            q.send(src, dst, format="gzip", continue_stream=cont)
            c = q.recv(timeout=10)
            assert c.src is not None and c.dst is not None
            out += c.dst.tobytes()
            if c.ok:
                break
            assert c.resumable, c
            src, dst = c.src, c.dst
            # Drop the consumed input: copy the rest to the front.
            rest = src.tobytes()[c.consumed :]
            src.fill(rest)
            dst.resize(dst.capacity)
            cont = True
    assert bytes(out) == data


def test_nops_and_a_full_ring() -> None:
    with warpdrive.open_queue("compress") as q:
        n = 0
        # The device keeps taking requests, so fill faster than it drains: stop at the
        # first QueueFullError or after many sends.
        with pytest.raises(warpdrive.QueueFullError):
            for n in range(100_000):
                q.send_nop(tag=n)
        assert q.outstanding == warpdrive.MAX_OUTSTANDING
        assert q.is_full
        tags = {q.recv(timeout=10).tag for _ in range(q.outstanding)}
        assert len(tags) == warpdrive.MAX_OUTSTANDING
        assert q.outstanding == 0 and not q.is_full
        assert q.stats.full_retries >= 1


def test_recv_timeout_and_nothing_in_flight() -> None:
    with warpdrive.open_queue("compress") as q:
        with pytest.raises(warpdrive.BadRequestError, match="nothing in flight"):
            q.recv(timeout=0.01)
        assert q.try_recv() is None
        assert q.recv_many() == []


def test_timeout_error_is_also_the_builtin() -> None:
    assert issubclass(warpdrive.WarpDriveTimeoutError, TimeoutError)
    assert issubclass(warpdrive.WarpDriveTimeoutError, warpdrive.WarpDriveError)
    assert warpdrive.WarpDriveTimeoutError is not TimeoutError
    assert issubclass(warpdrive.BadDataError, ValueError)
    assert issubclass(warpdrive.DeviceIOError, OSError)
    for name in (
        "QueueFullError",
        "DeviceStatusError",
        "DmaFaultError",
        "NoDeviceError",
        "ForkedError",
        "QueueClosedError",
    ):
        assert issubclass(getattr(warpdrive, name), warpdrive.WarpDriveError)


def test_fileno_becomes_readable_after_an_armed_completion() -> None:
    with warpdrive.open_queue("compress") as q:
        fd = q.fileno()
        assert isinstance(fd, int) and fd >= 0
        q.send_nop(tag=1)
        while q.arm_interrupt() is False:
            # Already complete: receive and try again with a new request.
            assert q.recv(timeout=10).tag >= 1
            q.send_nop(tag=2)
        r, _, _ = select.select([fd], [], [], 10)
        assert r == [fd]
        q.clear_readiness()
        got = q.recv_many()
        assert len(got) == 1


def test_a_moderated_arm_wakes_once_the_requests_in_hand_are_done() -> None:
    # Level 9 on noise takes milliseconds a request: the soft device holds the interrupt
    # until the last of the four; a device that cannot moderate (VFIO) fires at the first.
    data = [random.Random(i).randbytes(200_000) for i in range(4)]
    with warpdrive.open_queue("compress") as q:
        for i, d in enumerate(data):
            q.send_bytes(d, q.alloc(250_000), format="zlib", level=9, tag=i)
        ready = 0
        if q.arm_interrupt(moderated=True):
            r, _, _ = select.select([q.fileno()], [], [], 20)
            assert r == [q.fileno()]
            q.clear_readiness()
            ready = len(q.recv_many())
            if q.device.startswith("soft"):
                assert ready == 4, "held until the last request in hand"
            assert ready >= 1
        rest = [q.recv(timeout=20) for _ in range(4 - ready)]
        assert len(rest) + ready == 4 and q.outstanding == 0
        assert all(c.ok for c in rest)


def test_closed_queue_refuses_use() -> None:
    q = warpdrive.open_queue("compress")
    b = q.alloc(10)
    q.close()
    q.close()  # idempotent
    assert q.closed
    with pytest.raises(warpdrive.QueueClosedError):
        q.send_nop()
    with pytest.raises(warpdrive.QueueClosedError):
        q.alloc(10)
    assert b.valid  # buffers Python owns outlive the queue
    assert len(b) == 10


def test_close_waits_for_requests_in_flight() -> None:
    q = warpdrive.open_queue("compress")
    for _ in range(50):
        q.send(q.alloc_from(b"x" * 100_000), q.alloc(200_000))
    q.close()
    assert q.closed


def test_bad_arguments() -> None:
    with pytest.raises(warpdrive.BadRequestError):
        warpdrive.open_queue("sideways")  # type: ignore[arg-type]
    with pytest.raises(warpdrive.BadRequestError):
        warpdrive.open_queue("compress", device="gpu")
    with warpdrive.open_queue("compress") as q:
        a, b = q.alloc(10), q.alloc(4096)
        with pytest.raises(warpdrive.BadRequestError):
            q.send(a, b, format="lzma")  # type: ignore[arg-type]
        with pytest.raises(warpdrive.BadRequestError):
            q.send(a, b, level=12)
        with pytest.raises(warpdrive.BadRequestError):
            q.recv(timeout=-1)
        with pytest.raises(ValueError):
            a.resize(a.capacity + 1)
        assert a.valid and b.valid


def test_blocking_recv_releases_the_gil() -> None:
    # While one thread waits in recv() for a slow request, another thread keeps running.
    with warpdrive.open_queue("compress") as q:
        # 4 MiB in, 1 MiB out: within an ordinary user's 8 MiB of pinnable memory on a
        # kernel device.
        q.send(q.alloc_from(bytes(4 << 20)), q.alloc(1 << 20), level=9)
        ticks = 0
        stop = threading.Event()

        def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                time.sleep(0.001)

        t = threading.Thread(target=ticker)
        t.start()
        start = time.monotonic()
        c = q.recv(timeout=60)
        waited = time.monotonic() - start
        stop.set()
        t.join()
        assert c.ok
        if waited > 0.02:
            assert ticks >= 5, (ticks, waited)


def test_vfio_is_hardware_or_a_clear_no_device_error() -> None:
    if any(d.kind == "sdmdev" and d.usable for d in warpdrive.devices()):
        with warpdrive.open_queue("compress", device="vfio") as q:
            assert q.device.startswith("vfio"), q.device
        return
    with pytest.raises(warpdrive.NoDeviceError) as ei:
        warpdrive.open_queue("compress", device="vfio")
    assert str(ei.value)


def test_a_background_queue_runs_its_soft_device_at_idle_priority(
    see_soft_device_threads: SeeSoftDeviceThreads,
) -> None:
    q, started = see_soft_device_threads(
        lambda: warpdrive.open_queue("compress", device="soft", background=True)
    )
    with q:
        assert started == [os.SCHED_IDLE]
        q.send_bytes(b"background " * 1000, q.alloc(20_000), format="zlib", tag=5)
        c = q.recv(timeout=10)
        assert c.ok and c.tag == 5 and c.dst is not None
        assert zlib.decompress(c.dst.tobytes()) == b"background " * 1000
    q, started = see_soft_device_threads(lambda: warpdrive.open_queue("compress", device="soft"))
    with q:
        assert started == [os.SCHED_OTHER]
    with pytest.raises(TypeError):
        warpdrive.open_queue("compress", device="soft", background="yes")  # type: ignore[arg-type]
