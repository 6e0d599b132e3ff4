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
import threading
import zlib
from pathlib import Path
from typing import Any

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


# What a queue says about its device, by kind: VFIO pins request memory and copies inputs
# into buffers it mapped; uacce works through SVA (reads in place, pins nothing) and its
# QM v2/v3 rings have no field for the level; the soft device takes the level and reads in
# place.
QUEUE_FACTS = {
    "pins_pages": {"soft": False, "vfio": True, "uacce": False},
    "takes_level": {"soft": True, "vfio": True, "uacce": False},
    "reads_in_place": {"soft": True, "vfio": False, "uacce": True},
}


@pytest.mark.parametrize("fact", sorted(QUEUE_FACTS))
def test_a_queue_says_what_its_device_does(fact: str) -> None:
    by_kind = QUEUE_FACTS[fact]
    with warpdrive.open_queue("compress", device="soft") as q:
        assert getattr(q, fact) is by_kind["soft"]
        with pytest.raises(AttributeError):
            setattr(q, fact, not by_kind["soft"])  # read-only, as the type says
    # The device this machine gives by default (the guest runs the suite on each kind).
    with warpdrive.open_queue("compress") as q:
        assert getattr(q, fact) is by_kind[q.kind], q.kind


def _index_count(z: bytes) -> int:
    """Pieces the WX index records (0: room reserved but not filled, or no index)."""
    if not z[3] & 0x04 or z[12:14] != b"WX":
        return 0
    return int.from_bytes(z[17:21], "little")


def _wd(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("warpdrive", path=os.path.dirname(sys.executable))
    assert exe is not None, "the console script is not installed next to python"
    return subprocess.run([exe, *map(str, args)], input=stdin, capture_output=True, timeout=120)


def _apart() -> bool:
    """Whether the default device decodes the pieces of an indexed file apart: it must tell
    that a piece's input stops where a block starts, which uacce's hardware ring has no
    field for (there every file decodes as one stream)."""
    with warpdrive.open_queue("decompress") as q:
        return q.kind != "uacce"


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
    # On every device that can check the pieces: where pages are pinned, the pieces in
    # flight fit the default locked-memory limit (8 MiB).
    if _apart():
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


def _moved_boundary(data: bytes) -> bytes:
    """An indexed stream whose index moves the boundary between its last two pieces by two
    bytes: the sizes still add up, so the pieces are tried, and the last one fails after the
    others were written."""
    z = bytearray(warpdrive.compress(data, "gzip"))
    assert _index_count(bytes(z)) == 4
    e = 21 + 8 * 2
    c2, c3 = (int.from_bytes(z[e + i : e + i + 4], "little") for i in (0, 8))
    z[e : e + 4] = (c2 + 2).to_bytes(4, "little")
    z[e + 8 : e + 12] = (c3 - 2).to_bytes(4, "little")
    return bytes(z)


def test_the_cli_undoes_a_parallel_pass_that_does_not_match_its_index(tmp_path: Path) -> None:
    data = _data((3 << 20) + 5)
    bad = tmp_path / "moved.gz"
    bad.write_bytes(_moved_boundary(data))
    # On one queue pieces complete in order: those before the first that does not match are
    # written, whole and in order. The third piece, two bytes longer, does not end where a
    # block starts (its last two bytes begin the fourth piece's first block): it fails.
    partial = io.BytesIO()
    assert _core.decompress_file_pieces(bad, partial, queues=1) is None
    assert partial.getvalue() == (data[: 2 << 20] if _apart() else b"")
    # The CLI discards that part and decodes the file as one stream: the right output.
    assert _wd("decompress", "-k", bad).returncode == 0
    assert (tmp_path / "moved").read_bytes() == data


def _spy_on_pieces(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int] | None]:
    """What every call of the piece decoder of the binding returned, in order."""
    returned: list[tuple[int, int] | None] = []
    real = _core.decompress_file_pieces

    def spy(*args: Any, **kwargs: Any) -> tuple[int, int] | None:
        r = real(*args, **kwargs)
        returned.append(r)
        return r

    monkeypatch.setattr(_core, "decompress_file_pieces", spy)
    return returned


