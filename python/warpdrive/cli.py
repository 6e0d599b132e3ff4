"""The ``warpdrive`` command: gzip-like compression on the accelerator, and device listing.

    warpdrive compress [-c] [-k] [-f] [-o OUT] [-l LEVEL | -1 .. -9] [-g | -z] [FILE ...]
    warpdrive decompress [-c] [-k] [-f] [-o OUT] [-g | -z] [FILE ...]
    warpdrive devices

Without FILE (or with ``-``) it filters stdin to stdout. Files become FILE.gz (gzip) or
FILE.zz (zlib) and decompress back; the input is removed on success unless ``-k`` or
``-c``. Output is written to an unnamed file in the target's folder (``O_TMPFILE``) that gets
its name only on success, so nothing partial is left behind, even when the process is killed
(``SIGKILL``). Where the file system cannot make unnamed files, a hidden temporary file is
used instead and removed on failure and on ``SIGINT``, ``SIGTERM`` and ``SIGHUP``. Memory stays
bounded for any input size. Errors are one line on stderr and exit status 1 (2 for usage
errors); a signal ends the command with status 128 + its number, as a shell reports gzip's.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import tempfile
import time
from typing import IO, TYPE_CHECKING, Literal

from . import __version__, _core
from .devices import CHOICES
from .devices import devices as list_devices
from .errors import WarpDriveError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Format = Literal["gzip", "zlib"]

PROG = "warpdrive"
SUFFIX: dict[str, str] = {"gzip": ".gz", "zlib": ".zz"}
#: Inputs at least this large get a progress bar when stderr is a terminal.
PROGRESS_MIN = 32 << 20


class CliError(Exception):
    """A failure reported as one line on stderr."""


class _Signalled(BaseException):
    """A terminating signal arrived: unwind (removing partial output) and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals that end the command after removing partial output (SIGINT arrives as
#: KeyboardInterrupt). What they say on stderr, as SIGINT's "interrupted".
_TERMINATING: dict[int, str] = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
#: Signals held while output is being given its name or removed.
_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _raise_signalled(signum: int, _frame: object) -> None:
    raise _Signalled(signum)


def _catch_terminating_signals() -> None:
    """Turns SIGTERM and SIGHUP into :class:`_Signalled`, unless ignored (``nohup``)."""
    for sig in _TERMINATING:
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, _raise_signalled)


def _die(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr)


class _Progress:
    """A one-line progress display on stderr, at most ten updates a second."""

    def __init__(self, name: str, total: int | None) -> None:
        self.name = name
        self.total = total
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, done_in: int, done_out: int) -> None:
        now = time.monotonic()
        if now - self.last < 0.1:
            return
        self.last = now
        rate = done_in / max(now - self.start, 1e-6) / 1e6
        pct = f"{100 * done_in / self.total:5.1f}% " if self.total else ""
        sys.stderr.write(f"\r{self.name}: {pct}{done_in >> 20} MiB in, {rate:.0f} MB/s ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _progress_for(name: str, size: int | None, quiet: bool) -> _Progress | None:
    if quiet or not sys.stderr.isatty():
        return None
    if size is not None and size < PROGRESS_MIN:
        return None
    return _Progress(name, size)


def _run(
    compress: bool,
    src: IO[bytes],
    dst: IO[bytes],
    fmt: Format,
    level: int,
    progress: Callable[[int, int], object] | None,
) -> None:
    if compress:
        _core.compress_stream(src, dst, fmt, level, progress)
    else:
        _core.decompress_stream(src, dst, fmt, progress)


def _output_name(path: str, compress: bool, fmt: Format, force: bool) -> str:
    suffix = SUFFIX[fmt]
    if compress:
        if path.endswith(suffix) and not force:
            raise CliError(f"{path}: already has {suffix} suffix -- unchanged")
        return path + suffix
    if path.endswith(suffix):
        return path[: -len(suffix)]
    if fmt == "gzip" and path.endswith(".tgz"):
        return path[:-4] + ".tar"
    raise CliError(f"{path}: unknown suffix -- ignored (expected {suffix}; use -c or -o)")


def _refuse_terminal(compress: bool, force: bool) -> None:
    if compress and not force and sys.stdout.isatty():
        raise CliError("compressed data not written to a terminal. Use -f to force")


def _to_stdout(
    compress: bool, src: IO[bytes], name: str, size: int | None, args: argparse.Namespace
) -> None:
    out = sys.stdout.buffer
    out.flush()
    prog = _progress_for(name, size, args.quiet)
    try:
        _run(compress, src, out, args.format, args.level, prog)
        out.flush()
    finally:
        if prog:
            prog.close()


#: Why ``O_TMPFILE`` may fail where the file system lacks it (older kernels say EISDIR).
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS}


