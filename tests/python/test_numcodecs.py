"""The numcodecs codec: found through numcodecs' entry points, interchangeable with
numcodecs' own GZip and Zlib, and used by Zarr to write and read an array."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

import warpdrive
from warpdrive.numcodecs import WarpDrive


def test_numcodecs_finds_the_codec_by_its_id() -> None:
    # Through the entry point the wheel declares: nothing registers it by hand.
    assert "warpdrive" in numcodecs.registry.entries
    codec = numcodecs.get_codec({"id": "warpdrive", "format": "zlib", "level": 1})
    assert isinstance(codec, WarpDrive)
    assert codec.get_config() == {"id": "warpdrive", "format": "zlib", "level": 1}
    assert numcodecs.get_codec(codec.get_config()) == codec
    assert repr(WarpDrive()) == f"WarpDrive(format='gzip', level={warpdrive.DEFAULT_LEVEL})"


@pytest.mark.parametrize("dtype", ["u1", "i4", "f8", "c16"])
def test_round_trip_and_standard_streams(dtype: str) -> None:
    rng = np.random.default_rng(5)
    a = (rng.integers(0, 50, size=300_000) * 3).astype(dtype)
    for fmt, theirs, stdlib in (
        ("gzip", numcodecs.GZip(1), gzip.decompress),
        ("zlib", numcodecs.Zlib(1), zlib.decompress),
    ):
        ours = WarpDrive(fmt, 1)  # type: ignore[arg-type]
        enc = ours.encode(a)
        assert stdlib(enc) == a.tobytes()
        assert np.frombuffer(theirs.decode(enc), dtype=dtype).tolist() == a.tolist()
        assert bytes(ours.decode(theirs.encode(a))) == a.tobytes()
        # Into a caller's buffer, whose size bounds the output.
        out = np.empty_like(a)
        ours.decode(enc, out=out)
        assert np.array_equal(out, a)
        with pytest.raises(warpdrive.OutputLimitError):
            ours.decode(enc, out=np.empty(a.size - 1, dtype=dtype))


def test_bad_configurations_are_refused() -> None:
    for name in ("deflate", "RAW", "lz4", "auto", None):
        with pytest.raises(ValueError, match="format must be 'gzip' or 'zlib'"):
            WarpDrive(name)  # type: ignore[arg-type]
    with pytest.raises(warpdrive.BadRequestError):
        WarpDrive(level=0)
    with pytest.raises(TypeError):
        WarpDrive(level=1.5)  # type: ignore[arg-type]
    with pytest.raises(warpdrive.BadDataError):
        WarpDrive().decode(b"not a gzip stream")


def test_a_zarr_array_written_and_read_through_the_codec(tmp_path: Path) -> None:
    store = tmp_path / "a.zarr"
    data = np.arange(400 * 300, dtype="f8").reshape(400, 300) % 97
    z = zarr.create_array(
        store=str(store),
        shape=data.shape,
        chunks=(100, 100),
        dtype="f8",
        zarr_format=2,
        compressors=WarpDrive(level=1),
    )
    z[:] = data
    z[50:60, 10:20] = -1.0
    data[50:60, 10:20] = -1.0
    # The metadata names the codec; the chunks are standard gzip streams.
    meta = json.loads((store / ".zarray").read_text())
    assert meta["compressor"] == {"id": "warpdrive", "format": "gzip", "level": 1}
    chunk = np.frombuffer(gzip.decompress((store / "0.0").read_bytes()), dtype="f8")
    assert np.array_equal(chunk.reshape(100, 100), data[:100, :100])
    # Opened again from its metadata alone, the codec comes from the entry point.
    again = zarr.open_array(str(store), mode="r")
    assert isinstance(again.compressors[0], WarpDrive)
    assert np.array_equal(again[:], data)
    assert np.array_equal(again[120:250, 33:299], data[120:250, 33:299])


def test_a_formats_name_is_read_as_the_core_reads_it_and_kept_canonical() -> None:
    for name, canonical in [("GZIP", "gzip"), ("gz", "gzip"), ("ZLib", "zlib")]:
        c = WarpDrive(name)  # type: ignore[arg-type]
        assert c.format == canonical
        assert c.get_config()["format"] == canonical
        assert numcodecs.get_codec(c.get_config()) == WarpDrive(canonical)
