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
    compress,
    compress_bound,
    decompress,
)
from .types import DEFAULT_LEVEL as DEFAULT_LEVEL  # `warpdrive.DEFAULT_LEVEL`, as before
from .zlibobj import (
    Compress,
    Decompress,
    adler32,
    adler32_combine,
    compressobj,
    crc32,
    crc32_combine,
    decompressobj,
)

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from . import errors
    from ._stream import compress_stream, decompress_stream
    from .devices import DeviceInfo, devices

    # Every exception class: the names of errors.__all__, the one list of them.
    from .errors import *  # noqa: F403
    from .gzipfile import GzipFile, open
    from .types import Direction, Format

__version__ = _core.__version__
_fork_registered = _fork.hooks  # imported for its os.register_at_fork

#: The names imported when first used, and the module each comes from. Besides these, every
#: exception class comes from :mod:`warpdrive.errors`, whose ``__all__`` is the one list of
#: them: a name that ends in ``Error`` is looked up there.
_LAZY = {
    **dict.fromkeys(("compress_stream", "decompress_stream"), "._stream"),
    **dict.fromkeys(("DeviceInfo", "check_device", "devices"), ".devices"),
    **dict.fromkeys(("GzipFile", "open"), ".gzipfile"),
    # Typing aliases: reading one imports typing (warpdrive.types).
    **dict.fromkeys(("Direction", "Format"), ".types"),
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