def _unnamed_file(folder: str) -> int | None:
    """An unnamed file in ``folder`` (``O_TMPFILE``), or None where that is not supported."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        return os.open(folder, flag | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno in _NO_TMPFILE:
            return None
        raise


def _link_into_place(fd: int, target: str, force: bool) -> None:
    """Gives the unnamed file ``fd`` the name ``target``, replacing what is there if ``force``."""
    # linkat(/proc/self/fd, "N", AT_FDCWD, target, AT_SYMLINK_FOLLOW) needs no privilege,
    # unlike AT_EMPTY_PATH. A directory fd makes Python call linkat (with the default ones it
    # calls link(2), which does not follow the descriptor's link).
    fds = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for _ in range(3):
            try:
                os.link(str(fd), target, src_dir_fd=fds, follow_symlinks=True)
                return
            except FileExistsError:
                if not force:
                    raise CliError(f"{target} already exists; use -f to overwrite") from None
                # The old file goes, then the new one takes its name. A link cannot replace,
                # and a named step between would be left behind by SIGKILL.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(target)
    finally:
        os.close(fds)
    raise CliError(f"{target}: keeps being recreated -- not overwritten")


def _link_named(tmp: str, target: str) -> None:
    """Gives the named temporary ``tmp`` the name ``target``, which must not exist."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise CliError(f"{target} already exists; use -f to overwrite") from None
    os.unlink(tmp)


def _finish(fd: int, mode_from: os.stat_result | None) -> None:
    os.fsync(fd)
    if mode_from is not None:
        os.fchmod(fd, mode_from.st_mode & 0o7777)
        os.utime(fd, ns=(mode_from.st_atime_ns, mode_from.st_mtime_ns))


def _to_file(
    compress: bool,
    src: IO[bytes],
    name: str,
    size: int | None,
    target: str,
    args: argparse.Namespace,
    mode_from: os.stat_result | None,
) -> None:
    if os.path.lexists(target) and not args.force:
        raise CliError(f"{target} already exists; use -f to overwrite")
    folder = os.path.dirname(os.path.abspath(target))
    tmp: str | None = None
    try:
        fd = _unnamed_file(folder)
        if fd is None:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(target)}.", suffix=".part", dir=folder
            )
    except OSError as e:
        raise CliError(f"cannot create {target}: {e.strerror}") from None
    prog = _progress_for(name, size, args.quiet)
    ok = False
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            _run(compress, src, out, args.format, args.level, prog)
            _finish(out.fileno(), mode_from)
            held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            try:
                if tmp is None:
                    _link_into_place(out.fileno(), target, args.force)
                elif args.force:
                    os.replace(tmp, target)
                else:
                    _link_named(tmp, target)
                ok = True
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)
    finally:
        if prog:
            prog.close()
        if not ok and tmp is not None:
            # An unnamed file vanishes with its descriptor; a named one must be removed,
            # with the signals that would interrupt the removal held.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _one(compress: bool, path: str, args: argparse.Namespace) -> None:
    if path == "-":
        if args.output is None:
            _refuse_terminal(compress, args.force)
            _to_stdout(compress, sys.stdin.buffer, "stdin", None, args)
        else:
            _to_file(compress, sys.stdin.buffer, "stdin", None, args.output, args, None)
        return
    try:
        st = os.stat(path)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror}") from None
    if not os.path.isfile(path):
        raise CliError(f"{path}: not a regular file -- ignored")
    if args.stdout:
        target = None
    elif args.output is not None:
        target = args.output
    else:
        target = _output_name(path, compress, args.format, args.force)
    if target is not None and os.path.abspath(target) == os.path.abspath(path):
        raise CliError(f"{path}: input and output are the same file")
    with open(path, "rb", buffering=0) as src:
        if target is None:
            _refuse_terminal(compress, args.force)
            _to_stdout(compress, src, path, st.st_size, args)
        else:
            _to_file(compress, src, path, st.st_size, target, args, st)
    if target is not None and not args.keep:
        os.unlink(path)


