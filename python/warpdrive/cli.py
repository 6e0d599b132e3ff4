"""The ``warpdrive`` command: gzip-like compression on the accelerator, and device listing.

    warpdrive compress [-c] [-k] [-f] [-o OUT] [-l LEVEL | -1 .. -9] [-g | -z] [FILE ...]
    warpdrive decompress [-c] [-k] [-f] [-o OUT] [-g | -z] [FILE ...]
    warpdrive devices

Without FILE (or with ``-``) it filters stdin to stdout. Files become FILE.gz (gzip) or
FILE.zz (zlib) and decompress back; the input is removed on success unless ``-k`` or
``-c``. Output goes to a temporary file in the target's folder that is renamed into place
only on success, so a failure never leaves a partial file. Memory stays bounded for any
input size. Errors are one line on stderr and exit status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
    try:
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
            os.fsync(out.fileno())
        if mode_from is not None:
            os.chmod(tmp, mode_from.st_mode & 0o7777)
            os.utime(tmp, ns=(mode_from.st_atime_ns, mode_from.st_mtime_ns))
        os.replace(tmp, target)
        ok = True
    finally:
        if prog:
            prog.close()
        if not ok:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


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
    try:
        return _codec(args)
    except KeyboardInterrupt:
        _die("interrupted")
        return 130
    except CliError as e:
        _die(str(e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
