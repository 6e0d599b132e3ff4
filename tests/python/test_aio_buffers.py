"""The buffer cache of an asyncio queue (warpdrive._aio_buffers): what it keeps, what it lets
go, and what it makes or releases off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

import warpdrive
import warpdrive.aio
from warpdrive._aio_buffers import (
    LIMIT,
    MAX_BUF,
    MIN_BUF,
    SHARE_ON_LOOP,
    BufferCache,
    capacity,
    limit_for,
)


class FakeBuf:
    """A buffer as the cache sees one."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.length = capacity
        self.valid = True

    def resize(self, length: int) -> None:
        assert 0 <= length <= self.capacity
        self.length = length


class Allocs:
    """``alloc`` for the cache: counts the buffers made, and the threads that made them."""

    def __init__(self) -> None:
        self.made: list[FakeBuf] = []
        self.threads: list[threading.Thread] = []

    def __call__(self, cap: int) -> FakeBuf:
        self.threads.append(threading.current_thread())
        buf = FakeBuf(cap)
        self.made.append(buf)
        return buf


class Loop:
    """Records what the cache hands to an executor (it never runs it)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def run_in_executor(self, _executor: object, fn: Callable[..., Any], *args: Any) -> None:
        self.jobs.append((fn, args))


def test_capacities_are_powers_of_two_from_the_smallest_buffer() -> None:
    assert capacity(0) == capacity(1) == capacity(MIN_BUF) == MIN_BUF
    assert capacity(MIN_BUF + 1) == 2 * MIN_BUF
    assert capacity(SHARE_ON_LOOP) == SHARE_ON_LOOP
    assert capacity(SHARE_ON_LOOP + 1) == 2 * SHARE_ON_LOOP
    for n in (5000, 70_000, 3 << 20):
        cap = capacity(n)
        assert cap >= n and cap & (cap - 1) == 0 and cap // 2 < n


def test_a_buffer_given_back_is_taken_again_for_any_size_of_its_capacity() -> None:
    allocs = Allocs()
    cache = BufferCache(allocs)
    a = cache.take_now(5000)
    assert a is not None and a.capacity == 8192 and a.length == 5000
    cache.give(a, None)
    assert len(cache) == 1 and cache.bytes == 8192
    b = cache.take_now(8000)
    assert b is a and b.length == 8000
    assert len(allocs.made) == 1
    assert len(cache) == 0 and cache.bytes == 0
    # Another capacity is a new buffer.
    c = cache.take_now(100)
    assert c is not None and c is not a and c.capacity == MIN_BUF
    assert len(allocs.made) == 2


def test_a_large_new_buffer_is_not_made_on_the_loop() -> None:
    allocs = Allocs()
    cache = BufferCache(allocs)
    assert cache.take_now(SHARE_ON_LOOP + 1) is None
    assert not allocs.made
    # One of that capacity in the cache is taken at once.
    big = FakeBuf(2 * SHARE_ON_LOOP)
    cache.give(big, None)
    assert cache.take_now(SHARE_ON_LOOP + 1) is big


def test_take_makes_a_large_buffer_on_an_executor_thread() -> None:
    allocs = Allocs()
    cache = BufferCache(allocs)

    async def main() -> tuple[FakeBuf, FakeBuf]:
        loop = asyncio.get_running_loop()
        return await cache.take(100, loop), await cache.take(3 << 20, loop)

    small, big = asyncio.run(main())
    assert (small.capacity, small.length) == (MIN_BUF, 100)
    assert (big.capacity, big.length) == (4 << 20, 3 << 20)
    assert allocs.threads[0] is threading.main_thread()
    assert allocs.threads[1] is not threading.main_thread()


def test_the_cache_keeps_no_more_than_its_limit() -> None:
    cache = BufferCache(Allocs(), limit=3 * MAX_BUF)
    loop = Loop()
    bufs = [FakeBuf(MAX_BUF) for _ in range(5)]
    for b in bufs:
        cache.give(b, loop)  # type: ignore[arg-type]
        assert cache.bytes <= cache.limit
    assert len(cache) == 3 and cache.bytes == 3 * MAX_BUF
    # The two let go are large: released off the loop, by an executor job holding them.
    assert [args for _, args in loop.jobs] == [(bufs[3],), (bufs[4],)]
    # A small one let go is simply dropped.
    cache.limit = cache.bytes
    cache.give(FakeBuf(MIN_BUF), loop)  # type: ignore[arg-type]
    assert len(loop.jobs) == 2 and len(cache) == 3
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: None,
        lambda: FakeBuf(3 * MIN_BUF),  # not a capacity the cache makes
        lambda: FakeBuf(2 * MAX_BUF),  # larger than the cache keeps
    ],
    ids=["none", "odd-capacity", "too-large"],
)
def test_buffers_the_cache_does_not_keep(make: Callable[[], FakeBuf | None]) -> None:
    cache = BufferCache(Allocs())
    cache.give(make(), None)
    assert len(cache) == 0 and cache.bytes == 0


def test_a_buffer_the_device_owns_is_not_kept() -> None:
    cache = BufferCache(Allocs())
    sent = FakeBuf(MIN_BUF)
    sent.valid = False
    cache.give(sent, Loop())  # type: ignore[arg-type]
    assert len(cache) == 0


def test_queues_of_a_pool_share_the_memory_of_one_cache() -> None:
    assert limit_for(1) == LIMIT
    assert limit_for(2) == LIMIT // 2
    # Never less than two of the largest buffers.
    assert limit_for(64) == 2 * MAX_BUF

    async def main() -> None:
        async with warpdrive.aio.open_pool("compress", queues=2) as pool:
            assert [q._buffers.limit for q in pool.queues] == [limit_for(2)] * 2
        async with warpdrive.aio.open_queue("compress") as q:
            assert q._buffers.limit == LIMIT

    asyncio.run(main())


def test_device_buffers_in_the_cache() -> None:
    with warpdrive.open_queue("compress", "soft") as q:
        cache = BufferCache(q.alloc)
        buf = cache.take_now(100)
        # The device may hand out more than asked (its own buffers are reused too).
        assert buf is not None and len(buf) == 100 and buf.capacity >= MIN_BUF
        src = q.alloc_from(b"x" * 1000)
        q.send(src, buf)
        # Sent: the device owns both until the completion gives them back.
        cache.give(buf, None)
        assert len(cache) == 0
        c = q.recv(timeout=60)
        c.check()
        dst = c.dst
        assert dst is not None and dst.valid
        cache.give(dst, None)
        assert len(cache) == 1
        again = cache.take_now(dst.capacity)
        assert again is dst and len(again) == dst.capacity
