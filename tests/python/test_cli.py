"""The warpdrive command (run as a subprocess, as a user would)."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import os
import pty
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import warpdrive

EXE = shutil.which("warpdrive", path=os.path.dirname(sys.executable))


def wd(
    *args: str | Path,
    stdin: bytes = b"",
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    assert EXE is not None, "the console script is not installed next to python"
    return subprocess.run(
        [EXE, *map(str, args)], input=stdin, capture_output=True, cwd=cwd, env=env, timeout=120
    )


def without_index(z: bytes) -> bytes:
    """A gzip stream without its piece index: the extra field (FEXTRA) that WarpDrive writes
    into files it can go back in, and not into pipes, removed and its flag cleared."""
    if not z[3] & 0x04:
        return z
    xlen = int.from_bytes(z[10:12], "little")
    return z[:3] + bytes([z[3] & ~0x04]) + z[4:10] + z[12 + xlen :]


def one_line_error(p: subprocess.CompletedProcess[bytes], *words: str) -> None:
    assert p.returncode != 0
    err = p.stderr.decode()
    assert err.count("\n") == 1 and err.startswith("warpdrive: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def levels_reach_device() -> bool:
    """Whether the device the CLI gets (it follows WARPDRIVE_DEVICE, as this queue does)
    honours a level: uacce's QM v2/v3 engines compress at their own."""
    with warpdrive.open_queue("compress") as q:
        takes = q.takes_level
    return takes


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
    if levels_reach_device():
        assert len(p9.stdout) < len(p1.stdout)
    else:
        assert len(p9.stdout) == len(p1.stdout)
    # The file also carries the piece index; otherwise the same bytes as on stdout.
    assert without_index((tmp_path / "a.gz").read_bytes()) == p9.stdout
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
    assert f.exists()  # -o never removes the input
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
    one_line_error(wd("compress", tmp_path), "is a directory")


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
    p = wd("--frobnicate")
    assert p.returncode == 2
    # Without a subcommand the words are files, as for gzip.
    one_line_error(wd("frobnicate"), "frobnicate", "No such file")


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
    # Its memory at exit by kind (anonymous, file, shared), for the message if the peak is
    # too high, then the peak alone on the last line.
    code = (
        "import sys, warpdrive.cli as c; rc = c.main(sys.argv[1:]); "
        "st = open('/proc/self/status').read().splitlines(); "
        "print(' '.join(x for x in st if x.startswith(('RssAnon', 'RssFile', 'RssShmem'))), "
        "file=sys.stderr); "
        "print(next(x.split()[1] for x in st if x.startswith('VmHWM:')), file=sys.stderr); "
        "sys.exit(rc)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, "compress", "-k", str(f)], capture_output=True, timeout=300
    )
    assert p.returncode == 0, p.stderr
    *_, at_exit, peak = p.stderr.decode().strip().splitlines()
    assert int(peak) < 100 * 1024, f"peak {peak} KiB; at exit: {' '.join(at_exit.split())}"
    # Checked as it streams out of gzip: the test process holds 1 MiB of it at a time, not
    # 256 MiB (in the guest, where files live in memory, the copy was what ran it out).
    n = 0
    with subprocess.Popen(["gzip", "-dc", tmp_path / "zeros.gz"], stdout=subprocess.PIPE) as d:
        assert d.stdout is not None
        while chunk := d.stdout.read(1 << 20):
            assert chunk.count(0) == len(chunk), f"a byte other than zero near offset {n}"
            n += len(chunk)
    assert d.returncode == 0 and n == 256 << 20, (d.returncode, n)


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
    rc, shown = on_pty([EXE, "compress", "-k", str(f)], env=NO_DELAY)
    assert rc == 0
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


# --- gzip's habits ------------------------------------------------------------------------

#: The progress bar appears at once (not after a second), so tests need no work that lasts.
NO_DELAY = {"WARPDRIVE_PROGRESS_DELAY": "0"}
SCRIPTS = os.path.dirname(sys.executable)


def on_pty(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cols: int = 80,
    stdin: int | None = None,
    stdout_on_pty: bool = False,
    cwd: Path | None = None,
) -> tuple[int, bytes]:
    """Runs argv with stderr (and, if asked, stdout) on a pseudo-terminal of ``cols``
    columns; returns the exit status and everything the terminal was sent."""
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (24, cols))
    try:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=slave if stdout_on_pty else subprocess.DEVNULL,
            stderr=slave,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        os.close(slave)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 1 << 16)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        rc = p.wait(timeout=120)
    finally:
        os.close(master)
    return rc, shown


