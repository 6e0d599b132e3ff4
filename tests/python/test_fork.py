"""fork: a child cannot use the parent's queues or buffers (ForkedError); the parent's
queue keeps working; the child can open queues of its own."""

from __future__ import annotations

import asyncio
import gzip
import os
import sys
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
