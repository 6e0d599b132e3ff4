"""The buffer cache of an asyncio queue (:mod:`warpdrive.aio`).

Sharing memory with the device takes system calls (mapping it; on VFIO also pinning its
pages and mapping them in the IOMMU), and so does releasing it; reusing the buffers of
finished requests saves both on every request. Buffers are kept by capacity, a power of two
from :data:`MIN_BUF` to :data:`MAX_BUF`, up to :data:`LIMIT` bytes in all. A large new
buffer is shared, and one let go is released, on an executor thread, off the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

__all__ = ["LIMIT", "MAX_BUF", "MIN_BUF", "SHARE_ON_LOOP", "BufferCache", "capacity", "limit_for"]

#: Smallest buffer the cache makes, and largest it keeps.
MIN_BUF = 4096
MAX_BUF = 16 << 20
#: Most bytes one queue's cache keeps.
LIMIT = 64 << 20
#: Largest new buffer shared on the loop itself; larger ones are shared (and released) on an
#: executor thread.
SHARE_ON_LOOP = 1 << 20


class Buf(Protocol):
    """What the cache needs of a buffer (a :class:`warpdrive.DmaBuf`)."""

    @property
    def capacity(self) -> int: ...
    @property
    def valid(self) -> bool: ...
    def resize(self, length: int) -> None: ...


B = TypeVar("B", bound=Buf)


def capacity(n: int) -> int:
    """The capacity of the cache's buffer for ``n`` bytes: a power of two, at least
    :data:`MIN_BUF`."""
    return max(MIN_BUF, 1 << (max(n, 1) - 1).bit_length())


def limit_for(queues: int) -> int:
    """The limit of each cache when ``queues`` queues share the memory of one
    (:data:`LIMIT`), but never so low that two of the largest buffers do not fit."""
    return max(LIMIT // queues, 2 * MAX_BUF)


def _release(buf: object) -> None:
    """Drops the last reference to ``buf`` (in an executor thread)."""
    del buf


class BufferCache(Generic[B]):
    """Buffers of finished requests kept for reuse, by capacity. ``alloc(capacity)`` makes a
    new one. Used from the event loop's thread only."""

    def __init__(self, alloc: Callable[[int], B], limit: int = LIMIT) -> None:
        self._alloc = alloc
        self._kept: dict[int, list[B]] = {}
        #: Bytes kept, and the most that may be.
        self.bytes = 0
        self.limit = limit

    def take_now(self, size: int) -> B | None:
        """A buffer of ``size`` bytes: from the cache, else newly shared if it is small; None
        when a large new share should be made off the loop (see :meth:`take`)."""
        cap = capacity(size)
        bucket = self._kept.get(cap)
        if bucket:
            buf = bucket.pop()
            self.bytes -= cap
        elif cap <= SHARE_ON_LOOP:
            # Sharing new memory does not wait for the device (wd-core does not hold the
            # share registry while it works): a system call or two, done here.
            buf = self._alloc(cap)
        else:
            return None
        buf.resize(size)
        return buf

    async def take(self, size: int, loop: asyncio.AbstractEventLoop) -> B:
        """Like :meth:`take_now`, but a large new share is made on an executor thread of
        ``loop``."""
        buf = self.take_now(size)
        if buf is None:
            buf = await loop.run_in_executor(None, self._alloc, capacity(size))
            buf.resize(size)
        return buf

    def give(self, buf: B | None, loop: asyncio.AbstractEventLoop | None) -> None:
        """Keeps ``buf`` for reuse. A buffer the device still owns (sent), one the cache did
        not make, or one over the limit is let go: a large one is released on an executor
        thread of ``loop`` (if any)."""
        if buf is None or not buf.valid:
            return
        cap = buf.capacity
        if cap & (cap - 1) or cap > MAX_BUF or self.bytes + cap > self.limit:
            if cap > SHARE_ON_LOOP and loop is not None:
                loop.run_in_executor(None, _release, buf)
            return
        self._kept.setdefault(cap, []).append(buf)
        self.bytes += cap

    def clear(self) -> None:
        """Lets every kept buffer go."""
        self._kept.clear()
        self.bytes = 0

    def __len__(self) -> int:
        """The number of buffers kept."""
        return sum(len(b) for b in self._kept.values())
