"""WarpDrive's own multi-piece gzip output carries a piece index in its header (an extra
field every gzip reader skips): the standard library reads it as one plain member."""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import warpdrive
from warpdrive import _core


def _data(n: int) -> bytes:
    rnd = random.Random(5)
    words = [rnd.randbytes(rnd.randrange(2, 8)).hex().encode() for _ in range(500)]
    return b" ".join(rnd.choices(words, k=n // 6))[:n]


def test_indexed_output_is_one_member_for_every_stdlib_reader() -> None:
    data = _data(3 << 20)
    z = warpdrive.compress(data, "gzip")
    # FEXTRA is set and the WX subfield comes first.
    assert z[3] & 0x04 and z[12:14] == b"WX"
    assert gzip.decompress(z) == data
    # zlib stops after one member: the whole output is in it.
    d = zlib.decompressobj(31)
    assert d.decompress(z) == data and d.eof and d.unused_data == b""
    assert zlib.decompress(z, 47) == data
    with gzip.GzipFile(fileobj=io.BytesIO(z)) as f:
        assert f.read() == data
    assert warpdrive.decompress(z, "gzip") == data
    assert warpdrive.decompress(z, "auto") == data


def _parallel_here() -> bool:
    """Whether the default device decodes pieces on several queues: not one that pins pages,
    whose pinned memory the piece decoder does not budget; there it decodes as one stream
    (``wd_core::pieces::decode_pieces``), which these tests check too."""
    q = warpdrive.open_queue("decompress")
    try:
        return not q.pins_pages
    finally:
        q.close()


def test_a_queue_says_whether_its_device_pins_pages() -> None:
    with warpdrive.open_queue("decompress", device="soft") as q:
        assert q.pins_pages is False
        with pytest.raises(AttributeError):
            setattr(q, "pins_pages", True)  # noqa: B010 -- read-only, as the type says
    with warpdrive.open_queue("compress") as q:
        # The device kinds that pin request memory: VFIO's (uacce works through SVA).
        assert q.pins_pages is (q.kind == "vfio")


def _index_count(z: bytes) -> int:
    """Pieces the WX index records (0: room reserved but not filled, or no index)."""
    if not z[3] & 0x04 or z[12:14] != b"WX":
        return 0
    return int.from_bytes(z[17:21], "little")


def _wd(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("warpdrive", path=os.path.dirname(sys.executable))
    assert exe is not None, "the console script is not installed next to python"
    return subprocess.run([exe, *map(str, args)], input=stdin, capture_output=True, timeout=120)


def test_the_cli_indexes_files_it_can_go_back_in(tmp_path: Path) -> None:
    data = _data((3 << 20) + 5)
    f = tmp_path / "data.bin"
    f.write_bytes(data)
    assert _wd("compress", "-k", f).returncode == 0
    z = (tmp_path / "data.bin.gz").read_bytes()
    assert _index_count(z) == 4
    assert gzip.decompress(z) == data
    # A pipe cannot be gone back in: no room is reserved.
    piped = _wd("compress", "-c", f)
    assert piped.returncode == 0 and not piped.stdout[3] & 0x04
    assert gzip.decompress(piped.stdout) == data
    # Our indexed file is decoded piece by piece; gzip's is not (no index).
    sink = io.BytesIO()
    done = _core.decompress_file_pieces(tmp_path / "data.bin.gz", sink)
    if _parallel_here():
        assert done == (len(z), len(data)) and sink.getvalue() == data
    else:
        assert done is None and sink.getvalue() == b""
    (tmp_path / "plain.gz").write_bytes(gzip.compress(data))
    assert _core.decompress_file_pieces(tmp_path / "plain.gz", io.BytesIO()) is None
    # The CLI round trip, to a file and to stdout, and -t.
    os.unlink(f)
    assert _wd("decompress", "-k", tmp_path / "data.bin.gz").returncode == 0
    assert f.read_bytes() == data
    out = _wd("decompress", "-c", tmp_path / "data.bin.gz")
    assert out.returncode == 0 and out.stdout == data
    assert _wd("-t", tmp_path / "data.bin.gz").returncode == 0


def test_the_cli_undoes_a_parallel_pass_that_does_not_match_its_index(tmp_path: Path) -> None:
    data = _data((3 << 20) + 5)
    z = bytearray(warpdrive.compress(data, "gzip"))
    assert _index_count(bytes(z)) == 4
    # Move the boundary between the last two pieces by two bytes: the sizes still add up,
    # so the pieces are tried, and the third one fails after two were written.
    e = 21 + 8 * 2
    c2, c3 = (int.from_bytes(z[e + i : e + i + 4], "little") for i in (0, 8))
    z[e : e + 4] = (c2 + 2).to_bytes(4, "little")
    z[e + 8 : e + 12] = (c3 - 2).to_bytes(4, "little")
    bad = tmp_path / "moved.gz"
    bad.write_bytes(bytes(z))
    # On one queue pieces complete in order: those before the first that does not match are
    # written (the third piece, two bytes longer, still decodes whole; the fourth does not).
    partial = io.BytesIO()
    assert _core.decompress_file_pieces(bad, partial, queues=1) is None
    assert partial.getvalue() == (data[: 3 << 20] if _parallel_here() else b"")
    # The CLI discards that part and decodes the file as one stream: the right output.
    assert _wd("decompress", "-k", bad).returncode == 0
    assert (tmp_path / "moved").read_bytes() == data
