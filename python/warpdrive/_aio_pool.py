"""The pool of asyncio queues of :mod:`warpdrive.aio`: :class:`AsyncQueuePool` and
:func:`open_pool`. Each call goes, whole, to the queue with the fewest calls in progress."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Self

from ._aio_queue import AsyncQueue
from .errors import BadRequestError, QueueClosedError
from .types import DEFAULT_LEVEL, Direction, Format

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Buffer

__all__ = ["MAX_DEFAULT_POOL", "AsyncQueuePool", "default_pool_size", "open_pool"]

#: Most queues :func:`open_pool` opens when not told how many.
MAX_DEFAULT_POOL = 8


class AsyncQueuePool:
    """Several queues of one direction, driven by one event loop. Create it with
    :func:`open_pool`.

    Every :meth:`compress` / :meth:`decompress` call goes, whole, to the queue with the fewest
    calls in progress (ties go to the queue picked last), so the pool keeps up to ``len(pool)``
    device workers busy at once (on the soft device, one thread per queue). Same errors,
    cancellation and fork behaviour as :class:`AsyncQueue`.
    """

    def __init__(
        self,
        direction: Direction = "compress",
        *,
        queues: int | None = None,
        device: str | None = None,
        background: bool = True,
    ) -> None:
        n = default_pool_size() if queues is None else _check_pool_size(queues)
        opened: list[AsyncQueue] = []
        try:
            for _ in range(n):
                opened.append(AsyncQueue(direction, device, background=background))
        except BaseException:
            for q in opened:
                q._close_now()
            raise
        self._queues = tuple(opened)
        self._direction: Direction = direction
        # Calls in progress on each queue; their sum; where the next tie-break starts.
        self._load = [0] * n
        self._calls = 0
        self._next = 0
        self._closing = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle_waiters: list[asyncio.Future[None]] = []

    # ----------------------------------------------------------------- properties

    @property
    def direction(self) -> Direction:
        """``"compress"`` or ``"decompress"``, fixed at open."""
        return self._direction

    @property
    def queues(self) -> tuple[AsyncQueue, ...]:
        """The pool's queues (for their ``device``, ``stats`` and ``outstanding``)."""
        return self._queues

    @property
    def outstanding(self) -> int:
        """Requests in flight on all the queues (including those of cancelled waiters)."""
        return sum(q.outstanding for q in self._queues)

    def __len__(self) -> int:
        """The number of queues."""
        return len(self._queues)

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        self._check_usable()
        for q in self._queues:
            q._driver.attach()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Refuses new calls, waits for the calls in progress and for every request in
        flight, then stops the devices. Idempotent."""
        if self._closed:
            return
        forked = self._queues[0]._driver.forked
        if not forked and self._loop not in (None, asyncio.get_running_loop()):
            raise BadRequestError("this pool is used by another event loop")
        self._closing = True
        try:
            # A call may send more than one request (a decompression that needs more room),
            # so wait for the calls, not only for what is in flight right now. In a fork
            # child the calls are the parent's: nothing to wait for.
            while self._calls > 0 and not forked:
                fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._idle_waiters.append(fut)
                await fut
            await asyncio.gather(*(q.aclose() for q in self._queues))
        finally:
            self._closed = True
            for q in self._queues:
                if not q._driver.closed:
                    q._close_now()

    def _check_usable(self) -> None:
        first = self._queues[0]._driver
        if first.forked:
            first.check_usable()  # ForkedError, as a queue's
        if self._closed or self._closing:
            raise QueueClosedError("queue pool is closed")
        # Every queue is bound to the loop that first uses it; so is the pool as a whole.
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise BadRequestError("this pool is used by another event loop")

    # ----------------------------------------------------------------- dispatch

    def _pick(self) -> int:
        """The queue with the fewest calls in progress, skipping failed queues. Ties go to
        the queue picked last, then on round the queues: one call at a time stays on one
        queue, whose device is still polling for work, instead of waking another."""
        self._check_usable()
        qs = self._queues
        load = self._load
        n = len(qs)
        i = self._next
        best = -1
        for _ in range(n):
            if qs[i]._driver.error is None and (best < 0 or load[i] < load[best]):
                best = i
                if load[i] == 0:
                    break
            i = i + 1 if i + 1 < n else 0
        if best < 0:
            best = self._next  # every queue failed: its call raises the failure
        self._next = best
        load[best] += 1
        self._calls += 1
        return best

    def _done(self, i: int) -> None:
        self._load[i] -= 1
        self._calls -= 1
        if self._calls == 0 and self._idle_waiters:
            for f in self._idle_waiters:
                if not f.done():
                    f.set_result(None)
            self._idle_waiters.clear()

    # ----------------------------------------------------------------- public API

    async def compress(
        self, data: Buffer, format: Format = "gzip", level: int = DEFAULT_LEVEL
    ) -> bytes:
        """Compresses ``data`` into one complete stream, on one of the queues
        (see :meth:`AsyncQueue.compress`)."""
        if self._direction != "compress":
            raise BadRequestError("this pool decompresses; open one with direction='compress'")
        i = self._pick()
        try:
            return await self._queues[i].compress(data, format, level)
        finally:
            self._done(i)

    async def decompress(
        self, data: Buffer, format: Format = "gzip", max_length: int | None = None
    ) -> bytes:
        """Decompresses one stream, on one of the queues (see :meth:`AsyncQueue.decompress`)."""
        if self._direction != "decompress":
            raise BadRequestError("this pool compresses; open one with direction='decompress'")
        i = self._pick()
        try:
            return await self._queues[i].decompress(data, format, max_length)
        finally:
            self._done(i)


def default_pool_size() -> int:
    """The queues :func:`open_pool` opens by default: one per CPU this process may run on
    (``os.sched_getaffinity``), at most ``MAX_DEFAULT_POOL``."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_POOL))


def _check_pool_size(queues: object) -> int:
    if isinstance(queues, bool) or not isinstance(queues, int) or queues < 1:
        raise BadRequestError(
            f"queues must be a whole number >= 1 (or None: one per CPU), not {queues!r}"
        )
    return queues


def open_pool(
    direction: Direction = "compress",
    *,
    queues: int | None = None,
    device: str | None = None,
    background: bool = True,
) -> AsyncQueuePool:
    """Opens several queues for asyncio: ``async with open_pool("compress") as p: ...``.

    ``queues``: how many (default :func:`default_pool_size`, one per usable CPU up to
    ``MAX_DEFAULT_POOL``); ``device`` as for :func:`warpdrive.open_queue` and
    ``background`` as for :func:`open_queue`, for every queue.
    """
    return AsyncQueuePool(direction, queues=queues, device=device, background=background)
