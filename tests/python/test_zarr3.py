"""The Zarr format 3 codec: found through Zarr's entry points, the same chunks as the
numcodecs codec, and an array written and read through it."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import zarr
import zarr.registry

import warpdrive
from warpdrive.types import DEFAULT_LEVEL
from warpdrive.zarr import WarpDriveCodec


def test_zarr_finds_the_codec_by_its_name() -> None:
    # Through the entry point the wheel declares: nothing registers it by hand.
    assert zarr.registry.get_codec_class("warpdrive") is WarpDriveCodec
    c = WarpDriveCodec(format="zlib", level=1)
    meta = c.to_dict()
    assert meta == {"name": "warpdrive", "configuration": {"format": "zlib", "level": 1}}
    assert WarpDriveCodec.from_dict(meta) == c
    assert WarpDriveCodec() == WarpDriveCodec(format="gzip", level=DEFAULT_LEVEL)
    assert repr(c) == "WarpDriveCodec(format='zlib', level=1)"


def test_bad_configurations_are_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        WarpDriveCodec(format="deflate")  # type: ignore[arg-type]
    # A name the core reads as gzip or zlib is kept as the canonical one.
    c = WarpDriveCodec(format="GZ", level=1)  # type: ignore[arg-type]
    assert c.format == "gzip" and c == WarpDriveCodec(format="gzip", level=1)
    assert c.to_dict()["configuration"] == {"format": "gzip", "level": 1}
    with pytest.raises(warpdrive.BadRequestError):
        WarpDriveCodec(level=0)
    with pytest.raises(TypeError):
        WarpDriveCodec(level=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WarpDriveCodec.from_dict({"name": "gzip", "configuration": {"level": 1}})


@pytest.mark.parametrize("fmt", ["gzip", "zlib"])
def test_a_zarr3_array_written_and_read_through_the_codec(tmp_path: Path, fmt: str) -> None:
    store = tmp_path / "a.zarr"
    data = np.arange(400 * 300, dtype="f8").reshape(400, 300) % 97
    z = zarr.create_array(
        store=str(store),
        shape=data.shape,
        chunks=(100, 100),
        dtype="f8",
        compressors=WarpDriveCodec(format=fmt, level=1),  # type: ignore[arg-type]
    )
    assert z.metadata.zarr_format == 3
    z[:] = data
    z[50:60, 10:20] = -1.0
    data[50:60, 10:20] = -1.0
    # The metadata names the codec; each chunk is one standard stream of its bytes.
    meta = json.loads((store / "zarr.json").read_text())
    assert {"name": "warpdrive", "configuration": {"format": fmt, "level": 1}} in meta["codecs"]
    raw = (store / "c" / "0" / "0").read_bytes()
    plain = gzip.decompress(raw) if fmt == "gzip" else zlib.decompress(raw)
    assert np.array_equal(np.frombuffer(plain, dtype="<f8").reshape(100, 100), data[:100, :100])
    # Opened again from its metadata alone, the codec comes from the entry point.
    again = zarr.open_array(str(store), mode="r")
    assert again.compressors == (WarpDriveCodec(format=fmt, level=1),)  # type: ignore[arg-type]
    assert np.array_equal(again[:], data)
    assert np.array_equal(again[120:250, 33:299], data[120:250, 33:299])
