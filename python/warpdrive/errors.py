"""Exceptions of warpdrive. Every error the driver reports is a :class:`WarpDriveError`.

The classes mirror the Rust core's ``Error`` variants, and several also derive from the
builtin exception a Python user would expect (``BadDataError`` is a ``ValueError``,
``WarpDriveTimeoutError`` a ``TimeoutError``, ...), so ``except ValueError`` keeps working.
Decoding errors are also the stdlib's: every :class:`BadDataError` is a ``zlib.error``; the
ones the ``gzip`` module reports as a bad file (not compressed, bad header, checksum,
trailing garbage) are also ``gzip.BadGzipFile``; truncation is an ``EOFError``.
"""

from __future__ import annotations

import gzip
import zlib

__all__ = [
    "BadDataError",
    "BadHeaderError",
    "BadRequestError",
    "BufferMovedError",
    "ChecksumError",
    "CorruptDataError",
    "DeviceIOError",
    "DeviceStatusError",
    "DmaFaultError",
    "ForkedError",
    "InternalError",
    "MemlockLimitError",
    "NoDeviceError",
    "NotCompressedError",
    "OutputLimitError",
    "OutputTooSmallError",
    "PermissionDeniedError",
    "ProtocolError",
    "QueueClosedError",
    "QueueFullError",
    "ShareError",
    "TrailingGarbageError",
    "TruncatedDataError",
    "WarpDriveError",
    "WarpDriveTimeoutError",
]


class WarpDriveError(Exception):
    """Base class of every warpdrive error."""


class QueueFullError(WarpDriveError):
    """The submission ring has no free slot: receive completions, then send again."""


class WarpDriveTimeoutError(WarpDriveError, TimeoutError):
    """Nothing completed in time. Also a builtin ``TimeoutError``."""


class DmaFaultError(WarpDriveError):
    """The device was given memory that was not shared with it (an IOMMU fault)."""


class OutputTooSmallError(WarpDriveError):
    """The destination buffer was too small for the result."""


class BadDataError(WarpDriveError, ValueError, zlib.error):
    """The input is not a valid (or complete) stream of the format. Also a ``ValueError``
    and a ``zlib.error``.

    Decompression raises one of its subclasses, which say what is wrong."""


class NotCompressedError(BadDataError, gzip.BadGzipFile):
    """The input is not a stream of the format at all (gzip: bad magic bytes; zlib: the
    header check fails; empty input). Also a ``gzip.BadGzipFile``."""


class BadHeaderError(BadDataError, gzip.BadGzipFile):
    """A header of the format with a field zlib refuses (method, reserved flags, window
    size, preset dictionary, header CRC). Also a ``gzip.BadGzipFile``."""


class TruncatedDataError(BadDataError, EOFError):
    """The input ends inside the stream. Also an ``EOFError``, as in the ``gzip`` module."""


class CorruptDataError(BadDataError):
    """The compressed data is invalid (what zlib calls a data error)."""


class ChecksumError(BadDataError, gzip.BadGzipFile):
    """The trailer's checksum or length does not match the decoded data. Also a
    ``gzip.BadGzipFile``."""


class TrailingGarbageError(BadDataError, gzip.BadGzipFile):
    """Bytes after the end of the stream that are not another gzip member (zero padding
    between and after gzip members is accepted, as gzip(1) does). Also a
    ``gzip.BadGzipFile``."""


class OutputLimitError(WarpDriveError, ValueError):
    """The output would exceed the caller's ``max_length``. Also a ``ValueError``."""


class InternalError(WarpDriveError, RuntimeError):
    """A bug in warpdrive (a Rust panic, caught at the boundary). Also a ``RuntimeError``."""


class BadRequestError(WarpDriveError, ValueError):
    """The request is malformed or does not fit the queue. Also a ``ValueError``."""


class DeviceStatusError(WarpDriveError):
    """The device answered with a status this driver does not know (see ``.status``)."""

    def __init__(self, message: str, status: int = -1) -> None:
        super().__init__(message)
        self.status = status


class NoDeviceError(WarpDriveError):
    """No device of the requested kind is present or usable."""


class PermissionDeniedError(WarpDriveError, PermissionError):
    """The operating system refused access. Also a ``PermissionError``."""


class ShareError(WarpDriveError):
    """Memory could not be shared with the device (e.g. RLIMIT_MEMLOCK)."""


class MemlockLimitError(ShareError):
    """The device could not pin a request's memory: the process's locked-memory limit
    (``RLIMIT_MEMLOCK``) would be exceeded. ``.needed`` is what the request needs pinned
    (bytes, page-rounded; ``None`` if unknown), ``.limit`` the soft limit in bytes
    (``None``: unlimited). Raise it with ``ulimit -l``, ``memlock`` in limits.conf or
    systemd's ``LimitMEMLOCK=``, or give the process ``CAP_IPC_LOCK``."""

    def __init__(self, message: str, needed: int | None = None, limit: int | None = None) -> None:
        super().__init__(message)
        self.needed = needed
        self.limit = limit


class ForkedError(WarpDriveError):
    """A queue or buffer was used in a fork child; open a new queue in the child."""


class QueueClosedError(WarpDriveError):
    """The queue was closed."""


class ProtocolError(WarpDriveError):
    """The device broke the ring protocol."""


class DeviceIOError(WarpDriveError, OSError):
    """An operating-system call of the driver failed. Also an ``OSError`` (``.errno``)."""


class BufferMovedError(WarpDriveError, ValueError):
    """A ``DmaBuf`` was used after ``send`` moved it into a queue."""
