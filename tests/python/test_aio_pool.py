"""asyncio pools of queues: round trips, spreading the work, cancellation, closing, errors.

Every test that takes the `run` fixture runs on the default asyncio loop and on uvloop."""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import threading
import zlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import warpdrive
import warpdrive.aio

if TYPE_CHECKING:
    from conftest import CancelRounds, SeeSoftDeviceThreads

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]

FORMATS = ("gzip", "zlib", "deflate")
WBITS = {"gzip": 31, "zlib": 15, "deflate": -15}


def payload(i: int) -> bytes:
    rnd = random.Random(i)
    return rnd.randbytes(i % 97) + bytes([i % 251]) * rnd.randrange(0, 20_000)


def completed(pool: warpdrive.aio.AsyncQueuePool) -> list[int]:
    return [q.stats.completed for q in pool.queues]


def device_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("wd-")]


# ---------------------------------------------------------------------------- round trips


def test_round_trips_in_every_format_through_two_pools(run: Run[None]) -> None:
    async def main() -> None:
        datas = [payload(i) for i in range(300)]
        async with (
            warpdrive.aio.open_pool("compress", queues=3) as cp,
            warpdrive.aio.open_pool("decompress", queues=2) as dp,
        ):
            assert len(cp) == 3 and len(dp) == 2
            assert cp.direction == "compress" and dp.direction == "decompress"

            async def one(i: int) -> None:
                fmt = FORMATS[i % 3]
                packed = await cp.compress(datas[i], fmt, level=1 + i % 9)  # type: ignore[arg-type]
                assert zlib.decompress(packed, WBITS[fmt]) == datas[i], i
                assert await dp.decompress(packed, fmt) == datas[i], i  # type: ignore[arg-type]
                # What the standard library wrote decodes too.
                theirs = zlib.compressobj(6, zlib.DEFLATED, WBITS[fmt])
                std = theirs.compress(datas[i]) + theirs.flush()
                assert await dp.decompress(std, fmt) == datas[i], i  # type: ignore[arg-type]

            await asyncio.gather(*(one(i) for i in range(300)))
            assert sum(completed(cp)) == 300
            assert sum(completed(dp)) >= 600
            assert cp.outstanding == 0 and dp.outstanding == 0
        assert not device_threads()

    run(main())


