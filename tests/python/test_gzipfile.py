"""warpdrive.open and GzipFile: the gzip module's file behaviour, checked against the
stdlib (tarfile, csv, gzip.open both ways), memory bounded for a large stream, and the
reader's read-ahead thread kept to its bound."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import os
import random
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path
from typing import Any

import pytest

import warpdrive
from warpdrive import gzipfile


def lines(n: int) -> bytes:
    return b"".join(b"line %d of the file, some words to compress\n" % i for i in range(n))


def test_tarfile_writes_and_reads_a_tar_gz_through_it(tmp_path: Path) -> None:
    members = {f"dir/f{i}.txt": os.urandom(1000) * (i + 1) + lines(i * 500) for i in range(6)}
    path = tmp_path / "a.tar.gz"
    with warpdrive.open(path, "wb") as f, tarfile.open(fileobj=f, mode="w") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    # The stdlib reads what we wrote...
    with tarfile.open(path, "r:gz") as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == members
    # ...and we read what the stdlib wrote, through tarfile.
    theirs = tmp_path / "b.tar.gz"
    with tarfile.open(theirs, "w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    with warpdrive.open(theirs) as f, tarfile.open(fileobj=f, mode="r") as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    assert got == members


def test_csv_in_text_mode(tmp_path: Path) -> None:
    rows = [["id", "name", "note"]] + [[str(i), f"näme {i}", 'a,b "c"'] for i in range(3000)]
    path = tmp_path / "t.csv.gz"
    with warpdrive.open(path, "wt", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as g:
        assert list(csv.reader(g)) == rows
    with warpdrive.open(path, "rt", encoding="utf-8", newline="") as f:
        assert list(csv.reader(f)) == rows


def test_iteration_readline_and_both_directions_with_gzip_open(tmp_path: Path) -> None:
    data = lines(200_000)
    ours, theirs = tmp_path / "ours.gz", tmp_path / "theirs.gz"
    with warpdrive.open(ours, "wb", level=9) as f:
        for i in range(0, len(data), 77_777):
            assert f.write(data[i : i + 77_777]) == len(data[i : i + 77_777])
        f.flush()
    with gzip.open(ours) as g:
        assert g.read() == data
    with gzip.open(theirs, "wb") as g:
        g.write(data)
    with warpdrive.open(theirs) as f:
        first = f.readline()
        assert first == b"line 0 of the file, some words to compress\n"
        rest = list(f)
    assert b"".join(rest) == data[len(first) :]
    assert len(rest) == 199_999


def test_multi_member_and_padding_and_append(tmp_path: Path) -> None:
    path = tmp_path / "m.gz"
    path.write_bytes(gzip.compress(b"one\n") + gzip.compress(b"two\n") + bytes(1000))
    with warpdrive.open(path, "ab") as f:
        f.write(b"three\n")
    with warpdrive.open(path) as f:
        assert f.read() == b"one\ntwo\nthree\n"
    with pytest.raises(FileExistsError):
        warpdrive.open(path, "xb")
    assert gzip.decompress(path.read_bytes()) == b"one\ntwo\nthree\n"


def test_seek_and_tell_on_read(tmp_path: Path) -> None:
    data = lines(300_000)
    path = tmp_path / "s.gz"
    path.write_bytes(gzip.compress(data))
    with warpdrive.open(path) as f:
        assert f.seekable()
        f.seek(5_000_000)
        assert f.tell() == 5_000_000
        assert f.read(100) == data[5_000_000:5_000_100]
        f.seek(10)
        assert f.read(20) == data[10:30]
        f.seek(-5, io.SEEK_CUR)
        assert f.read(5) == data[25:30]
        assert f.seek(0, io.SEEK_END) == len(data)
        assert f.read() == b""


def test_mtime_and_name_are_written_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "report.txt.gz"
    with warpdrive.open(path, "wb", mtime=1_600_000_000) as f:
        f.write(b"x")
    with gzip.open(path) as g:
        g.read()
        assert g.mtime == 1_600_000_000
    with warpdrive.open(path) as f:
        assert f.mtime == 1_600_000_000
        assert f.original_name == "report.txt"
        assert f.name == str(path)
    # gzip(1) restores the name with -N.
    p = subprocess.run(["gzip", "-lvN", str(path)], capture_output=True, text=True)
    assert p.returncode == 0 and "report.txt" in p.stdout


def test_bad_and_truncated_files_raise_the_stdlibs_errors(tmp_path: Path) -> None:
    data = lines(50_000)
    gz = gzip.compress(data)
    with pytest.raises(EOFError):
        warpdrive.open(io.BytesIO(gz[:-100])).read()
    with pytest.raises(gzip.BadGzipFile):
        warpdrive.open(io.BytesIO(b"this is not gzip data")).read()
    with pytest.raises(gzip.BadGzipFile):
        warpdrive.open(io.BytesIO(gz + b"garbage")).read()
    assert warpdrive.open(io.BytesIO(b"")).read() == b""
    with pytest.raises(io.UnsupportedOperation):
        warpdrive.open(io.BytesIO(gz)).write(b"x")


def test_other_formats_through_a_file_object() -> None:
    buf = io.BytesIO()
    with warpdrive.open(buf, "wb", format="zlib") as f:
        f.write(lines(1000))
    buf_value = buf.getvalue()
    assert zlib.decompress(buf_value) == lines(1000)
    with warpdrive.open(io.BytesIO(buf_value), format="zlib") as f:
        assert f.read() == lines(1000)


def test_a_large_stream_in_bounded_memory(tmp_path: Path) -> None:
    # 512 MiB written through open() and read back; the child's peak address space
    # (VmHWM) must stay far below the data's size.
    code = f"""
