"""Where an asyncio queue (:mod:`warpdrive.aio`) gets its device buffers, and where it lets
them go, without making its event loop wait.

Sharing memory with the device takes system calls (mapping it; on VFIO also pinning its
pages and mapping them in the IOMMU), and so does unsharing it. Buffers are kept for reuse
in one place: the buffer cache of the queue's DMA domain, in wd-core, which the sync paths
use too. Taking a buffer from it, or giving one back, is no system call, so the loop does
both itself. What the cache cannot serve is a new share: the loop makes a small one
(:data:`SHARE_ON_LOOP` bytes at most) itself, a larger one on an executor thread; and a
large buffer the cache has no room for is dropped (unshared) on an executor thread too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _core

if TYPE_CHECKING:
    import asyncio

    from ._core import DmaBuf

__all__ = ["SHARE_ON_LOOP", "give", "new_share", "take", "take_now"]

#: Largest new buffer shared on the loop itself; larger ones are shared (and unshared) on an
#: executor thread.
SHARE_ON_LOOP = 1 << 20


def new_share(q: _core.Queue, size: int) -> DmaBuf:
    """A newly shared buffer of ``size`` bytes (what the cache could not serve)."""
    return q.alloc(size)


def take_now(q: _core.Queue, size: int) -> DmaBuf | None:
    """A buffer of ``size`` bytes: from the cache, else newly shared if it is small; None
    when a large new share should be made off the loop (see :func:`take`)."""
    buf = _core._alloc_cached(q, size)
    if buf is None and size <= SHARE_ON_LOOP:
        # Sharing new memory does not wait for the device (wd-core does not hold the share
        # registry while it works): a system call or two, done here.
        buf = new_share(q, size)
    return buf


async def take(q: _core.Queue, size: int, loop: asyncio.AbstractEventLoop) -> DmaBuf:
    """Like :func:`take_now`, but a large new share is made on an executor thread of
    ``loop``."""
    buf = take_now(q, size)
    if buf is None:
        buf = await loop.run_in_executor(None, new_share, q, size)
    return buf


def _release(buf: object) -> None:
    """Drops the last reference to ``buf`` (in an executor thread)."""
    del buf


def give(buf: DmaBuf | None, loop: asyncio.AbstractEventLoop | None) -> None:
    """Gives ``buf`` back to the cache. A buffer the device still owns (sent) is left alone;
    one the cache has no room for is let go: a large one is unshared on an executor thread
    of ``loop`` (if any), a small one here."""
    if buf is None or not buf.valid or _core._cache_buffer(buf):
        return
    if buf.capacity > SHARE_ON_LOOP and loop is not None:
        loop.run_in_executor(None, _release, buf)
