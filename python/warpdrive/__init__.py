"""WarpDrive: user-space accelerator queues from Python.

- :func:`compress` / :func:`decompress`: stdlib-like one-shot calls (gzip, zlib, raw
  deflate); outputs are interchangeable with the ``zlib`` and ``gzip`` modules.
- :func:`compress_stream` / :func:`decompress_stream`: file objects in bounded memory.
- :func:`open_queue` returns a :class:`Queue`: send requests on device-shared
  :class:`DmaBuf` buffers and receive completions; :mod:`warpdrive.aio` drives a queue from
  asyncio.
- :func:`devices` lists what is present.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _core, _fork
from ._core import (
    MAX_OUTSTANDING,
    Completion,
    DmaBuf,
    Queue,
    Stats,
    compress_bound,
    compress_stream,
    decompress_stream,
)
from .devices import DeviceInfo, check_device, devices
from .errors import (
    BadDataError,
    BadHeaderError,
    BadRequestError,
    BufferMovedError,
    ChecksumError,
    CorruptDataError,
    DeviceIOError,
    DeviceStatusError,
    DmaFaultError,
    ForkedError,
    InternalError,
    MemlockLimitError,
    NoDeviceError,
    NotCompressedError,
    OutputLimitError,
    OutputTooSmallError,
    PermissionDeniedError,
    ProtocolError,
    QueueClosedError,
    QueueFullError,
    ShareError,
    TrailingGarbageError,
    TruncatedDataError,
    WarpDriveError,
    WarpDriveTimeoutError,
)
from .types import DEFAULT_LEVEL, Direction, Format

if TYPE_CHECKING:
    from typing_extensions import Buffer

__version__ = _core.__version__
_fork_registered = _fork.hooks  # imported for its os.register_at_fork


__all__ = [
    "MAX_OUTSTANDING",
    "BadDataError",
    "BadHeaderError",
    "BadRequestError",
    "BufferMovedError",
    "ChecksumError",
    "Completion",
    "CorruptDataError",
    "DeviceIOError",
    "DeviceInfo",
    "DeviceStatusError",
    "Direction",
    "DmaBuf",
    "DmaFaultError",
    "ForkedError",
    "Format",
    "InternalError",
    "MemlockLimitError",
    "NoDeviceError",
    "NotCompressedError",
    "OutputLimitError",
    "OutputTooSmallError",
    "PermissionDeniedError",
    "ProtocolError",
    "Queue",
    "QueueClosedError",
    "QueueFullError",
    "ShareError",
    "Stats",
    "TrailingGarbageError",
    "TruncatedDataError",
    "WarpDriveError",
    "WarpDriveTimeoutError",
    "compress",
    "compress_bound",
    "compress_stream",
    "decompress",
    "decompress_stream",
    "devices",
    "open_queue",
]


def compress(data: Buffer, format: Format = "gzip", level: int = DEFAULT_LEVEL) -> bytes:
    """Compresses any bytes-like object into one complete stream of ``format``.

    ``level`` is 1 (fastest) .. 9 (smallest), or -1 for the default (6). The GIL is released
    while the device works. The output decodes with ``zlib.decompress`` (zlib; raw deflate
    with ``wbits=-15``) and ``gzip.decompress``.
    """
    return _core.compress(data, format, level)


def decompress(data: Buffer, format: Format = "gzip", max_length: int | None = None) -> bytes:
    """Decompresses one stream of ``format`` (gzip: one or more members, with zero padding
    allowed between and after them).

    Decoding accepts exactly what zlib accepts. Invalid input raises a subclass of
    :class:`BadDataError` (a ``ValueError``) that says what is wrong:
    :class:`NotCompressedError`, :class:`BadHeaderError`, :class:`TruncatedDataError` (also
    an ``EOFError``), :class:`CorruptDataError`, :class:`ChecksumError`,
    :class:`TrailingGarbageError`.

    ``max_length``: the most bytes of output to accept (None: no limit). An input that
    decodes to more raises :class:`OutputLimitError` (a ``ValueError``), and memory stays
    within about ``max_length`` plus a few MiB, so untrusted input cannot exhaust memory.
    The GIL is released while the device works.
    """
    return _core.decompress(data, format, max_length)


def open_queue(
    direction: Direction = "compress", device: str | None = None, *, background: bool = False
) -> Queue:
    """Opens a queue on the best device present (see :func:`devices`).

    ``device``: ``None`` follows ``WARPDRIVE_DEVICE`` (default ``"auto"``: a uacce queue
    when one is free, else an sdmdev queue through VFIO, else the soft device); ``"soft"``
    forces the in-process device; ``"uacce"`` and ``"vfio"`` insist on that hardware and
    raise :class:`NoDeviceError` without it.
    The direction is fixed for the queue's life, as on the hardware. Use the queue as a
    context manager, or call ``close()``.

    ``background``: on the soft device, its thread runs at idle priority (``SCHED_IDLE``):
    it only uses a core no thread of normal priority wants, so a thread of yours that wakes
    up never waits for a core behind it; but other busy threads and processes slow it down
    to what they leave over. No effect on a VFIO device, which works outside the process.
    """
    return Queue(direction, check_device(device), background=background)
