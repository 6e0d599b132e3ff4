"""WarpDrive: user-space accelerator queues from Python.

- :func:`compress` / :func:`decompress`: stdlib-like one-shot calls (gzip, zlib, raw
  deflate); outputs are interchangeable with the ``zlib`` and ``gzip`` modules.
- :func:`compress_stream` / :func:`decompress_stream`: file objects in bounded memory.
- :func:`open` returns a :class:`GzipFile` (or a text wrapper), as ``gzip.open``.
- :func:`compressobj` / :func:`decompressobj`: incremental objects with ``zlib``'s
  semantics; :func:`crc32`, :func:`adler32` and their ``_combine``.
- :func:`open_queue` returns a :class:`Queue`: send requests on device-shared
  :class:`DmaBuf` buffers and receive completions; :mod:`warpdrive.aio` drives a queue from
  asyncio.
- :func:`devices` lists what is present.
- :data:`ENGINES` names the soft device's compression engines in this build: ``"isa-l"``
  (level 1), ``"libdeflate"``, ``"zlib-rs"``; a wheel built without nasm has no ``"isa-l"``
  and compresses at level 1 about half as fast (README, "Installing").
"""

from __future__ import annotations

import sys as _sys
from types import ModuleType as _ModuleType
from typing import TYPE_CHECKING

# What the calls need is imported here (the extension module, the fork hooks, the names of
# formats and levels, the one-shot and incremental calls); the rest when first used (PEP
# 562): the command line and short scripts start faster. Type checkers see every name as
# imported.
from . import _core, _fork
from ._core import (
    ENGINES,
    MAX_OUTSTANDING,
    Completion,
    DmaBuf,
    Queue,
    Stats,
    compress_bound,
    compress_stream,
)
from .types import DEFAULT_LEVEL, Direction, Format
from .zlibobj import (
    Compress,
    Decompress,
    _format_of,
    adler32,
    adler32_combine,
    compressobj,
    crc32,
    crc32_combine,
    decompressobj,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from . import errors
    from ._stream import decompress_stream
    from .devices import DeviceInfo, devices

    # Every exception class: the names of errors.__all__, the one list of them.
    from .errors import *  # noqa: F403
    from .gzipfile import GzipFile, open

__version__ = _core.__version__
_fork_registered = _fork.hooks  # imported for its os.register_at_fork

#: The names imported when first used, and the module each comes from. Besides these, every
#: exception class comes from :mod:`warpdrive.errors`, whose ``__all__`` is the one list of
#: them: a name that ends in ``Error`` is looked up there.
_LAZY = {
    "decompress_stream": "._stream",
    **dict.fromkeys(("DeviceInfo", "check_device", "devices"), ".devices"),
    **dict.fromkeys(("GzipFile", "open"), ".gzipfile"),
}
#: Submodules that were attributes of the package before its names became lazy.
_SUBMODULES = ("errors", "gzipfile")

if not TYPE_CHECKING:  # for type checkers the names above are imported: no fallback

    def __getattr__(name: str) -> object:
        import importlib  # noqa: PLC0415 -- only a lazy name needs it

        if name == "__all__":
            # The exceptions' names join the others when __all__ is first read (as
            # ``from warpdrive import *`` does): importing the package imports no errors.
            value: object = [*_PUBLIC, *importlib.import_module(".errors", __name__).__all__]
        elif name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        elif name in _LAZY:
            value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        elif (
            name.endswith("Error")
            and name in (errors := importlib.import_module(".errors", __name__)).__all__
        ):
            value = getattr(errors, name)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    from .errors import __all__ as error_names  # noqa: PLC0415 -- only dir() needs it

    return sorted({*globals(), "__all__", *_LAZY, *_SUBMODULES, *error_names})


class _Package(_ModuleType):
    """The package's module type: importing the submodule ``warpdrive.devices`` (as
    ``from warpdrive.devices import check_device`` does) must not replace the function
    ``warpdrive.devices`` with the module, which the import system would otherwise do."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "devices" and isinstance(value, _ModuleType):
            value = value.devices
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


__all__ = [
    "ENGINES",
    "MAX_OUTSTANDING",
    "Completion",
    "Compress",
    "Decompress",
    "DeviceInfo",
    "Direction",
    "DmaBuf",
    "Format",
    "GzipFile",
    "Queue",
    "Stats",
    "adler32",
    "adler32_combine",
    "compress",
    "compress_bound",
    "compress_stream",
    "compressobj",
    "crc32",
    "crc32_combine",
    "decompress",
    "decompress_stream",
    "decompressobj",
    "devices",
    "open",
    "open_queue",
]
if TYPE_CHECKING:
    # The exceptions' names, as type checkers read a submodule's list.
    __all__ += errors.__all__
else:
    # At run time they join these when __all__ is first read (see __getattr__).
    _PUBLIC = tuple(__all__)
    del __all__


def compress(data: Buffer, format: Format | int = "gzip", level: int = DEFAULT_LEVEL) -> bytes:
    """Compresses any bytes-like object into one complete stream of ``format``.

    ``level`` is 1 (fastest) .. 9 (smallest), or -1 for the default (6). An int second
    argument is the level, in the order of ``zlib.compress`` and ``gzip.compress``:
    ``compress(data, 9)`` is gzip at level 9. The GIL is released while the device works.
    The output decodes with ``zlib.decompress`` (zlib; raw deflate with ``wbits=-15``) and
    ``gzip.decompress``.
    """
    if isinstance(format, int):
        if level != DEFAULT_LEVEL:
            raise TypeError("compress() got the level twice (an int second argument is it)")
        return _core.compress(data, "gzip", format)
    return _core.compress(data, format, level)


def decompress(
    data: Buffer, format: Format | str | int = "gzip", max_length: int | None = None
) -> bytes:
    """Decompresses one stream of ``format`` (gzip: one or more members, with zero padding
    allowed between and after them). ``format="auto"`` tells gzip from zlib by the first
    byte; an int is zlib's ``wbits`` (15 zlib, 31 gzip, -15 raw deflate, 47 automatic).

    Decoding accepts exactly what zlib accepts. Invalid input raises a subclass of
    :class:`BadDataError` (a ``ValueError`` and a ``zlib.error``) that says what is wrong:
    :class:`NotCompressedError`, :class:`BadHeaderError`, :class:`TruncatedDataError` (also
    an ``EOFError``), :class:`CorruptDataError`, :class:`ChecksumError`,
    :class:`TrailingGarbageError` (those the ``gzip`` module calls a bad file are also
    ``gzip.BadGzipFile``).

    ``max_length``: the most bytes of output to accept (None: no limit). An input that
    decodes to more raises :class:`OutputLimitError` (a ``ValueError``), and memory stays
    within about ``max_length`` plus a few MiB, so untrusted input cannot exhaust memory.
    The GIL is released while the device works.
    """
    # A name (an alias, "auto") goes to the core as it is, which parses it once; a wbits
    # value is zlib's, mapped here.
    if not isinstance(format, str):
        format = _format_of(format, decompress=True)
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
    from .devices import check_device  # noqa: PLC0415 -- imported when first used

    return Queue(direction, check_device(device), background=background)