def screen_lines(shown: bytes) -> list[str]:
    """What the terminal was sent, cut at each carriage return and line feed, without
    escape sequences."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))
    return [seg for seg in re.split(r"[\r\n]", text) if seg]


def gz_file(tmp_path: Path, name: str = "f", data: bytes | None = None) -> tuple[Path, bytes]:
    data = sample() if data is None else data
    f = tmp_path / name
    f.write_bytes(data)
    return f, data


def test_gzip_style_compress_decompress_without_subcommand(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    p = wd(f)
    assert p.returncode == 0, p.stderr
    assert not f.exists() and gzip.decompress((tmp_path / "f.gz").read_bytes()) == data
    p = wd("-d", tmp_path / "f.gz")
    assert p.returncode == 0, p.stderr
    assert f.read_bytes() == data and not (tmp_path / "f.gz").exists()
    assert wd("--decompress", "-c", stdin=gzip.compress(data)).stdout == data
    assert wd("--uncompress", stdin=gzip.compress(data)).stdout == data


def test_several_files_and_stdin_dash(tmp_path: Path) -> None:
    a, da = gz_file(tmp_path, "a", b"first\n" * 1000)
    b, db = gz_file(tmp_path, "b", b"second\n" * 1000)
    p = wd("-k", a, b)
    assert p.returncode == 0, p.stderr
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == da
    assert gzip.decompress((tmp_path / "b.gz").read_bytes()) == db
    # -c of several files: their members one after the other, as gzip writes them.
    p = wd("-c", a, "-", b, stdin=b"middle\n")
    assert p.returncode == 0 and gzip.decompress(p.stdout) == da + b"middle\n" + db
    p = wd("-dc", tmp_path / "a.gz", tmp_path / "b.gz")
    assert p.stdout == da + db


def test_levels_fast_best_and_processes(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    sizes = {}
    for flag in ("-1", "--fast", "-9", "--best", "--level=9"):
        p = wd("-c", flag, f)
        assert p.returncode == 0 and gzip.decompress(p.stdout) == data, p.stderr
        sizes[flag] = len(p.stdout)
    assert sizes["-1"] == sizes["--fast"] and sizes["-9"] == sizes["--best"] == sizes["--level=9"]
    if levels_reach_device():
        assert sizes["-1"] > sizes["-9"]
    else:
        assert sizes["-1"] == sizes["-9"]
    # Short options together, as gzip users type them.
    p = wd("-kc9", f)
    assert p.returncode == 0 and len(p.stdout) == sizes["-9"]
    for n in ("1", "2"):
        p = wd("-p", n, "-c", f)
        assert p.returncode == 0 and gzip.decompress(p.stdout) == data
    assert wd("-p", "0", "-c", f).returncode == 2
    # More queues than one stream may use: the library's refusal, as one line.
    one_line_error(wd("-p", "65", "-c", f), "queues")


def test_suffix_option(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    assert wd("-S", ".wd", "-k", f).returncode == 0
    assert gzip.decompress((tmp_path / "f.wd").read_bytes()) == data
    f.unlink()
    assert wd("-d", "--suffix", ".wd", tmp_path / "f.wd").returncode == 0
    assert f.read_bytes() == data
    assert wd("-S", "", f).returncode == 2


def test_test_option(tmp_path: Path) -> None:
    good = tmp_path / "good.gz"
    good.write_bytes(gzip.compress(sample()))
    p = wd("-t", good)
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b""
    p = wd("-tv", good)
    assert p.returncode == 0 and p.stderr == f"{good}:\t OK\n".encode()
    bad = tmp_path / "bad.gz"
    bad.write_bytes(good.read_bytes()[:-20])
    p = wd("-t", bad, good)
    assert p.returncode == 1 and b"bad.gz" in p.stderr and p.stderr.count(b"\n") == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == ["bad.gz", "good.gz"]


def test_list_option(tmp_path: Path) -> None:
    f, _ = gz_file(tmp_path)
    subprocess.run(["gzip", "-k", f], check=True)
    (tmp_path / "g").write_bytes(b"x" * 10_000)
    subprocess.run(["gzip", tmp_path / "g"], check=True)
    theirs = subprocess.run(
        ["gzip", "-l", tmp_path / "f.gz", tmp_path / "g.gz"], capture_output=True
    )
    p = wd("-l", tmp_path / "f.gz", tmp_path / "g.gz")
    assert p.returncode == 0, p.stderr
    assert p.stdout == theirs.stdout
    packed = (tmp_path / "g.gz").read_bytes()
    theirs = subprocess.run(["gzip", "-l"], input=packed, capture_output=True)
    p = wd("--list", stdin=packed)
    assert p.returncode == 0 and p.stdout == theirs.stdout


@pytest.mark.parametrize("flags", ["-lv", "-lvN", "-lvq", "-lqv"])
def test_list_verbose_columns(tmp_path: Path, flags: str) -> None:
    """-l -v adds gzip's method, CRC, date and time columns (the file's time; -N: the
    header's), also for a pipe (time 0) and for a redirected file."""
    (tmp_path / "f").write_bytes(sample())
    (tmp_path / "g").write_bytes(b"x" * 10_000)
    os.utime(tmp_path / "f", (1_700_000_000, 1_700_000_000))
    subprocess.run(["gzip", tmp_path / "f", tmp_path / "g"], check=True)
    os.utime(tmp_path / "g.gz", (1_600_000_000, 1_600_000_000))  # header time differs
    files = [tmp_path / "f.gz", tmp_path / "g.gz"]
    env = {**os.environ, "TZ": "Europe/Paris"}
    theirs = subprocess.run(["gzip", flags, *files], capture_output=True, env=env)
    p = wd(flags, *files, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.decode() == theirs.stdout.decode()
    packed = (tmp_path / "g.gz").read_bytes()
    theirs = subprocess.run(["gzip", flags], input=packed, capture_output=True, env=env)
    p = wd(flags, stdin=packed, env=env)
    assert p.returncode == 0 and p.stdout.decode() == theirs.stdout.decode()
    with open(tmp_path / "g.gz", "rb") as f:
        theirs = subprocess.run(["gzip", flags], stdin=f, capture_output=True, env=env)
    with open(tmp_path / "g.gz", "rb") as f:
        assert EXE is not None
        p = subprocess.run([EXE, flags], stdin=f, capture_output=True, env=env)
    assert p.returncode == 0 and p.stdout.decode() == theirs.stdout.decode()


def test_verbose_summary(tmp_path: Path) -> None:
    f, _ = gz_file(tmp_path)
    p = wd("-v", f)
    assert p.returncode == 0
    line = p.stderr.decode()
    assert line.count("\n") == 1, line
    assert line.startswith(f"{f}:\t") and f"-- replaced with {f}.gz" in line, line
    assert "MB/s" in line and "%" in line
    p = wd("-dvk", f"{f}.gz")
    assert p.returncode == 0 and f"-- created {f}\n" not in p.stderr.decode()
    assert f"-- created {f} (" in p.stderr.decode()


def test_quiet_silences_warnings_not_the_status(tmp_path: Path) -> None:
    f = tmp_path / "t.gz"
    f.write_bytes(gzip.compress(b"data") + b"junk")
    p = wd("-q", "-t", f)
    assert p.returncode == 2 and p.stderr == b""


def test_recursive(tmp_path: Path) -> None:
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "a").write_bytes(b"a" * 100)
    (top / "sub" / "b").write_bytes(b"b" * 100)
    (top / "sub" / "old.gz").write_bytes(gzip.compress(b"old"))
    p = wd("-r", top)
    assert p.returncode == 0, p.stderr
    assert sorted(str(x.relative_to(top)) for x in top.rglob("*") if x.is_file()) == [
        "a.gz",
        "sub/b.gz",
        "sub/old.gz",
    ]
    p = wd("-dr", top)
    assert p.returncode == 0, p.stderr
    assert (top / "a").read_bytes() == b"a" * 100
    assert (top / "sub" / "old").read_bytes() == b"old"
    p = wd(top)
    assert p.returncode == 2 and b"is a directory -- ignored" in p.stderr