def test_decompress_stream_decodes_the_pieces_of_an_indexed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((3 << 20) + 5)
    z = warpdrive.compress(data, "gzip")
    assert _index_count(z) == 4
    (tmp_path / "data.gz").write_bytes(z)
    returned = _spy_on_pieces(monkeypatch)
    seen: list[tuple[int, int]] = []
    for buffering in (-1, 0):
        with (
            open(tmp_path / "data.gz", "rb", buffering=buffering) as src,
            open(tmp_path / "out", "wb", buffering=buffering) as dst,
        ):
            done = warpdrive.decompress_stream(src, dst, progress=lambda i, o: seen.append((i, o)))
            assert done == (len(z), len(data))
            # As after one stream: the input is read to its end, the output written to here.
            assert src.read() == b"" and dst.tell() == len(data)
        assert (tmp_path / "out").read_bytes() == data
        assert seen[-1][1] == len(data)
    # The library took the piece path: the binding decoded the pieces (on a device that pins
    # pages too, within the locked-memory budget).
    expected = (len(z), len(data)) if _apart() else None
    assert returned == [expected, expected]


def test_decompress_stream_with_auto_decodes_the_pieces_of_an_indexed_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((2 << 20) + 7)
    z = warpdrive.compress(data, "gzip")
    (tmp_path / "data.gz").write_bytes(z)
    (tmp_path / "data.z").write_bytes(zlib.compress(data, 1))
    returned = _spy_on_pieces(monkeypatch)
    for name in ("data.gz", "data.z"):
        with open(tmp_path / name, "rb") as src, open(tmp_path / "out", "wb") as dst:
            assert warpdrive.decompress_stream(src, dst, "auto")[1] == len(data)
        assert (tmp_path / "out").read_bytes() == data
    # The gzip file took the piece path; the zlib file, which has no index, was one stream.
    assert returned == [(len(z), len(data)) if _apart() else None, None]


def test_decompress_stream_appends_the_pieces_where_the_output_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((2 << 20) + 7)
    z = warpdrive.compress(data, "gzip")
    (tmp_path / "data.gz").write_bytes(z)
    returned = _spy_on_pieces(monkeypatch)
    with open(tmp_path / "data.gz", "rb") as src, open(tmp_path / "out", "wb") as dst:
        dst.write(b"before ")
        assert warpdrive.decompress_stream(src, dst, queues=1) == (len(z), len(data))
    assert (tmp_path / "out").read_bytes() == b"before " + data
    assert len(returned) == 1


@pytest.mark.parametrize("name", ["GZIP", "gz", "Gz"])
def test_decompress_stream_takes_the_piece_path_whatever_the_formats_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    data = _data((2 << 20) + 7)
    z = warpdrive.compress(data, "gzip")
    assert _index_count(z) == 3
    (tmp_path / "data.gz").write_bytes(z)
    returned = _spy_on_pieces(monkeypatch)
    with open(tmp_path / "data.gz", "rb") as src, open(tmp_path / "out", "wb") as dst:
        done = warpdrive.decompress_stream(src, dst, name, queues=1)  # type: ignore[arg-type]
        assert done == (len(z), len(data))
    assert (tmp_path / "out").read_bytes() == data
    # The core reads the name as gzip: the file's pieces were decoded, as for "gzip".
    assert returned == [(len(z), len(data)) if _apart() else None]


