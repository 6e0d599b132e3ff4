"""A Zarr format 3 codec that compresses on WarpDrive queues: :class:`WarpDriveCodec`,
named ``"warpdrive"`` in an array's metadata.

The package registers it through Zarr's entry points (group ``zarr.codecs``), so an array
whose metadata names it opens without an import. It is the bytes-to-bytes form of the
numcodecs codec :class:`warpdrive.numcodecs.WarpDrive` (Zarr format 2 arrays use that one)
and makes the same chunks: each one standard gzip or zlib stream, which any gzip or zlib
reader decodes. Zarr runs each chunk's work off its event loop, on a thread, where
:func:`warpdrive.compress` releases the GIL while the device works.

Needs ``zarr`` (``pip install warpdrive-accel[zarr]``). The codec is not in the Zarr 3
specification: other Zarr implementations read such arrays only if they know it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from zarr.abc.codec import BytesBytesCodec
from zarr.core.buffer.cpu import as_numpy_array_wrapper
from zarr.core.common import JSON, parse_named_configuration

from .numcodecs import CodecFormat, WarpDrive
from .types import DEFAULT_LEVEL

if TYPE_CHECKING:
    from typing import Self

    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer

__all__ = ["WarpDriveCodec"]

#: The codec's name in Zarr metadata (the numcodecs codec's id).
NAME = WarpDrive.codec_id


@dataclass(frozen=True)
class WarpDriveCodec(BytesBytesCodec):
    """Compresses each chunk into one ``format`` stream (``"gzip"``, the default, or
    ``"zlib"``) at ``level`` (1..9, or -1 for the default)::

        import zarr
        from warpdrive.zarr import WarpDriveCodec

        z = zarr.create_array(store, shape=..., chunks=..., dtype=...,
                              compressors=WarpDriveCodec(level=1))
    """

    is_fixed_size = False

    format: CodecFormat = "gzip"
    level: int = DEFAULT_LEVEL

    def __init__(self, *, format: CodecFormat = "gzip", level: int = DEFAULT_LEVEL) -> None:
        # The numcodecs codec checks both (and the core the level's range): one place; it
        # keeps the format's canonical name.
        object.__setattr__(self, "format", WarpDrive(format, level).format)
        object.__setattr__(self, "level", level)

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        """The codec from its metadata, ``{"name": "warpdrive", "configuration": {...}}``."""
        _, config = parse_named_configuration(data, NAME)
        return cls(**config)  # type: ignore[arg-type]  # checked by __init__

    def to_dict(self) -> dict[str, JSON]:
        """The codec's metadata: its name and its format and level."""
        return {"name": NAME, "configuration": {"format": self.format, "level": self.level}}

    @cached_property
    def _codec(self) -> WarpDrive:
        return WarpDrive(self.format, self.level)

    def _decode_sync(self, chunk: Buffer, spec: ArraySpec) -> Buffer:
        return as_numpy_array_wrapper(self._codec.decode, chunk, spec.prototype)

    def _encode_sync(self, chunk: Buffer, spec: ArraySpec) -> Buffer:
        return as_numpy_array_wrapper(self._codec.encode, chunk, spec.prototype)

    async def _decode_single(self, chunk: Buffer, spec: ArraySpec) -> Buffer:
        return await asyncio.to_thread(self._decode_sync, chunk, spec)

    async def _encode_single(self, chunk: Buffer, spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk, spec)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        """Not known before compressing (Zarr asks only codecs of a fixed size)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"WarpDriveCodec(format={self.format!r}, level={self.level})"
