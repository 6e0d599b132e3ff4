"""The typing aliases and the status enum of :mod:`warpdrive.types`, which imports them from
here when first read (see its docstring)."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from . import _core

#: A compressed stream format.
Format = Literal["gzip", "zlib", "deflate"]
#: What a queue does, fixed when it opens.
Direction = Literal["compress", "decompress"]
#: The ``device=`` argument of :func:`warpdrive.open_queue` (None follows
#: ``WARPDRIVE_DEVICE``).
DeviceChoice = Literal["auto", "soft", "vfio", "uacce"]
#: The kind of device serving a queue (``Queue.kind``).
DeviceKind = Literal["soft", "vfio", "uacce"]


class Status(IntEnum):
    """A completion's ``status`` (``docs/abi.md``), with the core's numbers."""

    OK = _core.STATUS_OK
    OK_NOT_SHRUNK = _core.STATUS_OK_NOT_SHRUNK
    OUTPUT_TOO_SMALL = _core.STATUS_OUTPUT_TOO_SMALL
    CHECKSUM_ERROR = _core.STATUS_CHECKSUM_ERROR
    NEED_INPUT = _core.STATUS_NEED_INPUT
    DATA_ERROR = _core.STATUS_DATA_ERROR
    DMA_FAULT = _core.STATUS_DMA_FAULT
    BAD_REQUEST = _core.STATUS_BAD_REQUEST
    DEVICE_ERROR = _core.STATUS_DEVICE_ERROR
    MEMLOCK_LIMIT = _core.STATUS_MEMLOCK_LIMIT
