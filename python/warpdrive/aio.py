"""asyncio driver for WarpDrive queues.

One queue serves any number of tasks::

    async with warpdrive.aio.open_queue("compress") as q:
        gz = await q.compress(data)

A device queue is served by one device worker (on the soft device, one thread), so one
queue keeps at most one core busy. To use every core, open a pool of queues; each call goes
to the queue with the fewest calls in progress::

    async with warpdrive.aio.open_pool("compress") as pool:   # one queue per usable CPU
        gzs = await asyncio.gather(*(pool.compress(c) for c in chunks))

How it runs: the queue's readiness fd (an eventfd the device signals) is watched with
``loop.add_reader``; there is no helper thread. Each wake-up drains every ready completion
(``recv_many``) and resolves the waiting futures by tag, then re-arms the interrupt (if
arming finds a completion already there, it drains again at once). When the ring is full,
senders wait for space instead of failing.

Cancelling a task only stops *waiting*: its buffers stay inside the queue until the device
answers, and that completion is then discarded. Closing the queue waits for everything in
flight. Works with any asyncio loop that implements ``add_reader`` (the default selector
loop, uvloop). A pool is N such queues on the same loop: its ``compress`` / ``decompress``
behave like a queue's, and closing it waits for every call in progress.

Compressed files: :func:`open` (``warpdrive.aio.open``) is :func:`warpdrive.open` for
asyncio (``await f.read(n)``, ``async for line in f``, ``await f.write(data)``).
"""

from __future__ import annotations

from ._aio_pool import MAX_DEFAULT_POOL, AsyncQueuePool, default_pool_size, open_pool
from ._aio_queue import AsyncQueue
from .aiofile import AsyncBinaryFile, AsyncFile, AsyncTextFile, open
from .types import Direction

__all__ = [
    "MAX_DEFAULT_POOL",
    "AsyncBinaryFile",
    "AsyncFile",
    "AsyncQueue",
    "AsyncQueuePool",
    "AsyncTextFile",
    "default_pool_size",
    "open",
    "open_pool",
    "open_queue",
]

# The queue and the pool are defined in private modules (buffers in _aio_buffers,
# the loop, state and readiness in _aio_driver, the requests in _aio_queue, the pool in
# _aio_pool) and are this module's.
for _public in (AsyncQueue, AsyncQueuePool, default_pool_size, open_pool):
    _public.__module__ = __name__
del _public


def open_queue(
    direction: Direction = "compress", device: str | None = None, *, background: bool = True
) -> AsyncQueue:
    """Opens a queue for asyncio: ``async with open_queue("compress") as q: ...``.

    ``device`` as for :func:`warpdrive.open_queue`. ``background`` (default on, unlike
    :func:`warpdrive.open_queue`): the soft device's thread runs at idle priority, so the
    event loop's thread never waits for a core behind it (without it, on a machine whose
    cores the device threads keep busy, the loop may wait several milliseconds each time it
    wakes up); the price is that other busy threads and processes slow the device down.
    """
    return AsyncQueue(direction, device, background=background)
