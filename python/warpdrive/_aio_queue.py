"""The asyncio queue of :mod:`warpdrive.aio`: its requests (``send``/``recv``/``submit``,
``compress``/``decompress``) over a :class:`~warpdrive._aio_driver.Driver` (loop, state,
readiness), with device buffers from the core's buffer cache (:mod:`~warpdrive._aio_buffers`)."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Self

from . import _aio_buffers, _core
from ._aio_driver import Driver
from .devices import check_device
from .errors import BadRequestError
from .types import DEFAULT_LEVEL, Direction, Format, Status

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Buffer

    from ._core import Completion, DmaBuf

__all__ = ["AsyncQueue"]

#: Statuses of a decompression that failed on its input: checksum, need input, data error.
_DECODE_ERRORS = frozenset({Status.CHECKSUM_ERROR, Status.NEED_INPUT, Status.DATA_ERROR})


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
        self._next_tag = 1
        self._driver = Driver(self._q)

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
        return self._driver.fd

    def alloc(self, size: int) -> DmaBuf:
        """A device-shared buffer of ``size`` bytes (see :class:`warpdrive.DmaBuf`)."""
        self._driver.check_usable()
        return self._q.alloc(size)

    # ----------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Self:
        self._driver.attach()
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
        d = self._driver
        if d.closed:
            return
        if d.forked:
            d.closed = True
            self._q.close()
            return
        try:
            await d.wait_idle()
        finally:
            self._close_now()

    def _close_now(self) -> None:
        """Closes at once: waiters fail, and the core drains what is still in flight."""
        self._driver.shut()
        if not self._driver.forked:
            self._q.close()

    def _give(self, buf: DmaBuf | None) -> None:
        _aio_buffers.give(buf, self._driver.loop)

    # ----------------------------------------------------------------- requests

    def _send_claimed(
        self, data: Buffer, dst: DmaBuf, format: Format, level: int
    ) -> asyncio.Future[Completion]:
        """Sends a request reading ``data`` now (the ring has room) and returns the future of
        its completion. A refused request gives ``dst`` back to the cache."""
        d = self._driver
        loop = d.loop_now()
        tag = self._next_tag
        self._next_tag += 1
        try:
            self._q.send_bytes(data, dst, format=format, level=level, tag=tag)
        except BaseException:
            self._give(dst)
            raise
        fut = d.claim(tag, loop)
        d.kick()
        return fut

    async def _request(
        self, view: memoryview, space: int, format: Format, level: int
    ) -> Completion:
        """One request of ``compress`` / ``decompress``: ``view`` in, ``space`` bytes of room
        for the output. Awaits nothing but the completion unless it must (ring full, large
        new buffers): fewer objects per request, so the cyclic GC runs less often. The input
        goes to the queue as it is (:meth:`Queue.send_bytes`): a device that reads in place
        (``Queue.reads_in_place``) reads ``bytes`` there, so the loop copies nothing in."""
        d = self._driver
        d.attach()
        d.check_usable()
        dst = _aio_buffers.take_now(self._q, space)
        if dst is None:
            dst = await _aio_buffers.take(self._q, space, d.loop_now())
        try:
            if self._q.is_full:
                await d.wait_space()
            d.check_usable()
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
        d = self._driver
        d.attach()
        d.check_usable()
        await d.wait_space()
        d.check_usable()
        # Before sending: a request must not go out when its waiter cannot be made.
        loop = d.loop_now()
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
            fut = d.claim(tag, loop)
        d.kick()
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
        return await self._driver.next_unclaimed()

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
        self._driver.check_usable()
        view = memoryview(data).cast("B")
        space = _core.compress_bound(len(view))
        if not _core.memlock_fits(self._q.kind, len(view), space):
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
        more room, up to ``max_length``, as the core's one-request decompression grows it;
        past the most room it gives one request the rest is decoded as a stream that goes
        on on the device (in the loop's default executor).
        """
        if self._direction != "decompress":
            raise BadRequestError("this queue compresses; open one with direction='compress'")
        self._driver.check_usable()
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
            # Room for the output (the device fills the whole buffer, which the cache may
            # give larger): the core's guess and then its retries, within the limit.
            room: int | None = _core._output_guess(rest, format, left)
            while True:
                if room is None or not _core.memlock_fits(self._q.kind, len(rest), room):
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
                    # More room, a stream past the most one request is given, or
                    # OutputLimitError once the output is over the limit (the core's rule).
                    room = _core._retry_room(room, left, max_length)
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
