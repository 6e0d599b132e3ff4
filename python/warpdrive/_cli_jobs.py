"""The command line's jobs: one input compressed or decompressed into a file (named only on
success), stdout, or nothing (``-t``)."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import time

from . import _core
from ._cli_io import CliError, CliWarning, SideError, Sink, Source
from ._cli_progress import progress_for, terminal_for_data
from ._stream import decompress_indexed, index_room

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ._cli_options import Options


#: Signals held while output is being given its name or removed.
HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


class Done:
    """What a job did: bytes read and written, its seconds, and whether junk followed the
    input (decompression keeps what came before it, as gzip does)."""

    __slots__ = ("bytes_in", "bytes_out", "garbage", "seconds")

    def __init__(self, bytes_in: int, bytes_out: int, seconds: float, garbage: bool = False):
        self.bytes_in = bytes_in
        self.bytes_out = bytes_out
        self.seconds = seconds
        self.garbage = garbage


def run(
    opts: Options,
    src: Source,
    dst: Sink,
    progress: Callable[[int, int], object] | None,
) -> Done:
    start = time.monotonic()
    garbage = False
    if opts.mode == "compress":
        n_in, n_out = _compress(opts, src, dst, progress)
    else:
        seen = Seen(progress)
        pieces = _decompress_pieces(opts, src, dst, seen)
        if pieces is not None:
            n_in, n_out = pieces
        else:
            try:
                n_in, n_out = _core.decompress_stream(src, dst, opts.format, seen)
            except Exception as e:
                from .errors import TrailingGarbageError  # noqa: PLC0415 -- see is_ours

                if not isinstance(e, TrailingGarbageError):
                    raise
                # Everything before the junk was decoded, checked and written (gzip keeps it).
                garbage = True
                n_in, n_out = seen.done_in, seen.done_out
    dst.flush()
    return Done(n_in, n_out, time.monotonic() - start, garbage)


def _compress(
    opts: Options, src: Source, dst: Sink, progress: Callable[[int, int], object] | None
) -> tuple[int, int]:
    """One stream; gzip -N: the input's name and time in the header. Into a regular file, the
    header gets the piece index (``wd_core::pieces``), for decoding on several queues."""
    header: dict[str, Any] = {}
    if opts.format == "gzip" and opts.name is not False and src.stamp is not None:
        name = os.fsencode(os.path.basename(src.name)).replace(b"\0", b"")
        mtime = int(src.stamp.st_mtime)
        header = {"name": name, "mtime": mtime if 0 < mtime < 1 << 32 else 0}
    room = index_room(src.f, dst.f) if opts.format == "gzip" else None
    if room is not None and dst.f is not None:
        size, base = room
        out = dst.f

        def patch(offset: int, data: bytes) -> None:
            dst.flush()
            try:
                os.pwrite(out.fileno(), data, base + offset)
            except OSError as e:
                raise SideError(dst.name, e) from None

        header |= {"input_size": size, "on_index": patch}
    return _core.compress_stream(
        src, dst, opts.format, opts.level, progress, queues=opts.processes, **header
    )


def _decompress_pieces(opts: Options, src: Source, dst: Sink, seen: Seen) -> tuple[int, int] | None:
    """A regular gzip file with a piece index, into a regular file (or checked, -t): its
    pieces on several queues, as the library decodes them. None, with nothing left
    written, for any other case."""
    if opts.format != "gzip":
        return None
    try:
        return decompress_indexed(src.f, dst.f, seen, opts.processes, out=dst)
    except SideError:
        raise
    except OSError as e:
        # The core's errors are reading the input's; going back in the output is the rest.
        raise SideError(src.name if is_ours(e) else dst.name, e) from None


def is_ours(e: BaseException) -> bool:
    """Whether ``e`` is a :class:`WarpDriveError`. The module of errors is imported here, once
    something went wrong (the core imports it to raise one): the command starts without it."""
    from .errors import WarpDriveError  # noqa: PLC0415

    return isinstance(e, WarpDriveError)


class Seen:
    """Keeps the library's last progress figures (its totals are lost when it raises)."""

    def __init__(self, then: Callable[[int, int], object] | None) -> None:
        self.then = then
        self.done_in = 0
        self.done_out = 0

    def __call__(self, done_in: int, done_out: int) -> None:
        self.done_in, self.done_out = done_in, done_out
        if self.then is not None:
            self.then(done_in, done_out)


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


def _finish(fd: int, target: str, stamp: os.stat_result | None, mtime: int | None) -> None:
    try:
        os.fsync(fd)
    except OSError as e:
        raise SideError(target, e) from None
    if stamp is not None:
        os.fchmod(fd, stamp.st_mode & 0o7777)
        os.utime(fd, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    if mtime:
        os.utime(fd, (mtime, mtime))


def to_file(
    opts: Options,
    src: Source,
    size: int | None,
    target: str,
    stamp: os.stat_result | None,
    mtime: int | None = None,
) -> Done:
    if os.path.lexists(target) and not opts.force:
        raise CliWarning(f"{target} already exists; not overwritten (use -f)")
    folder = os.path.dirname(os.path.abspath(target))
    tmp: str | None = None
    try:
        fd = _unnamed_file(folder)
        if fd is None:
            import tempfile  # noqa: PLC0415 -- rarely needed, and slow to import

            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(target)}.", suffix=".part", dir=folder
            )
    except OSError as e:
        raise CliError(f"cannot create {target}: {e.strerror}") from None
    prog = progress_for(src.name, size, opts, False)
    ok = False
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            done = run(opts, src, Sink(out, target), prog)
            _finish(out.fileno(), target, stamp, mtime)
            held = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
            try:
                if tmp is None:
                    _link_into_place(out.fileno(), target, opts.force)
                elif opts.force:
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
            held = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return done


def to_stdout(opts: Options, src: Source, size: int | None) -> Done:
    if opts.mode == "compress" and not opts.force and sys.stdout.isatty():
        raise CliError("compressed data not written to a terminal. Use -f to force compression.")
    out = sys.stdout.buffer
    out.flush()
    on_tty = sys.stdout.isatty()
    prog = progress_for(src.name, size, opts, on_tty)
    try:
        with terminal_for_data(on_tty):
            return run(opts, src, Sink(out, "stdout"), prog)
    finally:
        if prog:
            prog.close()


def to_nothing(opts: Options, src: Source, size: int | None) -> Done:
    prog = progress_for(src.name, size, opts, False)
    try:
        return run(opts, src, Sink(None, "-"), prog)
    finally:
        if prog:
            prog.close()