def test_decompress_stream_falls_back_on_an_index_that_does_not_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((3 << 20) + 5)
    bad = _moved_boundary(data)
    (tmp_path / "moved.gz").write_bytes(bad)
    returned = _spy_on_pieces(monkeypatch)
    with open(tmp_path / "moved.gz", "rb") as src, open(tmp_path / "out", "wb") as dst:
        dst.write(b"head")
        # One queue: the pieces before the failing one are written first, then undone.
        assert warpdrive.decompress_stream(src, dst, queues=1) == (len(bad), len(data))
        assert src.read() == b""
    assert returned == [None]
    assert (tmp_path / "out").read_bytes() == b"head" + data


def _feed(w: int, data: bytes) -> threading.Thread:
    def run() -> None:
        with open(w, "wb") as f:
            f.write(data)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_decompress_stream_leaves_other_files_to_one_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((2 << 20) + 3)
    z = warpdrive.compress(data, "gzip")
    assert _index_count(z) == 3
    path = tmp_path / "data.gz"
    path.write_bytes(z)
    out = tmp_path / "out"
    returned = _spy_on_pieces(monkeypatch)

    # Not files: bytes in memory on either side.
    sink = io.BytesIO()
    with open(path, "rb") as src:
        assert warpdrive.decompress_stream(src, sink) == (len(z), len(data))
    assert sink.getvalue() == data
    with open(out, "wb") as dst:
        warpdrive.decompress_stream(io.BytesIO(z), dst)
    assert out.read_bytes() == data
    # A pipe.
    r, w = os.pipe()
    feeder = _feed(w, z)
    with open(r, "rb") as src, open(out, "wb") as dst:
        warpdrive.decompress_stream(src, dst)
    feeder.join()
    assert out.read_bytes() == data
    # A limit on the output keeps its meaning.
    with (
        open(path, "rb") as src,
        open(out, "wb") as dst,
        pytest.raises(warpdrive.OutputLimitError),
    ):
        warpdrive.decompress_stream(src, dst, max_length=1 << 20)
    assert out.read_bytes() == data[: 1 << 20]
    # An output opened for appending, or written before its end.
    out.write_bytes(b"old ")
    with open(path, "rb") as src, open(out, "ab") as dst:
        warpdrive.decompress_stream(src, dst)
    assert out.read_bytes() == b"old " + data
    out.write_bytes(b"x" * (len(data) + 9))
    with open(path, "rb") as src, open(out, "r+b") as dst:
        warpdrive.decompress_stream(src, dst)
    assert out.read_bytes() == data + b"x" * 9
    # An input read from the middle: what follows its position is the stream.
    (tmp_path / "prefixed").write_bytes(b"#" + z)
    with open(tmp_path / "prefixed", "rb") as src, open(out, "wb") as dst:
        assert src.read(1) == b"#"
        warpdrive.decompress_stream(src, dst)
    assert out.read_bytes() == data
    # An object with the file's descriptor that reads other bytes: a gzip file object over
    # an indexed file reads what that file decodes to.
    inner = gzip.compress(random.Random(1).randbytes(3 << 20), 1)
    outer = warpdrive.compress(inner, "gzip")
    assert _index_count(outer) >= 2
    (tmp_path / "outer.gz").write_bytes(outer)
    with gzip.open(tmp_path / "outer.gz", "rb") as src, open(out, "wb") as dst:
        warpdrive.decompress_stream(src, dst)
    assert out.read_bytes() == gzip.decompress(inner)
    assert returned == []


def _stored(last: bool, n: int, data: bytes) -> bytes:
    return bytes([last]) + n.to_bytes(2, "little") + (n ^ 0xFFFF).to_bytes(2, "little") + data


def _crafted(first: bytes, second: bytes, decoded: bytes) -> bytes:
    """A gzip member of two raw deflate pieces with an index that states 5 bytes of output
    for each and a trailer for ``decoded``."""
    index = b"\x01" + (2).to_bytes(4, "little")
    for piece in (first, second):
        index += len(piece).to_bytes(4, "little") + (5).to_bytes(4, "little")
    extra = b"WX" + len(index).to_bytes(2, "little") + index
    head = b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\x03" + len(extra).to_bytes(2, "little")
    tail = zlib.crc32(decoded).to_bytes(4, "little") + len(decoded).to_bytes(4, "little")
    return head + extra + first + second + tail


