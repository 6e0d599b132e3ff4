"""The device buffers of an asyncio queue (warpdrive._aio_buffers): taken from and given back
to the one buffer cache, wd-core's (per DMA domain), with no new share per request; the cache
stays bounded; large buffers are shared and unshared off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import warpdrive
import warpdrive.aio
from warpdrive import _aio_buffers, _core
from warpdrive._aio_buffers import SHARE_ON_LOOP
from warpdrive._core import DmaBuf

#: The core's bounds on the cache of a domain (crates/wd-core/src/dma.rs).
CACHE_MAX_BUFFERS = 64
CACHE_MAX_BYTES = 64 << 20


class Shares:
    """Records every new share the asyncio layer makes (size, thread)."""

    def __init__(self) -> None:
        self.made: list[tuple[int, threading.Thread]] = []

    def sizes(self) -> list[int]:
        return [size for size, _ in self.made]


@pytest.fixture
def shares(monkeypatch: pytest.MonkeyPatch) -> Shares:
    seen = Shares()
    real = _aio_buffers.new_share

    def spy(q: _core.Queue, size: int) -> DmaBuf:
        seen.made.append((size, threading.current_thread()))
        return real(q, size)

    monkeypatch.setattr(_aio_buffers, "new_share", spy)
    return seen


@pytest.fixture
def queue() -> Iterator[_core.Queue]:
    """A soft-device queue whose domain's cache is empty (what it held is taken out, and
    goes back when the test ends)."""
    q = _core.Queue("compress", "soft")
    held: list[DmaBuf] = []
    # A cached buffer of capacity c serves requests of c/2 .. c bytes: asking for every
    # power of two up to more than the cache may hold takes each one out.
    size = 4096
    while size <= 2 * CACHE_MAX_BYTES:
        while (b := _core._alloc_cached(q, size)) is not None:
            held.append(b)
        size *= 2
    assert _core._cached_buffers(q) == 0
    try:
        yield q
    finally:
        q.close()
        del held


class Loop:
    """Records what is handed to an executor (never runs it)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def run_in_executor(self, _executor: object, fn: Callable[..., Any], *args: Any) -> None:
        self.jobs.append((fn, args))


def test_a_buffer_given_back_is_taken_again_without_a_new_share(
    queue: _core.Queue, shares: Shares
) -> None:
    a = _aio_buffers.take_now(queue, 5000)
    assert a is not None and len(a) == 5000 and a.capacity >= 5000
    assert shares.sizes() == [5000]
    a.fill(b"the same memory")
    _aio_buffers.give(a, None)
    assert not a.valid, "the core holds it now"
    assert _core._cached_buffers(queue) == 1
    # Any size from half its capacity up to it takes it, as it was.
    b = _aio_buffers.take_now(queue, 4500)
    assert b is not None and len(b) == 4500
    assert bytes(b)[:15] == b"the same memory"
    assert shares.sizes() == [5000] and _core._cached_buffers(queue) == 0
    # A size it cannot serve is a new share.
    c = _aio_buffers.take_now(queue, 100_000)
    assert c is not None and shares.sizes() == [5000, 100_000]


def test_a_large_new_buffer_is_not_made_on_the_loop(queue: _core.Queue, shares: Shares) -> None:
    assert _aio_buffers.take_now(queue, SHARE_ON_LOOP + 1) is None
    assert shares.made == []

    async def main() -> tuple[DmaBuf, DmaBuf]:
        loop = asyncio.get_running_loop()
        small = await _aio_buffers.take(queue, 100, loop)
        big = await _aio_buffers.take(queue, 3 << 20, loop)
        return small, big

    small, big = asyncio.run(main())
    assert (len(small), len(big)) == (100, 3 << 20)
    assert [size for size, _ in shares.made] == [100, 3 << 20]
    assert shares.made[0][1] is threading.main_thread()
    assert shares.made[1][1] is not threading.main_thread()
    # Given back, the large one is taken on the loop itself (by any size it can serve).
    _aio_buffers.give(big, None)
    again = _aio_buffers.take_now(queue, 2 << 20)
    assert again is not None and len(again) == 2 << 20
    assert len(shares.made) == 2


