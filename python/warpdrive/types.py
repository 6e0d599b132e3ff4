"""The names warpdrive's calls take, in one place: stream formats, queue directions, device
choices and kinds, the default compression level, and the device's status codes.

The values are decided in the Rust core (``wd_core::Format``, ``Direction``,
``DeviceChoice``, ``DeviceKind``, ``Level``, ``abi::Status``) and exported by the extension
module; the ``Literal`` aliases below are their typing mirror, and the test suite checks
that the two agree. They (and :class:`Status`) live in ``warpdrive._aliases`` and are
imported when first read: ``typing`` and ``enum`` are most of a cold import, and neither the
one-shot calls nor the command line need them at run time.

Format names: ``"gzip"``, ``"zlib"``, ``"deflate"`` (the core also reads ``"gz"`` and
``"raw"``, in any letter case). Levels count as zlib's do: 1 (fastest) .. 9 (smallest), or
-1 (:data:`DEFAULT_LEVEL`) for the default, level 6; 0 is refused.
"""

from __future__ import annotations

from . import _core

# Not typing.TYPE_CHECKING: importing typing is what this module avoids (type checkers read
# any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

    from ._aliases import DeviceChoice, DeviceKind, Direction, Format, Status
else:

    def __getattr__(name: str) -> object:
        if name in _LAZY:
            from . import _aliases  # noqa: PLC0415 -- see the module's docstring

            value = getattr(_aliases, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})


#: The names imported from ``warpdrive._aliases`` when first read.
_LAZY = ("DeviceChoice", "DeviceKind", "Direction", "Format", "Status")

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

#: Every format, direction, device choice and device kind, as the core names them.
FORMATS: Final[tuple[str, ...]] = tuple(_core.FORMATS)
DIRECTIONS: Final[tuple[str, ...]] = tuple(_core.DIRECTIONS)
DEVICE_CHOICES: Final[tuple[str, ...]] = tuple(_core.DEVICE_CHOICES)
DEVICE_KINDS: Final[tuple[str, ...]] = tuple(_core.DEVICE_KINDS)

#: The level that asks for the default, and the level it means.
DEFAULT_LEVEL: Final[int] = _core.DEFAULT_LEVEL
DEFAULT_LEVEL_VALUE: Final[int] = _core.DEFAULT_LEVEL_VALUE
