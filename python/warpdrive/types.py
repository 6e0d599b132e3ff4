"""The names warpdrive's calls take, in one place: stream formats, queue directions, device
choices and kinds, the default compression level, and the device's status codes.

The values are decided in the Rust core (``wd_core::Format``, ``Direction``,
``DeviceChoice``, ``DeviceKind``, ``Level``, ``abi::Status``) and exported by the extension
module; the ``Literal`` aliases below are their typing mirror, and the test suite checks
that the two agree.

Format names: ``"gzip"``, ``"zlib"``, ``"deflate"`` (the core also reads ``"gz"`` and
``"raw"``, in any letter case). Levels count as zlib's do: 1 (fastest) .. 9 (smallest), or
-1 (:data:`DEFAULT_LEVEL`) for the default, level 6; 0 is refused.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final, Literal

from . import _core

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_LEVEL_VALUE",
    "DEVICE_CHOICES",
    "DEVICE_KINDS",
    "DIRECTIONS",
    "FORMATS",
    "DeviceChoice",
    "DeviceKind",
    "Direction",
    "Format",
    "Status",
]

#: A compressed stream format.
Format = Literal["gzip", "zlib", "deflate"]
#: What a queue does, fixed when it opens.
Direction = Literal["compress", "decompress"]
#: The ``device=`` argument of :func:`warpdrive.open_queue` (None follows
#: ``WARPDRIVE_DEVICE``).
DeviceChoice = Literal["auto", "soft", "vfio", "uacce"]
#: The kind of device serving a queue (``Queue.kind``).
DeviceKind = Literal["soft", "vfio", "uacce"]

#: Every format, direction, device choice and device kind, as the core names them.
FORMATS: Final[tuple[str, ...]] = tuple(_core.FORMATS)
DIRECTIONS: Final[tuple[str, ...]] = tuple(_core.DIRECTIONS)
DEVICE_CHOICES: Final[tuple[str, ...]] = tuple(_core.DEVICE_CHOICES)
DEVICE_KINDS: Final[tuple[str, ...]] = tuple(_core.DEVICE_KINDS)

#: The level that asks for the default, and the level it means.
DEFAULT_LEVEL: Final[int] = _core.DEFAULT_LEVEL
DEFAULT_LEVEL_VALUE: Final[int] = _core.DEFAULT_LEVEL_VALUE


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
