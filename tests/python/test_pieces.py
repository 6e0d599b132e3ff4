"""WarpDrive's own multi-piece gzip output carries a piece index in its header (an extra
field every gzip reader skips): the standard library reads it as one plain member."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import warpdrive


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