def _before_zlibs_error(z: bytes) -> bytes:
    """What zlib decodes of the gzip member ``z``, fed a byte at a time, before its error."""
    d = zlib.decompressobj(31)
    out = bytearray()
    for i in range(len(z)):
        try:
            out += d.decompress(z[i : i + 1])
        except zlib.error:
            return bytes(out)
    raise AssertionError("zlib decoded the whole member")


@pytest.mark.parametrize(
    "first",
    [
        # A stored block that states 10 bytes and goes on into the second piece.
        _stored(False, 10, b"hello"),
        # The same as the last block.
        _stored(True, 10, b"hello"),
        # A fixed-Huffman block ("hello") whose end-of-block code ends inside its last byte:
        # the rest of that byte starts the next block's header.
        bytes([0xCA, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]),
    ],
    ids=["stored-across", "last-across", "ends-in-byte"],
)
def test_pieces_that_decode_apart_to_what_the_stream_is_not_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: bytes
) -> None:
    # Apart, the two pieces decode to "helloworld", as the index and the trailer say; as one
    # stream (what gzip reads) they do not. WarpDrive reads what gzip reads: an error.
    z = _crafted(first, _stored(True, 5, b"world"), b"helloworld")
    with pytest.raises((zlib.error, gzip.BadGzipFile, EOFError)):
        gzip.decompress(z)
    with pytest.raises(warpdrive.BadDataError):
        warpdrive.decompress(z)
    (tmp_path / "crafted.gz").write_bytes(z)
    returned = _spy_on_pieces(monkeypatch)
    with (
        open(tmp_path / "crafted.gz", "rb") as src,
        open(tmp_path / "out", "wb") as dst,
        pytest.raises(warpdrive.BadDataError),
    ):
        warpdrive.decompress_stream(src, dst)
    # The pieces were refused; the one stream wrote what it decoded before its error, as
    # zlib does.
    assert returned == [None]
    assert (tmp_path / "out").read_bytes() == _before_zlibs_error(z)
    with warpdrive.open(tmp_path / "crafted.gz", "rb") as f, pytest.raises(warpdrive.BadDataError):
        f.read()


def test_compress_stream_indexes_what_it_writes_from_a_file_into_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((3 << 20) + 11)
    (tmp_path / "data.bin").write_bytes(data)
    with open(tmp_path / "data.bin", "rb") as src, open(tmp_path / "data.gz", "wb") as dst:
        dst.write(b"head")
        done = warpdrive.compress_stream(src, dst, "GZIP", 6, name=b"data.bin")
    z = (tmp_path / "data.gz").read_bytes()[4:]
    assert done == (len(data), len(z))
    assert _index_count(z) == 4
    assert gzip.decompress(z) == data and zlib.decompress(z, 31) == data
    assert warpdrive.decompress(z) == data
    (tmp_path / "data.gz").write_bytes(z)
    returned = _spy_on_pieces(monkeypatch)
    with open(tmp_path / "data.gz", "rb") as src, open(tmp_path / "out", "wb") as dst:
        assert warpdrive.decompress_stream(src, dst) == (len(z), len(data))
    assert returned == [(len(z), len(data)) if _apart() else None]
    assert (tmp_path / "out").read_bytes() == data
    # Into memory, from memory, or as zlib: the same stream without the index.
    with open(tmp_path / "data.bin", "rb") as src:
        for s in (src, io.BytesIO(data)):
            sink = io.BytesIO()
            warpdrive.compress_stream(s, sink, "gzip", 6)
            assert _index_count(sink.getvalue()) == 0 and gzip.decompress(sink.getvalue()) == data
    with open(tmp_path / "data.bin", "rb") as src, open(tmp_path / "data.z", "wb") as dst:
        warpdrive.compress_stream(src, dst, "zlib")
    assert zlib.decompress((tmp_path / "data.z").read_bytes()) == data