def test_the_cache_is_bounded_and_large_buffers_are_let_go_off_the_loop(
    queue: _core.Queue,
) -> None:
    loop = Loop()
    size = 2 << 20
    bufs = [queue.alloc(size) for _ in range(40)]
    for b in bufs:
        _aio_buffers.give(b, loop)  # type: ignore[arg-type]
    kept = _core._cached_buffers(queue)
    assert 0 < kept <= CACHE_MAX_BUFFERS and kept * size <= CACHE_MAX_BYTES
    # Those the cache has no room for are large: unshared off the loop, by an executor job
    # holding each.
    let_go = [args[0] for _, args in loop.jobs]
    assert len(let_go) == 40 - kept
    assert all(b.valid and b.capacity > SHARE_ON_LOOP for b in let_go)
    assert [b.valid for b in bufs].count(True) == len(let_go)
    # A small one the cache has no room for is simply dropped.
    while _core._cached_buffers(queue) < CACHE_MAX_BUFFERS:
        before = _core._cached_buffers(queue)
        _aio_buffers.give(queue.alloc(4096), loop)  # type: ignore[arg-type]
        if _core._cached_buffers(queue) == before:
            break
    small = queue.alloc(4096)
    _aio_buffers.give(small, loop)  # type: ignore[arg-type]
    assert small.valid and len(loop.jobs) == len(let_go)


def test_a_buffer_the_device_owns_is_not_kept(queue: _core.Queue) -> None:
    buf = _aio_buffers.take_now(queue, 100)
    assert buf is not None
    queue.send(queue.alloc_from(b"x" * 1000), buf)
    # Sent: the device owns it until the completion gives it back.
    _aio_buffers.give(buf, Loop())  # type: ignore[arg-type]
    assert _core._cached_buffers(queue) == 0
    c = queue.recv(timeout=60)
    c.check()
    _aio_buffers.give(c.src, None)
    _aio_buffers.give(c.dst, None)
    assert _core._cached_buffers(queue) == 2
    # A buffer with a live memoryview stays with its owner.
    view_held = queue.alloc(100)
    cached = _core._cached_buffers(queue)
    with memoryview(view_held):
        _aio_buffers.give(view_held, None)
        assert view_held.valid and _core._cached_buffers(queue) == cached


def test_requests_reuse_the_buffers_of_finished_ones(queue: _core.Queue, shares: Shares) -> None:
    data = b"warpdrive asyncio buffers " * 4000

    async def main() -> None:
        async with warpdrive.aio.open_queue("compress", device="soft") as q:
            for _ in range(20):
                assert warpdrive.decompress(await q.compress(data)) == data
        async with warpdrive.aio.open_pool("decompress", queues=3, device="soft") as pool:
            z = warpdrive.compress(data)
            for _ in range(5):
                outs = await asyncio.gather(*(pool.decompress(z) for _ in range(6)))
                assert outs == [data] * 6

    asyncio.run(main())
    # Sequential requests: the first one's output buffer serves every later one. Six at
    # once on three queues: at most six buffers, shared once and taken again after.
    assert len(shares.made) <= 1 + 6, shares.sizes()
    assert 0 < _core._cached_buffers(queue) <= CACHE_MAX_BUFFERS


def test_the_queues_of_a_process_share_one_cache(queue: _core.Queue) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_pool("compress", queues=2, device="soft") as pool:
            a, b = pool.queues
            buf = a.alloc(70_000)
            _aio_buffers.give(buf, None)
            # The soft device's domain is the process's: every queue sees the buffer.
            assert _core._cached_buffers(a._q) == _core._cached_buffers(b._q) == 1
            assert _core._cached_buffers(queue) == 1
            got = _aio_buffers.take_now(b._q, 70_000)
            assert got is not None and _core._cached_buffers(queue) == 0

    asyncio.run(main())