import warpdrive
block = b"".join(b"%08d some text to compress\\n" % i for i in range(40000))
n = 0
with warpdrive.open({str(tmp_path / "big.gz")!r}, "wb") as f:
    while n < 512 << 20:
        f.write(block)
        n += len(block)
m = 0
with warpdrive.open({str(tmp_path / "big.gz")!r}) as f:
    while chunk := f.read(1 << 20):
        m += len(chunk)
assert m == n, (m, n)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600)
    assert p.returncode == 0, p.stderr
    peak_kib = int(p.stdout.split()[-1])
    assert peak_kib < 150 * 1024, peak_kib


def test_compress_stream_writes_name_and_mtime() -> None:
    out = io.BytesIO()
    data = lines(100_000)
    warpdrive.compress_stream(io.BytesIO(data), out, name=b"data.txt", mtime=1_234_567)
    gz = out.getvalue()
    with gzip.GzipFile(fileobj=io.BytesIO(gz)) as g:
        assert g.read() == data
        assert g.mtime == 1_234_567
    with warpdrive.open(io.BytesIO(gz)) as f:
        assert f.original_name == "data.txt" and f.mtime == 1_234_567
    with pytest.raises(warpdrive.BadRequestError):
        warpdrive.compress_stream(io.BytesIO(b"x"), io.BytesIO(), name=b"a\0b")


def _waiting_for_room(f: warpdrive.GzipFile) -> Any:
    """The read-ahead state of a reader once its thread waits for room (a hang guard, not
    a time limit: the thread always gets there on a long enough file)."""
    a = f._raw._ahead  # type: ignore[union-attr]
    assert a is not None, "no read-ahead thread"
    with a.cond:
        assert a.cond.wait_for(lambda: a.waiting_for_room, timeout=300)
    return a


def test_read_ahead_stays_within_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "big.gz"
    # 48 MiB of hex digits (about 2:1): far more pieces than the read-ahead keeps.
    data = random.Random(1).randbytes(24 << 20).hex().encode()
    path.write_bytes(gzip.compress(data, 1))
    with warpdrive.open(path) as f:
        assert f.read(10) == data[:10]
        a = _waiting_for_room(f)
        piece = gzipfile.READ_SIZE
        # The thread stopped because READ_AHEAD pieces were ready: what it decoded is the
        # piece being read plus those, and it read the input that needed, not the file.
        assert a.full_waits >= 1
        assert a.most_ready == gzipfile.READ_AHEAD == len(a.items)
        assert a.decoder.bytes_out <= (gzipfile.READ_AHEAD + 1) * piece
        assert a.decoder.bytes_in < path.stat().st_size // 4
        # Reading on takes the pieces in order, and the thread keeps to the bound.
        assert f.read(3 * piece) == data[10 : 10 + 3 * piece]
        _waiting_for_room(f)
        assert a.most_ready == gzipfile.READ_AHEAD
        assert a.decoder.bytes_out <= (gzipfile.READ_AHEAD + 1) * piece + 10 + 3 * piece
        # Backward seek stops the thread before the file moves, then starts a new one.
        t = f._raw._thread  # type: ignore[union-attr]
        f.seek(5)
        assert t is not None and not t.is_alive()
        assert f._raw._ahead is not a  # type: ignore[union-attr]
        assert f.read(1_000_000) == data[5:1_000_005]
        assert f.read() == data[1_000_005:]


