"""Shared fixtures. These tests import the *installed* warpdrive wheel (see test_install)."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import pytest

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is installed by tests/python/run
    uvloop = None

LOOPS = ["asyncio"] + (["uvloop"] if uvloop is not None else [])


@pytest.fixture(params=LOOPS)
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, T]], T]:
    """Runs a coroutine to completion on the default asyncio loop or on uvloop."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else asyncio.new_event_loop

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(coro)

    return runner


class _Codec(Protocol):
    def compress(self, data: bytes, format: Any = ..., level: int = ...) -> Awaitable[bytes]: ...
    def decompress(self, data: bytes, format: Any = ...) -> Awaitable[bytes]: ...


CancelRounds = Callable[[_Codec, _Codec, list[bytes], int, int], Awaitable[None]]


@pytest.fixture
def cancel_rounds() -> CancelRounds:
    """Three rounds of: `copies` x `big` level-9 compressions and decompressions of the first
    `n_decompress` of `big` on `cp` / `dp` (a queue's or a pool's), every other task cancelled
    2 ms in. What finishes must be right, and some must really have been cancelled."""

    async def rounds(
        cp: _Codec, dp: _Codec, big: list[bytes], copies: int, n_decompress: int
    ) -> None:
        n = len(big) * copies
        for _round in range(3):
            tasks = [asyncio.create_task(cp.compress(b, level=9)) for b in big * copies]
            tasks += [
                asyncio.create_task(dp.decompress(gzip.compress(b, 1))) for b in big[:n_decompress]
            ]
            await asyncio.sleep(0.002)
            for t in tasks[::2]:
                t.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for i, r in enumerate(results):
                if isinstance(r, asyncio.CancelledError):
                    continue
                assert isinstance(r, bytes), r
                if i < n:
                    assert gzip.decompress(r) == big[i % len(big)]
                else:
                    assert r == big[i - n]
            # Cancelled requests finish on the device and are discarded.
            assert any(isinstance(r, asyncio.CancelledError) for r in results)

    return rounds


def soft_device_thread_policies() -> dict[int, int]:
    """The scheduling policy (``os.SCHED_*``) of each soft device thread of this process, by
    thread id."""
    out = {}
    for tid in map(int, os.listdir("/proc/self/task")):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            if name.startswith("wd-soft"):
                out[tid] = os.sched_getscheduler(tid)
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended since the listing
    return out


class SeeSoftDeviceThreads(Protocol):
    def __call__(self, opener: Callable[[], T]) -> tuple[T, list[int]]: ...


@pytest.fixture
def see_soft_device_threads() -> SeeSoftDeviceThreads:
    """Calls ``opener`` and gives what it returned and the policies of the soft device
    threads it started (other tests' queues may be alive: threads seen before the call are
    left out)."""

    def opened_by(opener: Callable[[], T]) -> tuple[T, list[int]]:
        before = soft_device_thread_policies()
        opened = opener()
        return opened, [p for t, p in soft_device_thread_policies().items() if t not in before]

    return opened_by