def _codec(args: argparse.Namespace) -> int:
    compress = args.command == "compress"
    files: list[str] = args.files or ["-"]
    if args.output is not None and len(files) > 1:
        raise CliError("-o OUT takes a single input")
    if args.output is not None and args.stdout:
        raise CliError("-o and -c exclude each other")
    status = 0
    for path in files:
        try:
            _one(compress, path, args)
        except CliError as e:
            _die(str(e))
            status = 1
        except WarpDriveError as e:
            _die(f"{'stdin' if path == '-' else path}: {e}")
            status = 1
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, like gzip.
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return 1
        except OSError as e:
            where = e.filename if e.filename is not None else path
            _die(f"{where}: {e.strerror or e}")
            status = 1
    return status


def _devices(_args: argparse.Namespace) -> int:
    rows = [("NAME", "KIND", "API", "DIRECTION", "AVAILABLE", "USABLE", "DESCRIPTION")]
    for d in list_devices():
        avail = "-" if d.available_instances is None else str(d.available_instances)
        usable = "yes" if d.usable else f"no ({d.note})"
        rows.append((d.name, d.kind, d.device_api, d.direction, avail, usable, d.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        print("  ".join([*cells, r[-1]]))
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Compression on WarpDrive accelerator queues."
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("compress", "compress files (gzip-like)"),
        ("decompress", "decompress files"),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("files", nargs="*", metavar="FILE", help="files ('-' or none: stdin)")
        c.add_argument("-c", "--stdout", action="store_true", help="write to stdout, keep input")
        c.add_argument("-k", "--keep", action="store_true", help="keep the input file")
        c.add_argument("-f", "--force", action="store_true", help="overwrite existing output")
        c.add_argument("-o", "--output", metavar="OUT", help="output file (single input)")
        c.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        c.add_argument(
            "-D",
            "--device",
            choices=CHOICES,
            help="auto (default: hardware if free, else soft), soft or vfio",
        )
        fmt = c.add_mutually_exclusive_group()
        fmt.add_argument(
            "-g",
            "--gzip",
            dest="format",
            action="store_const",
            const="gzip",
            help="gzip format (default)",
        )
        fmt.add_argument(
            "-z", "--zlib", dest="format", action="store_const", const="zlib", help="zlib format"
        )
        c.set_defaults(format="gzip", level=-1)
        if name == "compress":
            c.add_argument(
                "-l",
                "--level",
                type=int,
                choices=range(1, 10),
                metavar="LEVEL",
                help="1 (fastest) .. 9 (smallest), default 6",
            )
            for n in range(1, 10):
                c.add_argument(
                    f"-{n}", dest="level", action="store_const", const=n, help=argparse.SUPPRESS
                )
    sub.add_parser("devices", help="list the devices present")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "devices":
        return _devices(args)
    if getattr(args, "level", -1) is None:
        args.level = -1
    if args.device is not None:
        # The core's queue opener follows WARPDRIVE_DEVICE.
        os.environ["WARPDRIVE_DEVICE"] = args.device
    _catch_terminating_signals()
    try:
        return _codec(args)
    except KeyboardInterrupt:
        _die("interrupted")
        return 128 + signal.SIGINT
    except _Signalled as sig:
        _die(_TERMINATING[sig.signum])
        return 128 + sig.signum
    except CliError as e:
        _die(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
