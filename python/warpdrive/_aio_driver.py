"""What drives an asyncio queue (:mod:`warpdrive.aio`) under its requests: the event loop it
is bound to, its state (open, closed, failed, forked), and the readiness of its completions.

The queue's readiness fd (an eventfd the device signals) is watched with
``loop.add_reader``. Each wake-up drains every ready completion (``recv_many``) and
resolves the waiting futures by tag, then re-arms the interrupt (if arming finds a completion
already there, it drains again at once). Tasks wait here for ring space, for a completion of
``send`` and for the queue to be idle.
"""

from __future__ import annotations

import asyncio
import collections
import weakref
from typing import TYPE_CHECKING, Any

from . import _aio_buffers, _core, _fork
from .errors import BadRequestError, ForkedError, QueueClosedError, WarpDriveError

if TYPE_CHECKING:
    from ._core import Completion

__all__ = ["Driver"]

#: Most completions routed in one callback of the loop (each wakes a task); more wait for
#: the next turn.
DRAIN_BATCH = 64
#: From this many requests in flight on a queue, the loop arms its interrupt moderated
#: (the device holds it for at most 4 completions, so this many keep it busy meanwhile).
MODERATE_FROM = 8

_live: weakref.WeakSet[Driver] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for d in list(_live):
        d.forked_in_child()


_fork.hooks.append(_after_fork_in_child)


class Driver:
    """Binds one queue to the event loop that first uses it and wakes the queue's tasks.

    The buffers of a request whose waiter was cancelled go back to the core's buffer cache
    (:func:`warpdrive._aio_buffers.give`)."""

    def __init__(self, q: _core.Queue) -> None:
        self.q = q
        self.fd = q.fileno()
        self.loop: asyncio.AbstractEventLoop | None = None
        # Futures of claimed requests: tag -> future. A cancelled future's completion is
        # dropped.
        self._waiting: dict[int, asyncio.Future[Completion]] = {}
        # Completions nobody claimed (of ``send``), for ``recv``.
        self._unclaimed: collections.deque[Completion] = collections.deque()
        self._recv_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._space_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._armed = False
        self._drain_scheduled = False
        self._reader_added = False
        self.closed = False
        self.forked = False
        #: What broke the queue (it then refuses every call), or None.
        self.error: BaseException | None = None
        _live.add(self)

    # ----------------------------------------------------------------- lifecycle

    def loop_now(self) -> asyncio.AbstractEventLoop:
        """The running loop, which must be the queue's."""
        loop = asyncio.get_running_loop()
        if self.loop is not None and self.loop is not loop:
            raise BadRequestError("this queue is used by another event loop")
        return loop

    def attach(self) -> None:
        """Binds the queue to the running loop and watches its fd there (once)."""
        if self._reader_added:
            return
        self.check_usable()
        self.loop = self.loop_now()
        self.loop.add_reader(self.fd, self._on_readable)
        self._reader_added = True

    def detach(self) -> None:
        if self._reader_added and self.loop is not None:
            self.loop.remove_reader(self.fd)
        self._reader_added = False

    def shut(self) -> None:
        """Marks the queue closed: stops watching it and fails every waiter."""
        self.closed = True
        self.detach()
        self._fail_all(QueueClosedError("queue is closed"))

    def forked_in_child(self) -> None:
        # The queue, its eventfd and its requests are the parent's: fail the waiters. The
        # reader is NOT removed: the child's copy of the loop may share its epoll instance
        # with the parent's loop, and unregistering here would unregister it there too.
        # The callback does nothing in the child instead.
        self.forked = True
        self._reader_added = False
        self._fail_all(ForkedError("queue used after fork; open a new one in the child"))

    def check_usable(self) -> None:
        """Raises why the queue cannot take a call: forked, closed or failed."""
        if self.forked:
            raise ForkedError(
                "queue used after fork: a queue belongs to the process that opened it; "
                "open a new one in the child"
            )
        if self.closed:
            raise QueueClosedError("queue is closed")
        if self.error is not None:
            raise QueueClosedError(f"queue failed: {self.error}") from self.error

    # ----------------------------------------------------------------- waiting

    def claim(self, tag: int, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Completion]:
        """The future of the completion of the request ``tag`` (just sent): it will not be
        seen by :meth:`next_unclaimed`."""
        fut: asyncio.Future[Completion] = loop.create_future()
        self._waiting[tag] = fut
        return fut

    async def wait_space(self) -> None:
        """Waits until the ring has room for a request."""
        while self.q.is_full:
            self.check_usable()
            fut: asyncio.Future[None] = self.loop_now().create_future()
            self._space_waiters.append(fut)
            self.kick()
            try:
                await fut
            except asyncio.CancelledError:
                # If we were woken but cancelled, hand the slot to the next waiter.
                if fut.done() and not fut.cancelled():
                    self._wake_space()
                raise

    async def next_unclaimed(self) -> Completion:
        """The next completion nobody claimed, in completion order."""
        loop = self.loop_now()
        while not self._unclaimed:
            self.check_usable()
            if self.q.outstanding == 0:
                raise BadRequestError("nothing in flight: receiving would wait forever")
            fut: asyncio.Future[None] = loop.create_future()
            self._recv_waiters.append(fut)
            self.kick()
            try:
                await fut
            except asyncio.CancelledError:
                # Woken but cancelled: let the next receiver take the completion.
                if fut.done() and not fut.cancelled() and self._unclaimed:
                    self._wake_receiver()
                raise
        return self._unclaimed.popleft()

    async def wait_idle(self) -> None:
        """Waits until nothing is in flight (or the queue fails)."""
        while self.error is None and self.q.outstanding > 0:
            self.attach()
            fut: asyncio.Future[None] = self.loop_now().create_future()
            self._idle_waiters.append(fut)
            self.kick()
            await fut

    # ----------------------------------------------------------------- readiness

    def _on_readable(self) -> None:
        if self.forked:
            return
        self.q.clear_readiness()
        self._armed = False
        self._drain()

    def _arm(self) -> bool:
        """Arms the queue's interrupt; with many requests in flight the device may wait
        for a few more completions before it wakes the loop (fewer wake-ups per request,
        and none of the device's time lost: it has work in hand)."""
        q = self.q
        return q.arm_interrupt(q.outstanding >= MODERATE_FROM)

    def kick(self) -> None:
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
            assert self.loop is not None
            self.loop.call_soon(self._scheduled_drain)

    def _scheduled_drain(self) -> None:
        self._drain_scheduled = False
        self._drain()

    def _drain(self) -> None:
        q = self.q
        budget = DRAIN_BATCH
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
                _aio_buffers.give(c.src, self.loop)
                _aio_buffers.give(c.dst, self.loop)
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
        free = _core.MAX_OUTSTANDING - self.q.outstanding
        while free > 0 and self._space_waiters:
            w = self._space_waiters.popleft()
            if not w.done():
                w.set_result(None)
                free -= 1

    def _broken(self, e: BaseException) -> None:
        self.error = e
        self.detach()
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
