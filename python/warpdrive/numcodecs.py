"""A `numcodecs <https://numcodecs.readthedocs.io>`_ codec that compresses on WarpDrive
queues: :class:`WarpDrive`, codec id ``"warpdrive"``.

The package registers it through numcodecs' entry points (group ``numcodecs.codecs``), so
``numcodecs.get_codec({"id": "warpdrive", ...})`` finds it without an import, and so does
Zarr when it opens an array whose metadata names it (Zarr format 2 arrays keep numcodecs
codecs as their compressor). Each chunk is one standard gzip or zlib stream, made and read
by :func:`warpdrive.compress` and :func:`warpdrive.decompress` with the GIL released, so
the threads Zarr (or Dask) encodes chunks on run on the device at once; any gzip or zlib
reader decodes the chunks, and this codec decodes those of numcodecs' ``GZip`` and
``Zlib``.

Needs ``numcodecs`` (``pip install warpdrive-accel[zarr]``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, cast, get_args

from numcodecs.abc import Codec  # type: ignore[import-untyped]
from numcodecs.compat import (  # type: ignore[import-untyped]
    ensure_contiguous_ndarray,
    ndarray_copy,
)

from . import _core
from .types import DEFAULT_LEVEL

__all__ = ["CodecFormat", "WarpDrive"]

#: The stream formats the codec writes: both carry a checksum of the chunk.
CodecFormat = Literal["gzip", "zlib"]


class WarpDrive(Codec):  # type: ignore[misc]  # numcodecs is untyped
    """Compresses each chunk into one ``format`` stream (``"gzip"``, the default, or
    ``"zlib"``) at ``level`` (1..9, or -1 for the default), on the process's pool of
    WarpDrive queues::

        import zarr
        from warpdrive.numcodecs import WarpDrive

        z = zarr.create_array(store, shape=..., chunks=..., dtype=...,
                              zarr_format=2, compressors=WarpDrive(level=1))
    """

    codec_id: ClassVar[str] = "warpdrive"

    def __init__(self, format: CodecFormat = "gzip", level: int = DEFAULT_LEVEL) -> None:
        # The core's reading of the name (any case, aliases), kept as its canonical name.
        try:
            name = _core._parse_format(format)
        except (TypeError, ValueError):  # not a string, or no format's name
            name = None
        if name not in get_args(CodecFormat):
            raise ValueError(f"format must be 'gzip' or 'zlib', not {format!r}")
        if not isinstance(level, int) or isinstance(level, bool):
            raise TypeError(f"level must be an int, not {type(level).__name__}")
        # The core checks the level (the one place that decides its range); the object
        # holds no queue until it is given data.
        fmt = cast("CodecFormat", name)
        _core._Compressor(fmt, level)
        self.format: CodecFormat = fmt
        self.level: int = level

    def encode(self, buf: Any) -> bytes:
        """One ``format`` stream of the bytes of ``buf`` (any buffer, any dtype)."""
        return _core.compress(ensure_contiguous_ndarray(buf), self.format, self.level)

    def decode(self, buf: Any, out: Any = None) -> Any:
        """The decoded bytes of ``buf``; written into ``out`` when given (its size bounds
        the output: a chunk that decodes to more raises ``OutputLimitError``)."""
        data = ensure_contiguous_ndarray(buf)
        if out is None:
            return _core.decompress(data, self.format, None)
        dst = ensure_contiguous_ndarray(out)
        dec = _core.decompress(data, self.format, dst.nbytes)
        return ndarray_copy(dec, dst)

    def get_config(self) -> dict[str, Any]:
        """The codec's JSON configuration: ``{"id": "warpdrive", "format": ..., "level":
        ...}``."""
        return {"id": self.codec_id, "format": self.format, "level": self.level}

    def __repr__(self) -> str:
        return f"WarpDrive(format={self.format!r}, level={self.level})"