def test_recursive_goes_on_after_a_damaged_file(tmp_path: Path) -> None:
    (tmp_path / "a.gz").write_bytes(gzip.compress(sample())[:-100])
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"fine"))
    p = wd("-dr", tmp_path)
    assert p.returncode == 1 and b"a.gz" in p.stderr and p.stderr.count(b"\n") == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.gz", "b"]


def test_trailing_garbage_is_a_warning(tmp_path: Path) -> None:
    data = sample()
    f = tmp_path / "t.gz"
    f.write_bytes(gzip.compress(data) + b"this is not gzip\n")
    p = wd("decompress", "-c", f)
    assert p.returncode == 2 and p.stdout == data
    assert p.stderr == f"warpdrive: {f}: decompression OK, trailing garbage ignored\n".encode()
    p = wd("decompress", stdin=f.read_bytes())
    assert p.returncode == 2 and p.stdout == data and b"stdin: decompression OK" in p.stderr
    p = wd("-t", f)
    assert p.returncode == 2 and b"trailing garbage ignored" in p.stderr
    # As gzip: the output is kept and the input goes.
    p = wd("decompress", f)
    assert p.returncode == 2
    assert (tmp_path / "t").read_bytes() == data and not f.exists()


def test_symlinks_are_refused_without_force(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(f)
    p = wd("compress", link)
    assert p.returncode == 1 and b"symbolic link" in p.stderr and b"link" in p.stderr
    assert f.read_bytes() == data and link.is_symlink()
    assert not (tmp_path / "link.gz").exists()
    p = wd("compress", "-c", link)  # read through, as gzip -c
    assert p.returncode == 0 and gzip.decompress(p.stdout) == data
    p = wd("compress", "-f", link)
    assert p.returncode == 0 and gzip.decompress((tmp_path / "link.gz").read_bytes()) == data


def test_hard_linked_files_are_refused_without_force(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    os.link(f, tmp_path / "other")
    p = wd("compress", "-k", f)
    assert (
        p.returncode == 2
        and p.stderr == f"warpdrive: {f} has 1 other link -- file ignored\n".encode()
    )
    assert not (tmp_path / "f.gz").exists()
    p = wd("compress", f)
    assert p.returncode == 2 and f.exists()
    p = wd("compress", "-f", f)
    assert p.returncode == 0 and not f.exists() and (tmp_path / "other").read_bytes() == data


def test_existing_output_is_a_warning_and_kept(tmp_path: Path) -> None:
    f, _ = gz_file(tmp_path)
    (tmp_path / "f.gz").write_bytes(b"precious")
    p = wd("compress", f)
    assert p.returncode == 2
    assert p.stderr == f"warpdrive: {f}.gz already exists; not overwritten (use -f)\n".encode()
    assert (tmp_path / "f.gz").read_bytes() == b"precious" and f.exists()


def test_terminals_refused(tmp_path: Path) -> None:
    assert EXE is not None
    master, slave = pty.openpty()
    try:
        p = subprocess.run([EXE, "decompress"], stdin=slave, capture_output=True, timeout=60)
        assert p.returncode == 1, p.stderr
        assert b"compressed data not read from a terminal" in p.stderr
        p = subprocess.run(
            [EXE, "decompress", "-c", os.ttyname(slave)], capture_output=True, timeout=60
        )
        assert p.returncode == 1 and b"not read from a terminal" in p.stderr
        p = subprocess.run([EXE], stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
        assert p.returncode == 1 and b"not written to a terminal" in p.stderr
    finally:
        os.close(slave)
        os.close(master)
    del tmp_path


def fsize_limit(limit: int) -> Callable[[], None]:
    """A preexec function: files may grow to ``limit`` bytes (writing past it fails with
    EFBIG instead of raising SIGXFSZ), as a full disk would stop them."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_blamed_on_the_output(tmp_path: Path) -> None:
    assert EXE is not None
    f = tmp_path / "in"
    f.write_bytes(os.urandom(3 << 20))
    with open("/dev/full", "wb") as full:
        p = subprocess.run([EXE, "compress", "-c", f], stdout=full, stderr=subprocess.PIPE)
    assert p.returncode == 1 and p.stderr == b"warpdrive: stdout: No space left on device\n"
    out = tmp_path / "out.gz"
    p = subprocess.run(
        [EXE, "compress", "-o", out, f],
        capture_output=True,
        preexec_fn=fsize_limit(1 << 20),
        timeout=120,
    )
    assert p.returncode == 1 and p.stderr == f"warpdrive: {out}: File too large\n".encode()
    assert sorted(x.name for x in tmp_path.iterdir()) == ["in"]


def test_output_option_stdout_and_folder(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    p = wd("compress", "-o", "-", f)
    assert p.returncode == 0 and gzip.decompress(p.stdout) == data
    assert sorted(x.name for x in tmp_path.iterdir()) == ["f"]
    dest = tmp_path / "dest"
    dest.mkdir()
    g, _ = gz_file(tmp_path, "g", b"g")
    p = wd("compress", "-o", dest, f, g)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in dest.iterdir()) == ["f.gz", "g.gz"]
    assert f.exists() and g.exists()
    p = wd("compress", "-o", dest, f)
    assert p.returncode == 2 and f"{dest}/f.gz already exists".encode() in p.stderr
    assert b".part" not in p.stderr and sorted(x.name for x in dest.iterdir()) == ["f.gz", "g.gz"]
    p = wd("decompress", "-o", tmp_path, dest / "f.gz")
    assert p.returncode == 2, p.stderr  # tmp_path/f exists
    p = wd("decompress", "-f", "-o", tmp_path, dest / "f.gz")
    assert p.returncode == 0 and f.read_bytes() == data and (dest / "f.gz").exists()


def test_process_substitution_inputs(tmp_path: Path) -> None:
    assert EXE is not None
    data = sample()
    for argv, payload, want in (
        ([EXE, "compress", "-c"], data, None),
        ([EXE, "decompress", "-c"], gzip.compress(data), data),
        ([EXE, "compress", "-o", str(tmp_path / "out.gz")], data, None),
    ):
        r, w = os.pipe()
        writer = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=w)
        os.close(w)
        p = subprocess.Popen(
            [*argv, f"/dev/fd/{r}"], pass_fds=[r], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        os.close(r)
        assert writer.stdin is not None
        writer.stdin.write(payload)
        writer.stdin.close()
        out, err = p.communicate(timeout=120)
        writer.wait()
        assert p.returncode == 0, err
        if want is not None:
            assert out == want
        elif out:
            assert gzip.decompress(out) == data
    assert gzip.decompress((tmp_path / "out.gz").read_bytes()) == data


def test_restores_the_name_gzip_saved_with_capital_n(tmp_path: Path) -> None:
    src = tmp_path / "original.txt"
    src.write_bytes(b"named\n")
    os.utime(src, (1_500_000_000, 1_500_000_000))
    subprocess.run(["gzip", "-N", src], check=True)
    (tmp_path / "original.txt.gz").rename(tmp_path / "renamed.gz")
    p = wd("-dN", tmp_path / "renamed.gz")
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["original.txt"]
    assert os.stat(tmp_path / "original.txt").st_mtime == 1_500_000_000
    subprocess.run(["gzip", "-N", tmp_path / "original.txt"], check=True)
    (tmp_path / "original.txt.gz").rename(tmp_path / "renamed.gz")
    p = wd("-d", "-n", tmp_path / "renamed.gz")
    assert p.returncode == 0 and (tmp_path / "renamed").read_bytes() == b"named\n"


@pytest.mark.parametrize("flags", [["-N", "-k"], ["-k"]])
def test_compressing_saves_the_name_and_time_unless_n(tmp_path: Path, flags: list[str]) -> None:
    """As gzip: the name and time are stored by default and with -N, not with -n."""
    src = tmp_path / "original.txt"
    src.write_bytes(sample())
    os.utime(src, (1_500_000_000, 1_500_000_000))
    p = wd(*flags, src)
    assert p.returncode == 0, p.stderr
    ours = without_index((tmp_path / "original.txt.gz").read_bytes())
    theirs = subprocess.run(["gzip", "-c", src], capture_output=True, check=True).stdout
    # flags, mtime, then (after XFL and OS) the name: the same bytes as gzip's
    assert ours[3:8] == theirs[3:8] and ours[10:23] == theirs[10:23] == b"original.txt\0"
    (tmp_path / "original.txt.gz").rename(tmp_path / "renamed.gz")
    (tmp_path / "x").mkdir()
    os.rename(src, tmp_path / "x" / "kept")
    subprocess.run(["gzip", "-dN", tmp_path / "renamed.gz"], check=True)
    assert (tmp_path / "original.txt").read_bytes() == sample()
    assert os.stat(tmp_path / "original.txt").st_mtime == 1_500_000_000
    # With -n neither is stored.
    p = wd("-n", "-c", tmp_path / "original.txt")
    assert p.stdout[3] == 0 and p.stdout[4:8] == b"\0\0\0\0"
    assert gzip.decompress(p.stdout) == sample()


def test_python_m_and_the_gunzip_zcat_names(tmp_path: Path) -> None:
    _, data = gz_file(tmp_path)
    packed = gzip.compress(data)
    p = subprocess.run(
        [sys.executable, "-m", "warpdrive", "-dc"], input=packed, capture_output=True
    )
    assert p.returncode == 0 and p.stdout == data, p.stderr
    zcat = shutil.which("wdzcat", path=SCRIPTS)
    gunzip = shutil.which("wdgunzip", path=SCRIPTS)
    assert zcat is not None and gunzip is not None
    (tmp_path / "p.gz").write_bytes(packed)
    p = subprocess.run([zcat, tmp_path / "p.gz"], capture_output=True)
    assert p.returncode == 0 and p.stdout == data and (tmp_path / "p.gz").exists()
    p = subprocess.run([gunzip, tmp_path / "p.gz"], capture_output=True)
    assert p.returncode == 0 and (tmp_path / "p").read_bytes() == data
    # A link named like gunzip or zcat behaves like it (argv[0]).
    assert EXE is not None
    link = tmp_path / "zcat"
    link.symlink_to(EXE)
    (tmp_path / "q.gz").write_bytes(packed)
    p = subprocess.run([link, tmp_path / "q.gz"], capture_output=True)
    assert p.returncode == 0 and p.stdout == data, p.stderr
    (tmp_path / "gunzip").symlink_to(EXE)
    p = subprocess.run([tmp_path / "gunzip", tmp_path / "q.gz"], capture_output=True)
    assert p.returncode == 0 and (tmp_path / "q").read_bytes() == data, p.stderr
    assert not (tmp_path / "q.gz").exists()


def test_old_subcommands_still_work(tmp_path: Path) -> None:
    f, data = gz_file(tmp_path)
    p = wd("compress", "-c", "-l", "1", f)
    assert p.returncode == 0 and gzip.decompress(p.stdout) == data
    p = wd("decompress", "-c", stdin=gzip.compress(data))
    assert p.returncode == 0 and p.stdout == data


# --- progress ------------------------------------------------------------------------------


def big_file(tmp_path: Path, mib: int = 8) -> Path:
    """A file of zeros (quick to compress, even in an emulated guest)."""
    f = tmp_path / "big"
    with open(f, "wb") as w:
        w.truncate(mib << 20)
    return f


def test_progress_fits_a_narrow_terminal_and_has_eta(tmp_path: Path) -> None:
    assert EXE is not None
    f = big_file(tmp_path)
    rc, shown = on_pty([EXE, "compress", "-k", str(f)], env=NO_DELAY, cols=40)
    assert rc == 0
    lines = screen_lines(shown)
    assert lines and all(len(x) <= 40 for x in lines), lines
    assert any(x.startswith("big:") and "MB" in x for x in lines), lines
    assert any("<" in x for x in lines), lines  # elapsed<remaining
    # Erased when done: the last thing sent blanks the line.
    assert shown.rstrip(b" ").endswith(b"\r"), shown[-80:]
    rc, shown = on_pty([EXE, "compress", "-k", "-f", str(f)], env=NO_DELAY, cols=120)
    assert rc == 0 and any("MB/s" in x for x in screen_lines(shown)), shown


def test_no_progress_for_small_inputs_or_when_quiet(tmp_path: Path) -> None:
    assert EXE is not None
    f, _ = gz_file(tmp_path, "small", b"tiny" * 100)
    rc, shown = on_pty([EXE, "compress", "-k", str(f)], env=NO_DELAY)
    assert rc == 0 and shown == b""
    # stdin too, when it is a file whose size tells the work is short.
    (tmp_path / "small.gz").write_bytes(gzip.compress(b"tiny"))
    with open(tmp_path / "small.gz", "rb") as small:
        rc, shown = on_pty([EXE, "decompress"], env=NO_DELAY, stdin=small.fileno())
    assert rc == 0 and shown == b""
    big = big_file(tmp_path)
    rc, shown = on_pty([EXE, "compress", "-q", "-k", str(big)], env=NO_DELAY)
    assert rc == 0 and shown == b""


def test_progress_never_writes_onto_terminal_data(tmp_path: Path) -> None:
    assert EXE is not None
    data = b"".join(b"%d plain text line\n" % i for i in range(400_000))
    packed = tmp_path / "p.gz"
    packed.write_bytes(gzip.compress(data, 1))
    cat = subprocess.Popen(["cat", packed], stdout=subprocess.PIPE)
    assert cat.stdout is not None
    rc, shown = on_pty(
        [EXE, "decompress"], env=NO_DELAY, stdin=cat.stdout.fileno(), stdout_on_pty=True
    )
    cat.stdout.close()
    cat.wait()
    assert rc == 0
    assert shown.replace(b"\r\n", b"\n") == data


def test_a_second_instance_draws_no_bar_while_one_holds_the_terminal(tmp_path: Path) -> None:
    assert EXE is not None
    f = big_file(tmp_path, 40)
    master, slave = pty.openpty()
    try:
        # Another warpdrive (here: the test) holds the terminal's lock.
        holder = os.open(f"/proc/self/fd/{slave}", os.O_RDONLY | os.O_NOCTTY)
        fcntl.flock(holder, fcntl.LOCK_EX)
        p = subprocess.run(
            [EXE, "compress", "-k", str(f)],
            stderr=slave,
            env={**os.environ, **NO_DELAY},
            timeout=120,
        )
        os.close(holder)
        os.close(slave)
        slave = -1
        shown = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 1 << 16):
                shown += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0 and shown == b""


def test_two_piped_instances_share_no_line(tmp_path: Path) -> None:
    assert EXE is not None
    out = tmp_path / "back"
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (24, 100))
    shown = bytearray()

    def collect() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 1 << 16):
                shown.extend(chunk)

    reader = threading.Thread(target=collect)
    reader.start()
    try:
        # The first reads a pipe of its own, so that the two are told apart by name.
        feed = tmp_path / "feed"
        os.mkfifo(feed)
        p = subprocess.Popen(
            ["sh", "-c", f'"{EXE}" compress -c "{feed}" | "{EXE}" decompress > "{out}"'],
            stdin=subprocess.DEVNULL,
            stderr=slave,
            env={**os.environ, **NO_DELAY},
        )
        os.close(slave)
        slave = -1
        pieces: list[bytes] = []
        # Opened for reading too, so that neither opening nor writing can block for good if
        # the command fails.
        w = os.open(feed, os.O_RDWR | os.O_NONBLOCK)
        try:
            # The second instance writes its second piece only after its first progress
            # call: from then on both have tried to draw, while the first still waits for
            # the end of its input. Fed a piece at a time, as the first reads ahead.
            while not out.exists() or out.stat().st_size <= 3 << 19:
                assert len(pieces) < 256, "no output"
                pieces.append(os.urandom(1 << 20))
                view = memoryview(pieces[-1])
                while view:
                    assert p.poll() is None, "the pipeline ended early"
                    select.select([], [w], [], 0.1)
                    with contextlib.suppress(BlockingIOError):
                        view = view[os.write(w, view) :]
        finally:
            os.close(w)
        data = b"".join(pieces)
        assert p.wait(timeout=120) == 0
    finally:
        if slave >= 0:
            os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    assert out.read_bytes() == data
    names = {x.split(":")[0] for x in screen_lines(bytes(shown)) if x.strip()}
    assert len(names) == 1 and names <= {"feed", "stdin"}, screen_lines(bytes(shown))


# --- the same commands with gzip and with warpdrive ------------------------------------------


def _setup(d: Path, kind: str) -> None:
    """The same files for both tools (no random data, no time in gzip headers)."""
    data = sample()
    (d / "f").write_bytes(data)
    packed = gzip.compress(data, mtime=0)
    if kind in ("gz", "existing"):
        (d / "f.gz").write_bytes(packed if kind == "gz" else b"precious")
    if kind == "bad":
        (d / "bad.gz").write_bytes(packed[: len(packed) // 2])
    if kind == "junk":
        (d / "junk.gz").write_bytes(packed + b"junk")
    if kind == "tree":
        (d / "t" / "s").mkdir(parents=True)
        (d / "t" / "a").write_bytes(b"a" * 1000)
        (d / "t" / "s" / "b.gz").write_bytes(packed)
    if kind == "link":
        (d / "link").symlink_to("f")
    if kind == "hard":
        os.link(d / "f", d / "other")
    if kind == "ro":
        (d / "ro").mkdir()
        (d / "ro" / "f").write_bytes(data)
        os.chmod(d / "ro", 0o555)
    if kind == "big":
        (d / "r").write_bytes(random.Random(17).randbytes(1 << 20))


#: name: (setup, arguments, stdin). Each runs with gzip and with warpdrive in a folder of its
#: own; the exit status, the files left (their data, decompressed) and stdout must match.
SAME_AS_GZIP: dict[str, tuple[str, list[str], bytes | None]] = {
    "compress": ("", ["f"], None),
    "decompress": ("gz", ["-d", "f.gz"], None),
    "stdout": ("", ["-c", "f"], None),
    "keep": ("", ["-k", "f"], None),
    "existing output": ("existing", ["f"], None),
    "force": ("existing", ["-f", "f"], None),
    "test good": ("gz", ["-t", "f.gz"], None),
    "test damaged": ("bad", ["-t", "bad.gz"], None),
    "damaged": ("bad", ["-d", "bad.gz"], None),
    "trailing garbage": ("junk", ["-d", "junk.gz"], None),
    "recursive": ("tree", ["-r", "t"], None),
    "recursive decompress": ("tree", ["-dr", "t"], None),
    "list": ("gz", ["-l", "f.gz"], None),
    "stdin to stdout": ("", [], sample()),
    "stdin decompress": ("", ["-d"], gzip.compress(sample())),
    "stdin damaged": ("", ["-dc"], gzip.compress(sample())[:1000]),
    "symlink": ("link", ["link"], None),
    "symlink forced": ("link", ["-f", "link"], None),
    "hard link": ("hard", ["f"], None),
    "unknown suffix": ("", ["-d", "f"], None),
    "already compressed": ("gz", ["f.gz"], None),
    "suffix": ("", ["-S", ".x", "f"], None),
    "missing": ("", ["nope"], None),
    "directory": ("tree", ["t"], None),
    "several with a missing one": ("", ["-k", "nope", "f"], None),
    "full disk": ("big", ["-k", "r"], None),
    # Refused for an ordinary user, allowed for root: the same for both tools either way.
    "read-only folder": ("ro", ["ro/f"], None),
}


def _left(d: Path) -> dict[str, bytes]:
    """The files under d, gzip ones decompressed (as far as they go)."""
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_file() and not p.is_symlink():
            data = p.read_bytes()
            if data[:2] == b"\x1f\x8b":
                with contextlib.suppress(EOFError, OSError, zlib.error):
                    data = gzip.decompress(data)
            out[str(p.relative_to(d))] = data
    return out


@pytest.mark.parametrize("name", list(SAME_AS_GZIP))
def test_same_as_gzip(tmp_path: Path, name: str) -> None:
    assert EXE is not None
    kind, args, stdin = SAME_AS_GZIP[name]
    seen = []
    for tool in ("gzip", EXE):
        d = tmp_path / os.path.basename(tool)
        d.mkdir()
        _setup(d, kind)
        p = subprocess.run(
            [tool, *args],
            input=stdin or b"",
            capture_output=True,
            cwd=d,
            timeout=120,
            preexec_fn=fsize_limit(256 << 10) if name == "full disk" else None,
        )
        out = p.stdout
        if out[:2] == b"\x1f\x8b":
            with contextlib.suppress(EOFError, OSError, zlib.error):
                out = gzip.decompress(out)
        if kind == "ro":
            os.chmod(d / "ro", 0o755)
        seen.append((p.returncode, _left(d), out))
    assert seen[0] == seen[1], (name, [(s[0], sorted(s[1])) for s in seen])


def test_a_plain_job_starts_without_the_modules_it_does_not_use(tmp_path: Path) -> None:
    # Start-up is most of a small file's time. argparse imports shutil (and with it the
    # compression modules) to size its help at the terminal's width; the listing (-l) has
    # its own module. A job that neither prints help nor lists loads neither.
    src = tmp_path / "a.gz"
    src.write_bytes(gzip.compress(b"hello\n"))
    code = (
        "import sys\n"
        "from warpdrive.cli import main\n"
        "rc = main(['-dc', sys.argv[1]])\n"
        "sys.stdout.flush()\n"
        "print(rc, 'shutil' in sys.modules, 'warpdrive._cli_list' in sys.modules)\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(src)], capture_output=True, timeout=120)
    assert p.stdout == b"hello\n0 False False\n", (p.stdout, p.stderr)


def test_help_is_laid_out_as_argparse_would_lay_it_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # The width, found without shutil, is the one argparse's own formatter picks.
    import argparse  # noqa: PLC0415

    from warpdrive import _cli_options  # noqa: PLC0415

    for columns in ("60", "120", "0", "junk"):
        monkeypatch.setenv("COLUMNS", columns)
        ours = _cli_options.parser("warpdrive", None)
        theirs = _cli_options.parser("warpdrive", None)
        theirs.formatter_class = argparse.HelpFormatter
        assert ours.format_help() == theirs.format_help(), columns