@pytest.mark.parametrize("ahead", [0, 2])
def test_errors_come_after_the_data_before_them_and_stay(
    ahead: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gzipfile, "READ_AHEAD", ahead)
    data = lines(200_000)
    gz = gzip.compress(data)
    with warpdrive.open(io.BytesIO(gz[: len(gz) // 2])) as f:
        got = bytearray()
        with pytest.raises(EOFError):
            while chunk := f.read(100_000):
                got += chunk
        assert len(got) > gzipfile.READ_SIZE and data.startswith(got)
        with pytest.raises(EOFError):
            f.read(100_000)


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self._f.readinto(b)


def test_unseekable_files_are_read_without_a_thread() -> None:
    # A pipe's read can block for ever: no thread is left waiting on one at close.
    data = lines(100_000)
    with warpdrive.open(_Unseekable(gzip.compress(data) * 2)) as f:  # type: ignore[arg-type]
        assert f.read(10) == data[:10]
        assert f._raw._ahead is None  # type: ignore[union-attr]
        assert f.read() == data[10:] + data


def test_a_reader_dropped_unclosed_ends_its_thread(tmp_path: Path) -> None:
    path = tmp_path / "d.gz"
    path.write_bytes(gzip.compress(lines(500_000), 1))
    f = warpdrive.open(path)
    f.read(1)
    _waiting_for_room(f)
    t = f._raw._thread  # type: ignore[union-attr]
    assert t is not None and t.is_alive()
    del f
    gc.collect()
    t.join(timeout=300)
    assert not t.is_alive()


def test_read_ahead_threads_end_before_the_interpreter_finalizes(tmp_path: Path) -> None:
    # A reader left open at exit: its thread is stopped and joined by warpdrive's exit
    # hook, before finalization (a daemon thread coming back from the device into a
    # finalizing interpreter could crash it). The hook registered first runs last.
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(random.Random(2).randbytes(8 << 20).hex().encode(), 1))
    code = f"""
import atexit, threading
def check():
    alive = [t.name for t in threading.enumerate() if t.name == "warpdrive-read-ahead"]
    print("alive:", alive)
atexit.register(check)
import warpdrive
f = warpdrive.open({str(path)!r})
assert len(f.read(10)) == 10
assert f._raw._thread.is_alive()
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "alive: []" and p.stderr == ""


def test_code_written_for_gzip_open_with_compresslevel_runs_unchanged(tmp_path: Path) -> None:
    # gzip.open, gzip.GzipFile, python-isal's and zlib-ng's open take the level as
    # `compresslevel`: the same call, the same file as with `level`.
    data = lines(20000)
    # One base name (the header stores it), in three folders.
    by_level, by_kw, by_class = (tmp_path / n / "x.gz" for n in ("a", "b", "c"))
    for p in (by_level, by_kw, by_class):
        p.parent.mkdir()
    with warpdrive.open(by_level, "wb", level=1, mtime=0) as f:
        f.write(data)
    with warpdrive.open(by_kw, "wb", compresslevel=1, mtime=0) as f:
        f.write(data)
    with warpdrive.GzipFile(by_class, "wb", compresslevel=1, mtime=0) as f:
        f.write(data)
    assert by_kw.read_bytes() == by_level.read_bytes() == by_class.read_bytes()
    with warpdrive.open(by_level, "wb", level=9, mtime=0) as f:
        f.write(data)
    # The level reaches the device where its ring has a field for it (not uacce's v2/v3).
    with warpdrive.open_queue("compress") as q:
        takes_level = q.takes_level
    assert (by_kw.read_bytes() != by_level.read_bytes()) == takes_level
    with warpdrive.open(by_kw, "wt", compresslevel=9, encoding="ascii") as t:
        t.write(data.decode())
    assert gzip.decompress(by_kw.read_bytes()) == data
    with pytest.raises(TypeError, match="level and compresslevel"):
        warpdrive.open(tmp_path / "d.gz", "wb", level=1, compresslevel=1)
    with pytest.raises(TypeError, match="level and compresslevel"):
        warpdrive.GzipFile(tmp_path / "d.gz", "wb", 1, compresslevel=1)
    with pytest.raises(ValueError, match="level"):
        warpdrive.open(tmp_path / "e.gz", "wb", compresslevel=10)