@settings(max_examples=15, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.binary(max_size=5000)
            | st.builds(lambda n, b: bytes([b]) * n, st.integers(0, 200_000), st.integers(0, 255)),
            st.sampled_from(FORMATS),
            st.sampled_from([-1, 1, 5, 9]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_concurrent_round_trips_of_any_data(items: list[tuple[bytes, str, int]]) -> None:
    async def main() -> None:
        async with (
            warpdrive.aio.open_pool("compress", queues=2) as cp,
            warpdrive.aio.open_pool("decompress", queues=2) as dp,
        ):

            async def one(data: bytes, fmt: Any, level: int) -> None:
                packed = await cp.compress(data, fmt, level)
                assert zlib.decompress(packed, WBITS[fmt]) == data
                assert await dp.decompress(packed, fmt) == data

            await asyncio.gather(*(one(*it) for it in items))

    asyncio.run(main())


def test_many_tasks_on_the_same_bytes_and_on_slices_of_them(run: Run[None]) -> None:
    # The soft device reads bytes in place: requests lending the same object (or parts of
    # it) at once must not take it away from each other when the first one finishes.
    async def main() -> None:
        data = b"".join(b"shared input %d " % i for i in range(20_000))
        view = memoryview(data)
        async with warpdrive.aio.open_pool("compress", queues=2) as pool:
            whole = await asyncio.gather(*(pool.compress(data, "zlib", 1) for _ in range(64)))
            parts = await asyncio.gather(
                *(pool.compress(view[i * 1000 : i * 1000 + 90_000], "zlib", 1) for i in range(64))
            )
        for z in whole:
            assert zlib.decompress(z) == data
        for i, z in enumerate(parts):
            assert zlib.decompress(z) == data[i * 1000 : i * 1000 + 90_000]

    run(main())


def test_any_buffer_type_is_accepted(run: Run[None]) -> None:
    async def main() -> None:
        data = b"buffer protocol " * 1000
        async with warpdrive.aio.open_pool(queues=2) as cp:
            for buf in (data, bytearray(data), memoryview(data)):
                assert gzip.decompress(await cp.compress(buf)) == data

    run(main())


# ---------------------------------------------------------------------------- dispatch


def test_concurrent_calls_are_spread_over_every_queue(run: Run[None]) -> None:
    async def main() -> None:
        data = os.urandom(1 << 16) * 4
        async with warpdrive.aio.open_pool("compress", queues=3) as cp:
            outs = await asyncio.gather(*(cp.compress(data, "zlib", 6) for _ in range(30)))
            assert all(zlib.decompress(o) == data for o in outs)
            counts = completed(cp)
            # Started together, the calls go round the queues: 10 each.
            assert counts == [10, 10, 10], counts
            assert [q.stats.bytes_in for q in cp.queues] == [10 * len(data)] * 3

    run(main())


def test_one_call_at_a_time_stays_on_the_queue_picked_last(run: Run[None]) -> None:
    # Its device is still polling for work; another queue's would have to be woken.
    async def main() -> None:
        async with warpdrive.aio.open_pool("decompress", queues=2) as dp:
            packed = gzip.compress(b"abc" * 1000)
            for _ in range(6):
                assert await dp.decompress(packed) == b"abc" * 1000
            assert completed(dp) == [6, 0]
            # Two at a time: one on each.
            for _ in range(3):
                outs = await asyncio.gather(dp.decompress(packed), dp.decompress(packed))
                assert outs == [b"abc" * 1000] * 2
            assert completed(dp) == [9, 3]

    run(main())


def test_a_call_goes_to_the_queue_with_the_fewest_calls_in_progress(run: Run[None]) -> None:
    async def main() -> None:
        big = os.urandom(1 << 20) * 4  # level 9 takes a while (tens of ms) on 4 MiB
        async with warpdrive.aio.open_pool("compress", queues=2) as cp:
            slow = asyncio.create_task(cp.compress(big, "gzip", 9))
            await asyncio.sleep(0)  # the slow call is on queue 0 now
            checked = 0
            for i in range(20):
                if slow.done():
                    break
                before = completed(cp)
                # Picked right away, while queue 0 still has the slow call: queue 1 serves
                # it. (Queue 0's count is not checked: the slow call may end meanwhile.)
                assert gzip.decompress(await cp.compress(payload(i))) == payload(i)
                after = completed(cp)
                assert after[1] == before[1] + 1, (before, after)
                checked += 1
            assert checked > 0, "the slow call finished before any other call was made"
            assert gzip.decompress(await slow) == big

    run(main())


# ---------------------------------------------------------------------------- cancellation


def test_cancelling_calls_is_safe_and_the_pool_goes_on(
    run: Run[None], cancel_rounds: CancelRounds
) -> None:
    async def main() -> None:
        big = [os.urandom(1 << 19) + bytes(1 << 19) for _ in range(4)]
        async with (
            warpdrive.aio.open_pool("compress", queues=2) as cp,
            warpdrive.aio.open_pool("decompress", queues=2) as dp,
        ):
            await cancel_rounds(cp, dp, big, 4, 4)
            # Cancelled calls no longer count as in progress (their requests may still be
            # on the device): both queues take the new calls.
            before = [q.stats.submitted for q in cp.queues]
            outs = await asyncio.gather(*(cp.compress(b"still fine") for _ in range(4)))
            assert all(gzip.decompress(o) == b"still fine" for o in outs)
            after = [q.stats.submitted for q in cp.queues]
            assert [a - b for a, b in zip(after, before, strict=True)] == [2, 2]
            assert await dp.decompress(gzip.compress(b"ok")) == b"ok"
        assert cp.outstanding == 0 and dp.outstanding == 0

    run(main())


# ---------------------------------------------------------------------------- closing


def test_closing_with_calls_in_flight_loses_nothing(run: Run[None]) -> None:
    async def main() -> None:
        datas = [os.urandom(1 << 16) * 3 for _ in range(12)]
        # Needs several requests each: the output is far larger than the first guess.
        zeros = bytes(4 << 20)
        packed_zeros = zlib.compress(zeros)
        cp = warpdrive.aio.open_pool("compress", queues=2)
        dp = warpdrive.aio.open_pool("decompress", queues=2)
        async with cp, dp:
            ctasks = [asyncio.create_task(cp.compress(d, "zlib", 9)) for d in datas]
            dtasks = [asyncio.create_task(dp.decompress(packed_zeros, "zlib")) for _ in range(3)]
            await asyncio.sleep(0)  # every call has started
            await asyncio.gather(cp.aclose(), dp.aclose())
            # aclose returned only after every call finished: nothing was lost.
            assert all(t.done() for t in ctasks + dtasks)
            for t, d in zip(ctasks, datas, strict=True):
                assert zlib.decompress(t.result()) == d
            for t in dtasks:
                assert t.result() == zeros
            assert cp.outstanding == 0 and dp.outstanding == 0
        # Leaving the `async with` closes again: a no-op.
        assert not device_threads()

    run(main())


def test_a_closed_pool_refuses_every_call(run: Run[None]) -> None:
    async def main() -> None:
        cp = warpdrive.aio.open_pool("compress", queues=2)
        dp = warpdrive.aio.open_pool("decompress", queues=2)
        async with cp, dp:
            assert gzip.decompress(await cp.compress(b"x")) == b"x"
        with pytest.raises(warpdrive.QueueClosedError, match="pool is closed"):
            await cp.compress(b"x")
        with pytest.raises(warpdrive.QueueClosedError, match="pool is closed"):
            await dp.decompress(gzip.compress(b"x"))
        with pytest.raises(warpdrive.QueueClosedError):
            async with cp:
                pass
        for q in cp.queues:
            with pytest.raises(warpdrive.QueueClosedError):
                await q.compress(b"x")
        await cp.aclose()  # idempotent

    run(main())


def test_calls_started_while_closing_are_refused(run: Run[None]) -> None:
    async def main() -> None:
        cp = warpdrive.aio.open_pool("compress", queues=2)
        async with cp:
            first = asyncio.create_task(cp.compress(os.urandom(1 << 18)))
            await asyncio.sleep(0)
            closing = asyncio.create_task(cp.aclose())
            await asyncio.sleep(0)
            with pytest.raises(warpdrive.QueueClosedError):
                await cp.compress(b"too late")
            await closing
            assert len(gzip.decompress(first.result())) == 1 << 18

    run(main())


# ---------------------------------------------------------------------------- errors


def test_bad_input_gives_the_same_errors_as_a_queue(run: Run[None]) -> None:
    async def main() -> None:
        good = gzip.compress(b"good" * 1000)
        bad_inputs: list[tuple[bytes, Any]] = [
            (good[:-7], "gzip"),
            (b"not gzip at all", "gzip"),
            (b"", "gzip"),
            (zlib.compress(b"zz") + b"trailing", "zlib"),
            (good, "lzma"),
        ]
        async with (
            warpdrive.aio.open_queue("decompress") as dq,
            warpdrive.aio.open_queue("compress") as cq,
            warpdrive.aio.open_pool("decompress", queues=2) as dp,
            warpdrive.aio.open_pool("compress", queues=2) as cp,
        ):

            async def error_of(coro: Coroutine[Any, Any, bytes]) -> tuple[type, str]:
                with pytest.raises(warpdrive.WarpDriveError) as ei:
                    await coro
                return type(ei.value), str(ei.value)

            for data, fmt in bad_inputs:
                want = await error_of(dq.decompress(data, fmt))
                assert await error_of(dp.decompress(data, fmt)) == want, (data[:20], fmt)
            for fmt, level in (("gzip", 42), ("gzip", -2), ("bzip2", 6)):
                want = await error_of(cq.compress(b"data", fmt, level))  # type: ignore[arg-type]
                got = await error_of(cp.compress(b"data", fmt, level))  # type: ignore[arg-type]
                assert got == want, (fmt, level)
            # Both directions are refused the same way as on a queue.
            with pytest.raises(warpdrive.BadRequestError, match="pool decompresses"):
                await dp.compress(b"wrong direction")
            with pytest.raises(warpdrive.BadRequestError, match="pool compresses"):
                await cp.decompress(good)
            with pytest.raises(TypeError):
                await cp.compress("text is not bytes")  # type: ignore[arg-type]
            # Errors go back to the right task; the others succeed.
            res = await asyncio.gather(
                dp.decompress(good),
                dp.decompress(good[:-7]),
                dp.decompress(good),
                return_exceptions=True,
            )
            assert res[0] == res[2] == b"good" * 1000
            assert isinstance(res[1], warpdrive.BadDataError)
            # None of this broke a queue.
            assert await dp.decompress(good) == b"good" * 1000
            assert gzip.decompress(await cp.compress(b"fine")) == b"fine"

    run(main())


@pytest.mark.parametrize("queues", [0, -1, -8, True, 1.5, "2"])
def test_a_bad_number_of_queues_is_a_clear_error(queues: Any) -> None:
    before = len(device_threads())
    with pytest.raises(warpdrive.BadRequestError, match=r"queues must be a whole number >= 1"):
        warpdrive.aio.open_pool("compress", queues=queues)
    with pytest.raises(ValueError, match="queues"):
        warpdrive.aio.AsyncQueuePool("decompress", queues=queues)
    assert len(device_threads()) == before


def test_bad_direction_or_device_opens_nothing() -> None:
    before = len(device_threads())
    with pytest.raises(warpdrive.BadRequestError, match="direction"):
        warpdrive.aio.open_pool("sideways", queues=2)  # type: ignore[arg-type]
    with pytest.raises(warpdrive.BadRequestError, match="device"):
        warpdrive.aio.open_pool("compress", queues=2, device="gpu")
    assert len(device_threads()) == before


def test_the_default_is_one_queue_per_usable_cpu(run: Run[None]) -> None:
    want = max(1, min(len(os.sched_getaffinity(0)), warpdrive.aio.MAX_DEFAULT_POOL))
    assert warpdrive.aio.default_pool_size() == want

    async def main() -> None:
        async with warpdrive.aio.open_pool() as cp:
            assert len(cp) == want
            assert cp.direction == "compress"
            assert gzip.decompress(await cp.compress(b"default")) == b"default"

    run(main())


def test_one_queue_is_a_valid_pool(run: Run[None]) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_pool("compress", queues=1) as cp:
            outs = await asyncio.gather(*(cp.compress(payload(i), "deflate") for i in range(50)))
            assert [zlib.decompress(o, -15) for o in outs] == [payload(i) for i in range(50)]
            assert completed(cp) == [50]

    run(main())


def test_a_pool_belongs_to_one_event_loop() -> None:
    cp = warpdrive.aio.open_pool("compress", queues=2)

    async def use() -> bytes:
        return await cp.compress(b"loop")

    mine, other = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert gzip.decompress(mine.run_until_complete(use())) == b"loop"
        with pytest.raises(warpdrive.BadRequestError, match="another event loop"):
            other.run_until_complete(use())
        with pytest.raises(warpdrive.BadRequestError, match="another event loop"):
            other.run_until_complete(cp.aclose())
        mine.run_until_complete(cp.aclose())
        assert cp.outstanding == 0
    finally:
        mine.close()
        other.close()


def test_asyncio_soft_devices_run_in_the_background_unless_told_not_to(
    run: Run[None], see_soft_device_threads: SeeSoftDeviceThreads
) -> None:
    # Idle priority: the loop's thread never waits for a core behind a device thread.
    async def main() -> None:
        pool, started = see_soft_device_threads(
            lambda: warpdrive.aio.open_pool("compress", queues=2, device="soft")
        )
        async with pool:
            assert started == [os.SCHED_IDLE] * 2
            assert gzip.decompress(await pool.compress(b"idle" * 100)) == b"idle" * 100
        q, started = see_soft_device_threads(
            lambda: warpdrive.aio.open_queue("decompress", device="soft")
        )
        async with q:
            assert started == [os.SCHED_IDLE]
        q, started = see_soft_device_threads(
            lambda: warpdrive.aio.open_queue("compress", device="soft", background=False)
        )
        async with q:
            assert started == [os.SCHED_OTHER]
        pool, started = see_soft_device_threads(
            lambda: warpdrive.aio.open_pool("compress", queues=2, device="soft", background=False)
        )
        async with pool:
            assert started == [os.SCHED_OTHER] * 2

    run(main())