def test_a_file_object_reads_an_indexed_file_piece_by_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((4 << 20) + 21).replace(b" 1", b"\n1")
    z = warpdrive.compress(data, "gzip")
    assert _index_count(z) == 5
    path = tmp_path / "data.gz"
    path.write_bytes(z)
    returned = _spy_on_pieces(monkeypatch)
    with warpdrive.open(path, "rb") as f:
        assert f.read() == data
        assert f.mtime == 0 and f.original_name is None
    assert returned == [(len(z), len(data)) if _apart() else None]
    # Lines, small reads, seeking back and forth: the same bytes as the one stream.
    returned.clear()
    with warpdrive.open(path, "rb") as f:
        assert f.read(10) == data[:10]
        assert f.readline() == data[10 : data.index(b"\n", 10) + 1]
        f.seek(3 << 20)
        assert f.read(100) == data[3 << 20 : (3 << 20) + 100]
        f.seek(5)
        assert f.read(1 << 20) == data[5 : (1 << 20) + 5]
        assert f.tell() == (1 << 20) + 5
    # Closed after a few bytes: the piece decoder's thread is stopped, nothing is left.
    with warpdrive.open(path, "rb") as f:
        assert f.read(3) == data[:3]
    assert not [t for t in threading.enumerate() if t.name == "warpdrive-pieces"]
    # A name and a time in the header are read as from one stream.
    with open(tmp_path / "named.gz", "wb") as dst, open(tmp_path / "named", "wb") as plain:
        plain.write(data)
    with open(tmp_path / "named", "rb") as src, open(tmp_path / "named.gz", "wb") as dst:
        warpdrive.compress_stream(src, dst, name=b"named", mtime=1234567)
    with warpdrive.open(tmp_path / "named.gz", "rb") as f:
        assert f.read() == data
        assert (f.mtime, f.original_name) == (1234567, "named")


def test_a_file_object_reads_on_as_one_stream_where_the_pieces_do_not_match(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _data((3 << 20) + 5)
    path = tmp_path / "moved.gz"
    path.write_bytes(_moved_boundary(data))
    returned = _spy_on_pieces(monkeypatch)
    with warpdrive.open(path, "rb") as f:
        # The first pieces come from the piece decoder, the rest from the one stream.
        assert f.read() == data
    assert returned == [None]
    # Damage in a piece: the one stream's error, after what it decodes before it (as zlib).
    z = bytearray(warpdrive.compress(data, "gzip"))
    z[len(z) // 2] ^= 0x55
    path.write_bytes(bytes(z))
    got = bytearray()
    with warpdrive.open(path, "rb") as f, pytest.raises(warpdrive.BadDataError):
        while chunk := f.read(1 << 16):
            got += chunk
    assert _before_zlibs_error(bytes(z)).startswith(bytes(got))


@pytest.mark.parametrize("indexed", [True, False], ids=["indexed", "one-stream"])
def test_a_fork_child_reads_a_file_on_from_where_it_was(tmp_path: Path, indexed: bool) -> None:
    # The parent's threads and queues are not in the child: it decodes the file again on a
    # queue of its own, past what was read, without moving the parent's position.
    data = _data((3 << 20) + 5)
    path = tmp_path / "data.gz"
    path.write_bytes(warpdrive.compress(data, "gzip") if indexed else gzip.compress(data, 1))
    with warpdrive.open(path, "rb") as f:
        head = f.read(1 << 20)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: the rest, from the one stream, past what was read
            try:
                os.close(r)
                rest = f.read()
                os.write(w, b"1" if rest == data[1 << 20 :] else f"{len(rest)}".encode())
            except BaseException as e:
                os.write(w, repr(e).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as answer:
            assert answer.read() == b"1"
        os.waitpid(pid, 0)
        assert head + f.read() == data
