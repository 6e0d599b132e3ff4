"""asyncio: many tasks on one queue, ring-full back-pressure, cancellation, errors.

Every test runs on the default asyncio loop and on uvloop (the `run` fixture)."""

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

import warpdrive
import warpdrive.aio

if TYPE_CHECKING:
    from conftest import CancelRounds

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, T]], T]


def payload(i: int) -> bytes:
    rnd = random.Random(i)
    return rnd.randbytes(i % 97) + bytes([i % 251]) * rnd.randrange(0, 20_000)


def test_a_thousand_concurrent_tasks_get_their_own_results(run: Run[None]) -> None:
    async def main() -> None:
        datas = [payload(i) for i in range(1000)]
        threads_before = threading.active_count()
        async with (
            warpdrive.aio.open_queue("compress") as cq,
            warpdrive.aio.open_queue("decompress") as dq,
        ):
            threads_open = set(threading.enumerate())

            async def one(i: int) -> None:
                fmt = ("gzip", "zlib", "deflate")[i % 3]
                packed = await cq.compress(datas[i], fmt, level=1 + i % 9)  # type: ignore[arg-type]
                wbits = {"gzip": 31, "zlib": 15, "deflate": -15}[fmt]
                assert zlib.decompress(packed, wbits) == datas[i], i
                back = await dq.decompress(packed, fmt)  # type: ignore[arg-type]
                assert back == datas[i], i

            await asyncio.gather(*(one(i) for i in range(1000)))
            # No helper thread per request: completions come through the eventfd. The only
            # new threads may be the loop's executor, which allocates buffers off the loop
            # while the pool warms up; it is bounded, whatever the number of requests.
            extra = [t for t in threading.enumerate() if t not in threads_open]
            assert all(
                t.name.startswith(("asyncio", "uvloop", "ThreadPoolExecutor")) for t in extra
            ), extra
            assert len(extra) <= 40
            assert cq.stats.completed == 1000
            assert cq.outstanding == 0 and dq.outstanding == 0
        devices_left = [t for t in threading.enumerate() if t.name.startswith("wd-")]
        assert not devices_left
        assert threading.active_count() >= threads_before

    run(main())


def test_a_full_ring_makes_senders_wait_instead_of_failing(run: Run[None]) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_queue("compress") as q:
            n = 3 * warpdrive.MAX_OUTSTANDING
            tags = await asyncio.gather(*(q.send_nop() for _ in range(n)))
            assert len(set(tags)) == n
            got = [await q.recv() for _ in range(n)]
            assert sorted(c.tag for c in got) == sorted(tags)
            assert q.outstanding == 0

    run(main())


def test_many_senders_of_real_data_past_the_ring_size(run: Run[None]) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_queue("compress") as q:
            data = [os.urandom(16) * (i % 50 + 1) for i in range(2500)]
            outs = await asyncio.gather(*(q.compress(d) for d in data))
            assert [gzip.decompress(o) for o in outs] == data

    run(main())


def test_cancelling_mid_flight_is_safe_and_the_queue_goes_on(
    run: Run[None], cancel_rounds: CancelRounds
) -> None:
    async def main() -> None:
        async with (
            warpdrive.aio.open_queue("compress") as q,
            warpdrive.aio.open_queue("decompress") as dq,
        ):
            big = [os.urandom(1 << 20) + bytes(1 << 20) for _ in range(4)]
            await cancel_rounds(q, dq, big, 5, 2)
            # The queue still works after all that.
            assert gzip.decompress(await q.compress(b"still fine")) == b"still fine"
            assert await dq.decompress(gzip.compress(b"ok")) == b"ok"
        assert q.outstanding == 0

    run(main())


def test_cancelled_senders_waiting_for_space_do_not_stall_others(run: Run[None]) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_queue("compress") as q:
            tasks = [asyncio.create_task(q.send_nop()) for _ in range(3000)]
            await asyncio.sleep(0)
            for t in tasks[1500::3]:
                t.cancel()
            res = await asyncio.gather(*tasks, return_exceptions=True)
            sent = [r for r in res if isinstance(r, int)]
            for _ in sent:
                await q.recv()
            assert q.outstanding == 0

    run(main())


def test_send_and_recv_with_buffers(run: Run[None]) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_queue("compress") as q:
            src = q.alloc(5)
            with memoryview(src) as m:
                m[:] = b"hello"
            tag = await q.send(src, q.alloc(4096), format="zlib")
            assert not src.valid
            c = await q.recv()
            assert c.tag == tag
            assert c.dst is not None
            assert zlib.decompress(c.dst.tobytes()) == b"hello"
            with pytest.raises(warpdrive.BadRequestError, match="nothing in flight"):
                await q.recv()
            await q.send_nop()
            async with asyncio.timeout(10):
                assert (await q.recv()).ok

    run(main())


def test_errors_come_back_to_the_right_task(run: Run[None]) -> None:
    async def main() -> None:
        async with warpdrive.aio.open_queue("decompress") as dq:
            good = gzip.compress(b"good" * 1000)

            async def bad() -> bytes:
                return await dq.decompress(good[:-7])

            res = await asyncio.gather(
                dq.decompress(good),
                bad(),
                dq.decompress(b"not gzip at all"),
                dq.decompress(good),
                return_exceptions=True,
            )
            assert res[0] == b"good" * 1000 and res[3] == b"good" * 1000
            assert isinstance(res[1], warpdrive.BadDataError)
            assert isinstance(res[2], warpdrive.BadDataError)
            with pytest.raises(warpdrive.BadRequestError):
                await dq.compress(b"wrong direction")

    run(main())


def test_decompress_outputs_larger_than_the_first_guess(run: Run[None]) -> None:
    async def main() -> None:
        data = bytes(20 << 20)
        async with warpdrive.aio.open_queue("decompress") as dq:
            assert await dq.decompress(zlib.compress(data), "zlib") == data
            two = gzip.compress(b"a" * 100_000) + gzip.compress(b"b" * 3_000_000)
            assert await dq.decompress(two) == b"a" * 100_000 + b"b" * 3_000_000

    run(main())


def test_decompress_max_length_is_exact_through_retries_and_members(run: Run[None]) -> None:
    async def main() -> None:
        # zlib tells no size: the first guess is far too small and each retry grows the room,
        # the last one to just past the limit. Gzip: the limit falls inside the second member.
        one = b"w" * 1_000_000
        two = gzip.compress(b"a" * 100_000) + gzip.compress(b"b" * 300_000)
        cases = [(zlib.compress(one), "zlib", 1_000_000), (two, "gzip", 400_000)]
        async with warpdrive.aio.open_queue("decompress") as dq:
            for packed, fmt, n in cases:
                got = await dq.decompress(packed, fmt, max_length=n)  # type: ignore[arg-type]
                assert len(got) == n, fmt
                for limit in (n - 1, 100_005, 0):
                    with pytest.raises(warpdrive.OutputLimitError):
                        await dq.decompress(packed, fmt, max_length=limit)  # type: ignore[arg-type]

    run(main())


def test_close_waits_for_in_flight_requests_and_then_refuses(run: Run[None]) -> None:
    async def main() -> None:
        q = warpdrive.aio.open_queue("compress")
        async with q:
            tasks = [asyncio.create_task(q.compress(os.urandom(1 << 18))) for _ in range(8)]
            await asyncio.sleep(0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # aclose returned only after the device answered every request.
        assert q.outstanding == 0
        with pytest.raises(warpdrive.QueueClosedError):
            await q.compress(b"x")

    run(main())
