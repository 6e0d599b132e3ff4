"""The warpdrive command (run as a subprocess, as a user would)."""

from __future__ import annotations

import gzip
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

EXE = shutil.which("warpdrive", path=os.path.dirname(sys.executable))


def wd(
    *args: str | Path, stdin: bytes = b"", cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    assert EXE is not None, "the console script is not installed next to python"
    return subprocess.run(
        [EXE, *map(str, args)], input=stdin, capture_output=True, cwd=cwd, timeout=120
    )


def one_line_error(p: subprocess.CompletedProcess[bytes], *words: str) -> None:
    assert p.returncode != 0
    err = p.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("warpdrive: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def sample() -> bytes:
    return b"".join(b"line %d of the sample file\n" % i for i in range(100_000))


def test_compress_and_decompress_files(tmp_path: Path) -> None:
    f = tmp_path / "data.txt"
    data = sample()
    f.write_bytes(data)
    os.chmod(f, 0o640)
    p = wd("compress", f)
    assert p.returncode == 0, p.stderr
    gz = tmp_path / "data.txt.gz"
    assert gz.exists() and not f.exists()
    assert gzip.decompress(gz.read_bytes()) == data
    assert os.stat(gz).st_mode & 0o777 == 0o640
    subprocess.run(["gzip", "-t", gz], check=True)
    p = wd("decompress", gz)
    assert p.returncode == 0, p.stderr
    assert f.read_bytes() == data and not gz.exists()
    assert list(tmp_path.iterdir()) == [f]  # no temporary file left behind


def test_keep_stdout_level_and_zlib(tmp_path: Path) -> None:
    f = tmp_path / "a"
    data = sample()
    f.write_bytes(data)
    p = wd("compress", "-k", "-9", f)
    assert p.returncode == 0 and f.exists()
    p1 = wd("compress", "-c", "-l", "1", f)
    p9 = wd("compress", "-c", "-l", "9", f)
    assert gzip.decompress(p1.stdout) == data == gzip.decompress(p9.stdout)
    assert len(p9.stdout) < len(p1.stdout)
    assert (tmp_path / "a.gz").read_bytes() == p9.stdout
    z = wd("compress", "-z", "-c", f)
    assert zlib.decompress(z.stdout) == data
    p = wd("compress", "-z", "-k", f)
    assert p.returncode == 0 and (tmp_path / "a.zz").exists()
    p = wd("decompress", "-z", "-c", tmp_path / "a.zz")
    assert p.stdout == data


def test_stdin_to_stdout_and_gzip_interop() -> None:
    data = sample()
    p = wd("compress", stdin=data)
    assert p.returncode == 0
    assert subprocess.run(["gzip", "-dc"], input=p.stdout, capture_output=True).stdout == data
    theirs = subprocess.run(["gzip", "-c"], input=data, capture_output=True).stdout
    p = wd("decompress", "-", stdin=theirs)
    assert p.returncode == 0 and p.stdout == data


def test_output_option(tmp_path: Path) -> None:
    f = tmp_path / "in.bin"
    f.write_bytes(b"abc" * 1000)
    out = tmp_path / "custom.out"
    assert wd("compress", "-o", out, f).returncode == 0
    assert gzip.decompress(out.read_bytes()) == b"abc" * 1000
    assert not f.exists()
    back = tmp_path / "back.bin"
    assert wd("decompress", "-k", "-o", back, out).returncode == 0
    assert back.read_bytes() == b"abc" * 1000 and out.exists()


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    f = tmp_path / "x"
    f.write_bytes(b"new")
    (tmp_path / "x.gz").write_bytes(b"precious")
    one_line_error(wd("compress", f), "x.gz", "already exists", "-f")
    assert (tmp_path / "x.gz").read_bytes() == b"precious" and f.exists()
    assert wd("compress", "-f", f).returncode == 0
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == b"new"


def test_missing_file(tmp_path: Path) -> None:
    one_line_error(wd("compress", tmp_path / "nope"), "nope", "No such file")
    one_line_error(wd("decompress", tmp_path / "nope.gz"), "nope.gz", "No such file")


@pytest.mark.parametrize("damage", ["truncate", "corrupt", "garbage"])
def test_bad_archives_leave_no_partial_output(tmp_path: Path, damage: str) -> None:
    data = os.urandom(300_000) + sample()
    good = gzip.compress(data)
    bad = {
        "truncate": good[: len(good) // 2],
        "corrupt": good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:],
        "garbage": b"definitely not gzip" * 100,
    }[damage]
    f = tmp_path / "broken.gz"
    f.write_bytes(bad)
    one_line_error(wd("decompress", f), "broken.gz")
    assert f.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.gz"]
    one_line_error(wd("decompress", stdin=bad), "stdin")


def test_unknown_suffix_and_directories(tmp_path: Path) -> None:
    f = tmp_path / "plain.txt"
    f.write_bytes(b"x")
    one_line_error(wd("decompress", f), "unknown suffix")
    one_line_error(wd("compress", tmp_path), "not a regular file")


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"fine" * 100)
    p = wd("compress", tmp_path / "missing", good)
    assert p.returncode == 1
    assert (tmp_path / "good.gz").exists()
    assert p.stderr.decode().count("\n") == 1


def test_usage_errors_exit_2() -> None:
    p = wd("compress", "-l", "12")
    assert p.returncode == 2 and b"Traceback" not in p.stderr
    p = wd("frobnicate")
    assert p.returncode == 2


def test_devices_table() -> None:
    p = wd("devices")
    assert p.returncode == 0
    lines = p.stdout.decode().splitlines()
    assert lines[0].split()[:3] == ["NAME", "KIND", "API"]
    assert any(line.split()[:2] == ["soft", "soft"] for line in lines[1:])


def test_large_input_streams_in_bounded_memory(tmp_path: Path) -> None:
    # 256 MiB of zeros through the CLI; the process must not hold it all in memory.
    f = tmp_path / "zeros"
    with open(f, "wb") as out:
        out.truncate(256 << 20)
    # The peak of the child's own address space (VmHWM). Not getrusage's ru_maxrss: exec
    # carries the parent's peak into it, so it reported pytest's size (over 200 MB in the
    # guest) instead of the CLI's (about 30 MB).
    code = (
        "import sys, warpdrive.cli as c; rc = c.main(sys.argv[1:]); "
        "print(next(line.split()[1] for line in open('/proc/self/status') "
        "if line.startswith('VmHWM:')), file=sys.stderr); sys.exit(rc)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, "compress", "-k", str(f)], capture_output=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    peak_kib = int(p.stderr.decode().strip().splitlines()[-1])
    assert peak_kib < 100 * 1024, peak_kib
    gz = tmp_path / "zeros.gz"
    r = subprocess.run(["gzip", "-dc", gz], capture_output=True)
    assert len(r.stdout) == 256 << 20 and not r.stdout.strip(b"\0")


def test_ctrl_c_exits_130_without_a_partial_file(tmp_path: Path) -> None:
    # stdin is a pipe that stays open, so the command is surely mid-stream at the signal.
    assert EXE is not None
    out = tmp_path / "out.gz"
    # A runner that starts us as a background job leaves SIGINT ignored, and an ignored
    # signal stays ignored across exec: give the child the default disposition (a handled
    # signal is reset to default by exec), as a terminal would.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        p = subprocess.Popen(
            [EXE, "compress", "-o", str(out)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert p.stdin is not None
    p.stdin.write(os.urandom(3 << 20))
    p.stdin.flush()
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert err == b"warpdrive: interrupted\n"
    assert list(tmp_path.iterdir()) == []


def test_progress_on_a_terminal(tmp_path: Path) -> None:
    assert EXE is not None
    f = tmp_path / "big"
    with open(f, "wb") as w:
        w.truncate(64 << 20)
    master, slave = pty.openpty()
    try:
        p = subprocess.run([EXE, "compress", "-k", str(f)], stderr=slave, timeout=120)
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    assert p.returncode == 0
    assert b"big: " in shown and b"%" in shown and b"MB/s" in shown, shown
    quiet = subprocess.run([EXE, "compress", "-f", "-k", str(f)], capture_output=True)
    assert quiet.returncode == 0 and quiet.stderr == b""  # not a terminal: no progress


@contextmanager
def signals_not_ignored() -> Iterator[None]:
    """Children started inside get the default disposition of SIGINT, SIGTERM and SIGHUP.

    A runner may start us with them ignored (a background job ignores SIGINT, nohup SIGHUP),
    and an ignored signal stays ignored across exec, while a handled one is reset to its
    default: handle them here for the moment of the spawn.
    """
    saved = {
        sig: signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else noop)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def noop(_sig: int, _frame: object) -> None:
    pass


# Run the command in a Python whose os module has no O_TMPFILE: the fallback path (a hidden
# named temporary removed on signals), as on a file system without unnamed files.
NO_TMPFILE = "import os, sys; del os.O_TMPFILE; from warpdrive.cli import main; sys.exit(main())"


def start(named: bool, *args: str | Path) -> subprocess.Popen[bytes]:
    assert EXE is not None
    argv = [sys.executable, "-c", NO_TMPFILE] if named else [EXE]
    with signals_not_ignored():
        return subprocess.Popen(
            [*argv, *map(str, args)], stdin=subprocess.PIPE, stderr=subprocess.PIPE
        )


def open_files_in(pid: int, folder: Path) -> list[str]:
    """What the process has open inside ``folder`` (an unnamed file reads "#INODE (deleted)")."""
    fds = Path(f"/proc/{pid}/fd")
    found = []
    for fd in fds.iterdir():
        with_name = os.readlink(fd) if fd.is_symlink() else ""
        if with_name.startswith(str(folder) + "/"):
            found.append(with_name[len(str(folder)) + 1 :])
    return found


def mid_stream(p: subprocess.Popen[bytes], compress: bool, folder: Path) -> None:
    """Feeds the command part of its input (stdin stays open) until output is being written."""
    assert p.stdin is not None
    data = os.urandom(1 << 20)
    if not compress:
        data = gzip.compress(data, compresslevel=1)[: 3 << 18]
    p.stdin.write(data)
    p.stdin.flush()
    deadline = time.monotonic() + 30
    while not open_files_in(p.pid, folder):
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline, "the command never opened its output"
        time.sleep(0.05)
    time.sleep(0.2)


# Each signal in both directions on the unnamed-file path, and on the fallback path (whose
# cleanup does not depend on the direction) while compressing: the suite also runs in a slow
# emulated guest, so not the whole cross product.
@pytest.mark.parametrize(
    ("named", "command"),
    [(False, "compress"), (False, "decompress"), (True, "compress")],
    ids=["unnamed-compress", "unnamed-decompress", "named-compress"],
)
@pytest.mark.parametrize(
    ("sig", "said"),
    [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated"), (signal.SIGHUP, "hung up")],
    ids=["INT", "TERM", "HUP"],
)
def test_a_signal_leaves_no_partial_output(
    tmp_path: Path, named: bool, command: str, sig: signal.Signals, said: str
) -> None:
    out = tmp_path / "out"
    p = start(named, command, "-o", out)
    mid_stream(p, command == "compress", tmp_path)
    opened = open_files_in(p.pid, tmp_path)
    if named:
        # The fallback writes a hidden named file, which the signal must remove.
        assert len(opened) == 1, opened
        assert opened[0].startswith(".out.") and opened[0].endswith(".part"), opened
        assert len(list(tmp_path.iterdir())) == 1
    else:
        assert len(opened) == 1 and opened[0].startswith("#"), opened
        assert list(tmp_path.iterdir()) == [], "an unnamed file has no name while written"
    p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 128 + sig, err
    assert err == f"warpdrive: {said}\n".encode()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_sigkill_leaves_nothing(tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    p = start(False, command, "-o", out)
    mid_stream(p, command == "compress", tmp_path)
    p.kill()
    p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
def test_both_ways_of_writing_give_the_same_files(tmp_path: Path, named: bool) -> None:
    data = sample()
    f = tmp_path / "f"
    f.write_bytes(data)
    os.chmod(f, 0o640)
    os.utime(f, ns=(1_000_000_000, 2_000_000_000))
    argv = [sys.executable, "-c", NO_TMPFILE] if named else [EXE]
    for args in (["compress", f], ["decompress", f"{f}.gz"]):
        r = subprocess.run([*map(str, argv), *map(str, args)], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert f.read_bytes() == data
    st = os.stat(f)
    assert (st.st_mode & 0o777, st.st_mtime_ns) == (0o640, 2_000_000_000)
    # -f replaces an existing output.
    f.write_bytes(b"new")
    (tmp_path / "f.gz").write_bytes(b"old")
    r = subprocess.run([*map(str, argv), "compress", "-f", str(f)], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert gzip.decompress((tmp_path / "f.gz").read_bytes()) == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.gz"]


def test_nohup_leaves_sighup_ignored(tmp_path: Path) -> None:
    assert EXE is not None
    out = tmp_path / "out.gz"
    with signals_not_ignored():
        p = subprocess.Popen(
            ["nohup", EXE, "compress", "-o", str(out)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )
    mid_stream(p, True, tmp_path)
    p.send_signal(signal.SIGHUP)
    # Closing stdin ends the input: the command finishes normally.
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert len(gzip.decompress(out.read_bytes())) == 1 << 20


@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
def test_an_output_that_appears_meanwhile_is_not_overwritten_without_force(
    tmp_path: Path, named: bool
) -> None:
    out = tmp_path / "out"
    p = start(named, "compress", "-o", out)
    mid_stream(p, True, tmp_path)
    out.write_bytes(b"precious")
    _, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert b"already exists" in err
    assert out.read_bytes() == b"precious"
    assert list(tmp_path.iterdir()) == [out]
