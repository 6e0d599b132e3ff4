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

import asyncio
import collections
import functools
import os
import weakref
from typing import TYPE_CHECKING, Any, Self

from . import _core, _fork
from .aiofile import AsyncBinaryFile, AsyncFile, AsyncTextFile, open
from .devices import check_device
from .errors import (
    BadRequestError,
    ForkedError,
    QueueClosedError,
    WarpDriveError,
)
from .types import DEFAULT_LEVEL, Direction, Format, Status

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Buffer

    from ._core import Completion, DmaBuf

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


#: Most queues :func:`open_pool` opens when not told how many.
MAX_DEFAULT_POOL = 8
#: Most completions routed in one callback of the loop (each wakes a task); more wait for
#: the next turn.
_DRAIN_BATCH = 64
#: From this many requests in flight on a queue, the loop arms its interrupt moderated
#: (the device holds it for at most 4 completions, so this many keep it busy meanwhile).
_MODERATE_FROM = 8

_live: weakref.WeakSet[AsyncQueue] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for q in list(_live):
        q._forked_in_child()


_fork.hooks.append(_after_fork_in_child)


class AsyncQueue:
    """A device queue driven by an asyncio event loop. Create it with :func:`open_queue`."""

    def __init__(
        self,
        direction: Direction = "compress",
        device: str | None = None,
        *,
        background: bool = True,
    ) -> None:
        self._q = _core.Queue(direction, check_device(device), background=background)
        self._direction: Direction = direction
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fd = self._q.fileno()
        self._next_tag = 1
        # Futures of submit(): tag -> future. A cancelled future's completion is dropped.
        self._waiting: dict[int, asyncio.Future[Completion]] = {}
        # Completions of send(), for recv().
        self._unclaimed: collections.deque[Completion] = collections.deque()
        self._recv_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._space_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._armed = False
        self._drain_scheduled = False
        self._reader_added = False
        self._closed = False
        self._forked = False
        self._error: BaseException | None = None
        # Buffers of finished requests kept for reuse, by capacity (a power of two). Making
        # and dropping a share takes the domain's registry lock, which the soft device holds
        # while it works on a request; reusing buffers keeps the event loop from waiting.
        self._pool: dict[int, list[DmaBuf]] = {}
        self._pool_bytes = 0
        self._pool_limit = _POOL_BYTES
        _live.add(self)

    # ----------------------------------------------------------------- properties

    @property
    def direction(self) -> Direction:
        """``"compress"`` or ``"decompress"``, fixed at open."""
        return self._direction

    @property
    def device(self) -> str:
        """The device serving the queue."""
        return self._q.device

    @property
    def outstanding(self) -> int:
        """Requests in flight (including those whose waiter was cancelled)."""
        return self._q.outstanding

    @property
    def stats(self) -> _core.Stats:
        """The queue's counters."""
        return self._q.stats

    def fileno(self) -> int:
        """The readiness fd watched by the loop."""
        return self._fd

    def alloc(self, size: int) -> DmaBuf:
        """A device-shared buffer of ``size`` bytes (see :class:`warpdrive.DmaBuf`)."""
        self._check_usable()
        return self._q.alloc(size)

    # ----------------------------------------------------------------- buffer pool

    def _take_now(self, size: int) -> DmaBuf | None:
        """A buffer of ``size`` bytes: from the cache, else newly shared if it is small; None
        when a large new share should be made off the loop (see :meth:`_take`)."""
        cap = _pow2(size)
        bucket = self._pool.get(cap)
        if bucket:
            buf = bucket.pop()
            self._pool_bytes -= cap
        elif cap <= _SHARE_ON_LOOP:
            # Sharing new memory does not wait for the device (wd-core no longer holds the
            # share registry while it works): a system call or two, done here.
            buf = self._q.alloc(cap)
        else:
            return None
        buf.resize(size)
        return buf

    async def _take(self, size: int) -> DmaBuf:
        """Like :meth:`_take_now`, but a large new share (mapping and, on VFIO, pinning many
        pages) is made on an executor thread."""
        buf = self._take_now(size)
        if buf is None:
            cap = _pow2(size)
            buf = await self._loop_now().run_in_executor(None, self._q.alloc, cap)
            buf.resize(size)
        return buf

    def _give(self, buf: DmaBuf | None) -> None:
        if buf is None or not buf.valid:
            return
        cap = buf.capacity
        if cap & (cap - 1) or cap > _POOL_MAX_BUF or self._pool_bytes + cap > self._pool_limit:
            # Not one of ours, or the pool is full: let it go. Unsharing a large buffer
            # (unmapping, unpinning its pages) is done off the loop.
            if cap > _SHARE_ON_LOOP and self._loop is not None:
                self._loop.run_in_executor(None, _release, buf)
            return
        self._pool.setdefault(cap, []).append(buf)
        self._pool_bytes += cap

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        self._attach()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Waits for every request in flight (their buffers must outlive the device's
        work), then stops the device. Idempotent."""
        if self._closed:
            return
        if self._forked:
            self._closed = True
            self._q.close()
            return
        try:
            while self._error is None and self._q.outstanding > 0:
                self._attach()
                fut: asyncio.Future[None] = self._loop_now().create_future()
                self._idle_waiters.append(fut)
                self._kick()
                await fut
        finally:
            self._close_now()

    def _close_now(self) -> None:
        """Closes at once: waiters fail, and the core drains what is still in flight."""
        self._closed = True
        self._detach()
        self._fail_all(QueueClosedError("queue is closed"))
        self._pool.clear()
        self._pool_bytes = 0
        if not self._forked:
            self._q.close()

    def _loop_now(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise BadRequestError("this queue is used by another event loop")
        return loop

    def _attach(self) -> None:
        if self._reader_added:
            return
        self._check_usable()
        self._loop = self._loop_now()
        self._loop.add_reader(self._fd, self._on_readable)
        self._reader_added = True

    def _detach(self) -> None:
        if self._reader_added and self._loop is not None:
            self._loop.remove_reader(self._fd)
        self._reader_added = False

    def _forked_in_child(self) -> None:
        # The queue, its eventfd and its requests are the parent's: fail the waiters. The
        # reader is NOT removed: the child's copy of the loop may share its epoll instance
        # with the parent's loop, and unregistering here would unregister it there too.
        # The callback does nothing in the child instead.
        self._forked = True
        self._reader_added = False
        self._fail_all(ForkedError("queue used after fork; open a new one in the child"))

    def _check_usable(self) -> None:
        if self._forked:
            raise ForkedError(
                "queue used after fork: a queue belongs to the process that opened it; "
                "open a new one in the child"
            )
        if self._closed:
            raise QueueClosedError("queue is closed")
        if self._error is not None:
            raise QueueClosedError(f"queue failed: {self._error}") from self._error

    # ----------------------------------------------------------------- the driver

    def _on_readable(self) -> None:
        if self._forked:
            return
        self._q.clear_readiness()
        self._armed = False
        self._drain()

    def _arm(self) -> bool:
        """Arms the queue's interrupt; with many requests in flight the device may wait
        for a few more completions before it wakes the loop (fewer wake-ups per request,
        and none of the device's time lost: it has work in hand)."""
        q = self._q
        return q.arm_interrupt(q.outstanding >= _MODERATE_FROM)

    def _kick(self) -> None:
        """Makes sure a completion will wake us: arm, or drain now if one is ready."""
        if self._armed or self._drain_scheduled:
            return
        try:
            armed = self._arm()
        except WarpDriveError as e:
            self._broken(e)
            return
        if armed:
            self._armed = True
        else:
            self._schedule_drain()

    def _schedule_drain(self) -> None:
        if not self._drain_scheduled:
            self._drain_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._scheduled_drain)

    def _scheduled_drain(self) -> None:
        self._drain_scheduled = False
        self._drain()

    def _drain(self) -> None:
        q = self._q
        budget = _DRAIN_BATCH
        try:
            while True:
                got = q.recv_many(budget)
                if got:
                    # recv_many told the device our new CQ head, which disarms it.
                    self._armed = False
                    for c in got:
                        self._route(c)
                    budget -= len(got)
                    if budget == 0:
                        # Perhaps more are ready: take them on the next turn of the loop, so
                        # that one callback stays short and the woken tasks run in between.
                        self._schedule_drain()
                        break
                    continue
                if q.outstanding == 0:
                    break
                if self._arm():
                    self._armed = True
                    break
        except WarpDriveError as e:
            self._broken(e)
            return
        self._wake_space()
        if q.outstanding == 0:
            for f in self._idle_waiters:
                if not f.done():
                    f.set_result(None)
            self._idle_waiters.clear()

    def _route(self, c: Completion) -> None:
        fut = self._waiting.pop(c.tag, None)
        if fut is not None:
            if not fut.done():
                fut.set_result(c)
            else:
                # A cancelled waiter: the completion is dropped, its buffers are reused.
                self._give(c.src)
                self._give(c.dst)
            return
        self._unclaimed.append(c)
        self._wake_receiver()

    def _wake_receiver(self) -> None:
        while self._recv_waiters:
            w = self._recv_waiters.popleft()
            if not w.done():
                w.set_result(None)
                break

    def _wake_space(self) -> None:
        free = _core.MAX_OUTSTANDING - self._q.outstanding
        while free > 0 and self._space_waiters:
            w = self._space_waiters.popleft()
            if not w.done():
                w.set_result(None)
                free -= 1

    def _broken(self, e: BaseException) -> None:
        self._error = e
        self._detach()
        self._fail_all(e)

    def _fail_all(self, e: BaseException) -> None:
        waiting = list(self._waiting.values())
        self._waiting.clear()
        futs: list[asyncio.Future[Any]] = [
            *waiting,
            *self._recv_waiters,
            *self._space_waiters,
            *self._idle_waiters,
        ]
        for f in futs:
            if not f.done():
                f.set_exception(e)
        self._recv_waiters.clear()
        self._space_waiters.clear()
        self._idle_waiters.clear()

    async def _wait_space(self) -> None:
        while self._q.is_full:
            self._check_usable()
            fut: asyncio.Future[None] = self._loop_now().create_future()
            self._space_waiters.append(fut)
            self._kick()
            try:
                await fut
            except asyncio.CancelledError:
                # If we were woken but cancelled, hand the slot to the next waiter.
                if fut.done() and not fut.cancelled():
                    self._wake_space()
                raise

    def _send_claimed(
        self, data: Buffer, dst: DmaBuf, format: Format, level: int
    ) -> asyncio.Future[Completion]:
        """Sends a request reading ``data`` now (the ring has room) and returns the future of
        its completion. A refused request gives ``dst`` back to the cache."""
        loop = self._loop_now()
        tag = self._next_tag
        self._next_tag += 1
        try:
            self._q.send_bytes(data, dst, format=format, level=level, tag=tag)
        except BaseException:
            self._give(dst)
            raise
        fut: asyncio.Future[Completion] = loop.create_future()
        self._waiting[tag] = fut
        self._kick()
        return fut

    async def _request(
        self, view: memoryview, space: int, format: Format, level: int
    ) -> Completion:
        """One request of ``compress`` / ``decompress``: ``view`` in, ``space`` bytes of room
        for the output. Awaits nothing but the completion unless it must (ring full, large
        new buffers): fewer objects per request, so the cyclic GC runs less often. The input
        goes to the queue as it is (:meth:`Queue.send_bytes`): the soft device reads
        ``bytes`` in place, so the loop copies nothing in."""
        self._attach()
        self._check_usable()
        dst = self._take_now(space)
        if dst is None:
            dst = await self._take(space)
        try:
            if self._q.is_full:
                await self._wait_space()
            self._check_usable()
        except BaseException:
            self._give(dst)
            raise
        return await self._send_claimed(view, dst, format, level)

    async def _submit(
        self,
        src: DmaBuf | None,
        dst: DmaBuf | None,
        format: Format,
        level: int,
        continue_stream: bool,
        claimed: bool,
    ) -> tuple[int, asyncio.Future[Completion] | None]:
        self._attach()
        self._check_usable()
        await self._wait_space()
        self._check_usable()
        # Before sending: a request must not go out when its waiter cannot be made.
        loop = self._loop_now()
        tag = self._next_tag
        self._next_tag += 1
        fut: asyncio.Future[Completion] | None = None
        if src is None or dst is None:
            self._q.send_nop(tag)
        else:
            self._q.send(
                src, dst, format=format, level=level, tag=tag, continue_stream=continue_stream
            )
        if claimed:
            fut = loop.create_future()
            self._waiting[tag] = fut
        self._kick()
        return tag, fut

    # ----------------------------------------------------------------- public API

    async def send(
        self,
        src: DmaBuf,
        dst: DmaBuf,
        *,
        format: Format = "gzip",
        level: int = DEFAULT_LEVEL,
        continue_stream: bool = False,
    ) -> int:
        """Submits a request (waiting for ring space if needed) and returns its tag. The
        buffers move into the queue; :meth:`recv` returns the completion."""
        tag, _ = await self._submit(src, dst, format, level, continue_stream, claimed=False)
        return tag

    async def send_nop(self) -> int:
        """Submits a no-op request; :meth:`recv` returns its completion."""
        tag, _ = await self._submit(None, None, "gzip", DEFAULT_LEVEL, False, claimed=False)
        return tag

    async def recv(self) -> Completion:
        """The next completion of a :meth:`send` (in completion order). To bound the wait,
        wrap it: ``async with asyncio.timeout(5): c = await q.recv()``."""
        loop = self._loop_now()
        while not self._unclaimed:
            self._check_usable()
            if self._q.outstanding == 0:
                raise BadRequestError("nothing in flight: receiving would wait forever")
            fut: asyncio.Future[None] = loop.create_future()
            self._recv_waiters.append(fut)
            self._kick()
            try:
                await fut
            except asyncio.CancelledError:
                # Woken but cancelled: let the next receiver take the completion.
                if fut.done() and not fut.cancelled() and self._unclaimed:
                    self._wake_receiver()
                raise
        return self._unclaimed.popleft()

    async def submit(
        self,
        src: DmaBuf,
        dst: DmaBuf,
        *,
        format: Format = "gzip",
        level: int = DEFAULT_LEVEL,
        continue_stream: bool = False,
    ) -> Completion:
        """Sends a request and waits for *its* completion (not seen by :meth:`recv`).
        Cancelling stops waiting; the buffers stay in the queue until the device answers."""
        _, fut = await self._submit(src, dst, format, level, continue_stream, claimed=True)
        assert fut is not None
        return await fut

    async def compress(
        self, data: Buffer, format: Format = "gzip", level: int = DEFAULT_LEVEL
    ) -> bytes:
        """Compresses ``data`` into one complete stream (one request; on a kernel device,
        input too large for one request under the locked-memory limit goes through the
        sync path's pieces instead, in the loop's default executor)."""
        if self._direction != "compress":
            raise BadRequestError("this queue decompresses; open one with direction='compress'")
        self._check_usable()
        view = memoryview(data).cast("B")
        space = _core.compress_bound(len(view))
        if not _core.memlock_fits(self._q.kind, len(view), _pow2(space)):
            # More than one request may pin under the locked-memory limit: the sync path
            # splits it into pieces that fit (off the event loop).
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, _core.compress, view, format, level)
        c = await self._request(view, space, format, level)
        self._give(c.src)
        try:
            c.check()
            assert c.dst is not None
            return c.dst.tobytes()
        finally:
            self._give(c.dst)

    async def decompress(
        self, data: Buffer, format: Format = "gzip", max_length: int | None = None
    ) -> bytes:
        """Decompresses one stream (gzip: one or more members, zero padding allowed between
        and after them), accepting exactly what zlib accepts; errors and ``max_length`` as
        for :func:`warpdrive.decompress`.

        Every request is a fresh stream, so any number of tasks can decompress on one queue
        at once; when the output does not fit the first guess (never more than the input
        can decode to, whatever a gzip trailer claims), the stream is decoded again with
        twice the room, up to ``max_length``; past 8 MiB of room the rest is decoded as a
        stream that goes on on the device (in the loop's default executor).
        """
        if self._direction != "decompress":
            raise BadRequestError("this queue compresses; open one with direction='compress'")
        self._check_usable()
        view = memoryview(data).cast("B")
        # Checks max_length (and the format) before anything is sent.
        _core._output_guess(b"", format, max_length)
        parts: list[bytes] = []
        total = 0
        pos = 0
        while True:
            rest = view[pos:]
            if not rest:
                raise _core._decode_error(rest, format, Status.NEED_INPUT)
            left = None if max_length is None else max_length - total
            space: int | None = _core._output_guess(rest, format, left)
            while True:
                # The whole buffer is room for the output (its capacity, a power of two),
                # but never more than the limit allows.
                room = 0 if space is None else _pow2(space)
                room = room if left is None else min(room, left + 1)
                if space is None or not _core.memlock_fits(self._q.kind, len(rest), room):
                    # More output than one request is given room for, or past what one
                    # request may pin under the locked-memory limit: the sync path decodes
                    # the rest as a stream, or in pieces that fit (off the event loop).
                    loop = asyncio.get_running_loop()
                    tail = await loop.run_in_executor(
                        None, functools.partial(_core.decompress, rest, format, max_length=left)
                    )
                    parts.append(tail)
                    return b"".join(parts)
                c = await self._request(rest, room, format, DEFAULT_LEVEL)
                self._give(c.src)
                if c.status == Status.OUTPUT_TOO_SMALL or (left is not None and c.produced > left):
                    self._give(c.dst)
                    # Twice the room, or OutputLimitError once the output is over the limit.
                    space = _core._retry_output_room(room, left, max_length)
                    continue
                if c.status in _DECODE_ERRORS:
                    self._give(c.dst)
                    raise _core._decode_error(rest, format, c.status)
                if not c.ok:
                    self._give(c.dst)
                    c.check()
                break
            out = c.dst
            assert out is not None
            parts.append(out.tobytes())
            total += c.produced
            self._give(out)
            pos += c.consumed
            skip = _core._after_stream(view[pos:], format)
            if skip is None:
                break
            pos += skip
        return b"".join(parts)


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
                q = AsyncQueue(direction, device, background=background)
                # The queues' buffer caches share the memory one queue may keep.
                q._pool_limit = max(_POOL_BYTES // n, 2 * _POOL_MAX_BUF)
                opened.append(q)
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
            q._attach()
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
        forked = self._queues[0]._forked
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
                if not q._closed:
                    q._close_now()

    def _check_usable(self) -> None:
        if self._queues[0]._forked:
            self._queues[0]._check_usable()  # ForkedError, as a queue's
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
            if qs[i]._error is None and (best < 0 or load[i] < load[best]):
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


#: Smallest pooled buffer, largest pooled buffer, and the pool's size limit.
_MIN_BUF = 4096
_POOL_MAX_BUF = 16 << 20
_POOL_BYTES = 64 << 20
#: Largest new buffer shared on the loop itself; larger ones are shared (and released) on an
#: executor thread.
_SHARE_ON_LOOP = 1 << 20
#: Statuses of a decompression that failed on its input: checksum, need input, data error.
_DECODE_ERRORS = frozenset({Status.CHECKSUM_ERROR, Status.NEED_INPUT, Status.DATA_ERROR})


def _pow2(n: int) -> int:
    """The capacity of the cache's buffer for ``n`` bytes."""
    return max(_MIN_BUF, 1 << (max(n, 1) - 1).bit_length())


def _release(buf: DmaBuf) -> None:
    """Drops the last reference to ``buf`` (in an executor thread)."""
    del buf


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
