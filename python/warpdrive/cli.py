"""The ``warpdrive`` command: gzip's command line on the accelerator, and device listing.

    warpdrive [-cdfhklnNqrtvV19] [-S SUF] [-p N] [-o OUT] [-g | -z] [-D DEV] [FILE ...]
    warpdrive compress [OPTIONS] [FILE ...]      (as above; here -l N is the level)
    warpdrive decompress [OPTIONS] [FILE ...]    (as -d)
    warpdrive devices
    python -m warpdrive ...;  wdgunzip ... (as -d);  wdzcat ... (as -dc)

The options are gzip's and mean what they mean there (``gzip --help``): without FILE (or with
``-``) it filters stdin to stdout; FILE becomes FILE.gz (FILE.zz with ``-z``) and back, the
input removed on success unless ``-k`` or ``-c``; symbolic links, files with other hard links,
existing outputs and terminals are refused without ``-f``. ``-o OUT`` writes one input to OUT
(``-`` is stdout; a folder takes the outputs of several inputs) and never removes the input.

Output is written to an unnamed file in the target's folder (``O_TMPFILE``) that gets its name
only on success, so nothing partial is left behind, even when the process is killed
(``SIGKILL``). Where the file system cannot make unnamed files, a hidden temporary file is used
instead and removed on failure and on ``SIGINT``, ``SIGTERM`` and ``SIGHUP``. Memory stays
bounded for any input size. Errors and warnings are one line on stderr each; the exit status is
1 after an error, else 2 after a warning (gzip's), 2 for usage errors, and 128 + the number of
a signal that ended the command, as a shell reports gzip's.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import os
import signal
import stat
import struct
import sys
import time
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple

from . import __version__, _core
from ._stream import decompress_indexed, remaining, rewindable
from .types import DEFAULT_LEVEL, DEFAULT_LEVEL_VALUE, DEVICE_CHOICES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from tqdm import tqdm

#: The formats the command line writes files in (of the core's formats, the two with a
#: file suffix and a header that says which they are).
FileFormat = Literal["gzip", "zlib"]
#: The levels the core takes, in its order: fastest first.
LEVELS = range(_core.MIN_LEVEL, _core.MAX_LEVEL + 1)
Mode = Literal["compress", "decompress", "test", "list"]

PROG = "warpdrive"
SUFFIX: dict[str, str] = {"gzip": ".gz", "zlib": ".zz"}
#: Inputs known to be smaller than this never get a progress bar (one piece of work).
PROGRESS_MIN = 1 << 20
#: Seconds a job runs before its progress bar appears: quick jobs show none.
PROGRESS_DELAY = 1.0
#: Overrides PROGRESS_DELAY (seconds), so that tests need not make work that lasts.
PROGRESS_DELAY_ENV = "WARPDRIVE_PROGRESS_DELAY"

#: Exit statuses, gzip's: an error wins over a warning.
OK, ERROR, WARNING = 0, 1, 2


class CliError(Exception):
    """A failure reported as one line on stderr (exit status 1)."""


class CliWarning(Exception):
    """A file skipped or a result with a flaw, reported as one line (exit status 2)."""


class CliNotice(Exception):
    """A file left alone as asked, said in one line that leaves the exit status as it is
    (gzip's "already has .gz suffix")."""


class _Signalled(BaseException):
    """A terminating signal arrived: unwind (removing partial output) and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stdout_to_devnull() -> None:
    """Points fd 1 at /dev/null, so that what is left in stdout's buffer after it failed
    is dropped at exit instead of failing again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class _SideError(Exception):
    """An ``OSError`` of reading the input or writing the output, with the file to blame."""

    def __init__(self, name: str, err: OSError) -> None:
        super().__init__(name, err)
        self.name = name
        self.err = err

    def __str__(self) -> str:
        return f"{self.name}: {self.err.strerror or self.err}"


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


def _say(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr)


class Options:
    """What the command line asks for (a plain class: dataclasses costs the command's start
    several milliseconds)."""

    def __init__(self, mode: Mode, args: argparse.Namespace) -> None:
        self.mode = mode
        self.files: list[str] = args.files
        self.stdout: bool = args.stdout
        self.keep: bool = args.keep
        self.force: bool = args.force
        # -q and -v undo each other: the last one given wins, as in gzip.
        self.quiet: bool = args.loudness < 0
        self.verbose: bool = args.loudness > 0
        self.recursive: bool = args.recursive
        #: -N True, -n False, neither None: compressing stores the name and time unless
        #: -n; decompressing and listing use the stored ones only with -N (as gzip).
        self.name: bool | None = args.name
        self.suffix: str | None = args.suffix
        self.level: int = DEFAULT_LEVEL if args.level is None else args.level
        self.format: FileFormat = args.format
        self.output: str | None = args.output
        self.processes: int | None = args.processes
        #: -l's rows: compressed, uncompressed, header and trailer bytes, name.
        self.listed: list[_Listed] = []

    @property
    def suf(self) -> str:
        return self.suffix if self.suffix is not None else SUFFIX[self.format]


# --- reading and writing, each side blamed for its own errors ---------------------------


class _Source:
    """The input: ``read(n)`` for the library, errors named after the input."""

    def __init__(self, f: IO[bytes], name: str, stamp: os.stat_result | None = None) -> None:
        self.f = f
        self.name = name
        #: The input file's status, for the name and time -N stores.
        self.stamp = stamp

    def read(self, n: int) -> bytes:
        try:
            b = self.f.read(n)
        except OSError as e:
            raise _SideError(self.name, e) from None
        return b


class _Sink:
    """The output: ``write(b)`` for the library, errors named after the output."""

    def __init__(self, f: IO[bytes] | None, name: str) -> None:
        self.f = f
        self.name = name

    def write(self, b: bytes) -> int:
        """Writes all of ``b`` (a raw file may take part of it: the rest follows)."""
        if self.f is None:  # -t: the data is checked, not kept
            return len(b)
        view = memoryview(b)
        try:
            while view:
                n = self.f.write(view)
                if n is None:  # a buffered file takes everything
                    break
                if n == 0:
                    raise OSError(errno.EIO, "nothing written")
                view = view[n:]
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _SideError(self.name, e) from None
        return len(b)

    def flush(self) -> None:
        if self.f is None:
            return
        try:
            self.f.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _SideError(self.name, e) from None


# --- progress ------------------------------------------------------------------------------


def _progress_delay() -> float:
    raw = os.environ.get(PROGRESS_DELAY_ENV)
    if raw is None:
        return PROGRESS_DELAY
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return PROGRESS_DELAY


#: :func:`_claim_terminal` could not lock the terminal (no lock to hold), but may draw.
_UNLOCKED = -1


def _claim_terminal() -> int | None:
    """Takes the lock of stderr's terminal, held by whichever warpdrive draws on it (or
    writes its data there): two instances in one pipeline never share a line. The terminal
    is opened anew (through /proc, which needs no name for it), since a lock taken on the
    descriptor the shell handed both would be theirs together. Returns the descriptor that
    holds the lock, :data:`_UNLOCKED` where the terminal cannot be locked at all, or None
    while another instance holds it."""
    try:
        fd = os.open(
            f"/proc/self/fd/{sys.stderr.fileno()}", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC
        )
    except OSError:
        return _UNLOCKED
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        return _UNLOCKED
    return fd


class _Progress:
    """A progress bar on a terminal stderr (tqdm), drawn only once the job has run for
    :data:`PROGRESS_DELAY` and only while no other warpdrive holds the terminal. It fits the
    terminal's width, shows MB, MB/s and (for a known size) the time left, and is erased
    when done."""

    def __init__(self, name: str, total: int | None) -> None:
        self.name = name
        self.total = total
        self.start = time.monotonic()
        self.delay = _progress_delay()
        self.bar: tqdm[Any] | None = None
        self.lock: int | None = None
        self.refused = False

    def __call__(self, done_in: int, _done_out: int) -> None:
        if self.bar is None:
            if self.refused or time.monotonic() - self.start < self.delay:
                return
            self.lock = _claim_terminal()
            if self.lock is None:
                self.refused = True
                return
            self.bar = self._open()
        self.bar.update(done_in - self.bar.n)

    def _open(self) -> tqdm[Any]:
        from tqdm import tqdm  # noqa: PLC0415 -- only a job that lasts pays for the import

        known = self.total is not None
        fmt = (
            "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} MB [{elapsed}<{remaining}, "
            "{rate_fmt}]"
            if known
            else "{desc}: {n:.0f} MB [{elapsed}, {rate_fmt}]"
        )
        return tqdm(
            total=self.total,
            desc=os.path.basename(self.name),
            unit="MB",
            unit_scale=1e-6,
            bar_format=fmt,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=False,
            mininterval=0.2,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.lock is not None and self.lock != _UNLOCKED:
            os.close(self.lock)
        self.lock = None


def _progress_for(
    name: str, size: int | None, opts: Options, data_on_tty: bool
) -> _Progress | None:
    if opts.quiet or not sys.stderr.isatty() or data_on_tty:
        return None
    if size is not None and size < PROGRESS_MIN:
        return None
    return _Progress(name, size)


@contextlib.contextmanager
def _terminal_for_data(data_on_tty: bool) -> Iterator[None]:
    """While data goes to a terminal, holds its lock: no other instance draws a bar there."""
    fd = _claim_terminal() if data_on_tty and sys.stderr.isatty() else None
    try:
        yield
    finally:
        if fd is not None and fd != _UNLOCKED:
            os.close(fd)


# --- the work --------------------------------------------------------------------------------


class _Done(NamedTuple):
    bytes_in: int
    bytes_out: int
    seconds: float
    garbage: bool = False


def _run(
    opts: Options,
    src: _Source,
    dst: _Sink,
    progress: Callable[[int, int], object] | None,
) -> _Done:
    start = time.monotonic()
    garbage = False
    if opts.mode == "compress":
        n_in, n_out = _compress(opts, src, dst, progress)
    else:
        seen = _Seen(progress)
        pieces = _decompress_pieces(opts, src, dst, seen)
        if pieces is not None:
            n_in, n_out = pieces
        else:
            try:
                n_in, n_out = _core.decompress_stream(src, dst, opts.format, seen)
            except Exception as e:
                from .errors import TrailingGarbageError  # noqa: PLC0415 -- see _is_ours

                if not isinstance(e, TrailingGarbageError):
                    raise
                # Everything before the junk was decoded, checked and written (gzip keeps it).
                garbage = True
                n_in, n_out = seen.done_in, seen.done_out
    dst.flush()
    return _Done(n_in, n_out, time.monotonic() - start, garbage)


def _compress(
    opts: Options, src: _Source, dst: _Sink, progress: Callable[[int, int], object] | None
) -> tuple[int, int]:
    """One stream; gzip -N: the input's name and time in the header. Into a regular file, the
    header gets the piece index (``wd_core::pieces``), for decoding on several queues."""
    header: dict[str, Any] = {}
    if opts.format == "gzip" and opts.name is not False and src.stamp is not None:
        name = os.fsencode(os.path.basename(src.name)).replace(b"\0", b"")
        mtime = int(src.stamp.st_mtime)
        header = {"name": name, "mtime": mtime if 0 < mtime < 1 << 32 else 0}
    base = rewindable(dst.f)
    size = remaining(src.f)
    if opts.format == "gzip" and base is not None and size is not None and dst.f is not None:
        out = dst.f

        def patch(offset: int, data: bytes) -> None:
            dst.flush()
            try:
                os.pwrite(out.fileno(), data, base + offset)
            except OSError as e:
                raise _SideError(dst.name, e) from None

        header |= {"input_size": size, "on_index": patch}
    return _core.compress_stream(
        src, dst, opts.format, opts.level, progress, queues=opts.processes, **header
    )


def _decompress_pieces(
    opts: Options, src: _Source, dst: _Sink, seen: _Seen
) -> tuple[int, int] | None:
    """A regular gzip file with a piece index, into a regular file (or checked, -t): its
    pieces on several queues, as the library decodes them. None, with nothing left
    written, for any other case."""
    if opts.format != "gzip":
        return None
    try:
        return decompress_indexed(src.f, dst.f, seen, opts.processes, out=dst)
    except _SideError:
        raise
    except OSError as e:
        # The core's errors are reading the input's; going back in the output is the rest.
        raise _SideError(src.name if _is_ours(e) else dst.name, e) from None


def _is_ours(e: BaseException) -> bool:
    """Whether ``e`` is a :class:`WarpDriveError`. The module of errors is imported here, once
    something went wrong (the core imports it to raise one): the command starts without it."""
    from .errors import WarpDriveError  # noqa: PLC0415

    return isinstance(e, WarpDriveError)


class _Seen:
    """Keeps the library's last progress figures (its totals are lost when it raises)."""

    def __init__(self, then: Callable[[int, int], object] | None) -> None:
        self.then = then
        self.done_in = 0
        self.done_out = 0

    def __call__(self, done_in: int, done_out: int) -> None:
        self.done_in, self.done_out = done_in, done_out
        if self.then is not None:
            self.then(done_in, done_out)


def _gzip_header(head: bytes) -> tuple[int, str | None, int]:
    """Length, stored name and stored time of the gzip header at the start of ``head``."""
    if len(head) < 10 or head[:3] != b"\x1f\x8b\x08":
        raise ValueError("not in gzip format")
    flags, mtime = head[3], struct.unpack_from("<I", head, 4)[0]
    pos = 10
    if flags & 4:  # FEXTRA
        if len(head) < pos + 2:
            raise ValueError("header truncated")
        pos += 2 + struct.unpack_from("<H", head, pos)[0]
    name = None
    for bit in (8, 16):  # FNAME, FCOMMENT
        if flags & bit:
            end = head.find(b"\0", pos)
            if end < 0:
                raise ValueError("header truncated")
            if bit == 8:
                name = os.fsdecode(head[pos:end])
            pos = end + 1
    if flags & 2:  # FHCRC
        pos += 2
    return pos, name, mtime


# --- outputs ---------------------------------------------------------------------------------


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
        raise _SideError(target, e) from None
    if stamp is not None:
        os.fchmod(fd, stamp.st_mode & 0o7777)
        os.utime(fd, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    if mtime:
        os.utime(fd, (mtime, mtime))


def _to_file(
    opts: Options,
    src: _Source,
    size: int | None,
    target: str,
    stamp: os.stat_result | None,
    mtime: int | None = None,
) -> _Done:
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
    prog = _progress_for(src.name, size, opts, False)
    ok = False
    try:
        with os.fdopen(fd, "wb", buffering=0) as out:
            done = _run(opts, src, _Sink(out, target), prog)
            _finish(out.fileno(), target, stamp, mtime)
            held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
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
            held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    return done


def _to_stdout(opts: Options, src: _Source, size: int | None) -> _Done:
    if opts.mode == "compress" and not opts.force and sys.stdout.isatty():
        raise CliError("compressed data not written to a terminal. Use -f to force compression.")
    out = sys.stdout.buffer
    out.flush()
    on_tty = sys.stdout.isatty()
    prog = _progress_for(src.name, size, opts, on_tty)
    try:
        with _terminal_for_data(on_tty):
            return _run(opts, src, _Sink(out, "stdout"), prog)
    finally:
        if prog:
            prog.close()


def _to_nothing(opts: Options, src: _Source, size: int | None) -> _Done:
    prog = _progress_for(src.name, size, opts, False)
    try:
        return _run(opts, src, _Sink(None, "-"), prog)
    finally:
        if prog:
            prog.close()


# --- one input -------------------------------------------------------------------------------


def _output_name(path: str, opts: Options) -> str | None:
    """The output next to (or, with ``-o DIR``, in DIR for) ``path``; None: skip quietly."""
    suf = opts.suf
    base = path
    if opts.output is not None:
        base = os.path.join(opts.output, os.path.basename(path))
    if opts.mode == "compress":
        if path.endswith(suf) and not opts.force:
            if opts.recursive and not opts.verbose:
                return None
            raise CliNotice(f"{path} already has {suf} suffix -- unchanged")
        return base + suf
    if path.endswith(suf) and len(os.path.basename(path)) > len(suf):
        return base[: -len(suf)]
    if opts.format == "gzip" and opts.suffix is None and path.endswith(".tgz"):
        return base[:-4] + ".tar"
    if opts.recursive:
        return None
    raise CliWarning(f"{path}: unknown suffix -- ignored")


def _refuse_terminal_input(opts: Options, fd: int, name: str) -> None:
    if opts.mode != "compress" and not opts.force and os.isatty(fd):
        raise CliError(
            f"{name}: compressed data not read from a terminal. Use -f to force decompression."
        )


def _summary(opts: Options, name: str, done: _Done, result: str | None) -> None:
    if not opts.verbose:
        return
    if opts.mode == "test":
        print(f"{name}:\t OK", file=sys.stderr)
        return
    packed, plain = (
        (done.bytes_out, done.bytes_in)
        if opts.mode == "compress"
        else (done.bytes_in, done.bytes_out)
    )
    ratio = 100.0 * (plain - packed) / plain if plain else 0.0
    rate = done.bytes_in / done.seconds / 1e6 if done.seconds > 0 else 0.0
    tail = f" -- {result}" if result else ""
    print(
        f"{name}:\t{ratio:5.1f}%{tail} ({done.bytes_in / 1e6:.1f} MB in "
        f"{done.seconds:.2f} s, {rate:.1f} MB/s)",
        file=sys.stderr,
    )


def _garbage(opts: Options, name: str, done: _Done) -> None:
    if done.garbage:
        raise CliWarning(f"{name}: decompression OK, trailing garbage ignored")


def _stdin(opts: Options) -> None:
    name = "stdin"
    fd = sys.stdin.fileno()
    _refuse_terminal_input(opts, fd, name)
    st = os.fstat(fd)
    size = st.st_size if stat.S_ISREG(st.st_mode) else None
    src = _Source(sys.stdin.buffer, name)
    if opts.mode == "list":
        # gzip names what stdin decompresses to after where it goes.
        _list([(name, src, st, "stdout")], opts)
        return
    if opts.mode == "test":
        done = _to_nothing(opts, src, size)
    elif opts.output is not None and opts.output != "-":
        if os.path.isdir(opts.output):
            raise CliError(f"{opts.output}: a folder; stdin's output needs a file name")
        done = _to_file(opts, src, size, opts.output, None)
    else:
        done = _to_stdout(opts, src, size)
    _summary(opts, name, done, None)
    _garbage(opts, name, done)


def _one(path: str, opts: Options, report: _Report) -> None:
    if path == "-":
        _stdin(opts)
        return
    writes_beside = (
        opts.mode in ("compress", "decompress") and not opts.stdout and opts.output is None
    )
    into_dir = opts.output is not None and os.path.isdir(opts.output)
    try:
        lst = os.lstat(path)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror}") from None
    if stat.S_ISDIR(lst.st_mode):
        if opts.recursive:
            _walk(path, opts, report)
            return
        raise CliWarning(f"{path} is a directory -- ignored")
    if stat.S_ISLNK(lst.st_mode) and not opts.force and (writes_beside or into_dir):
        # gzip's rule: a link is compressed in place only with -f (-c, -o, -t and -l read
        # through it, as for <(command) inputs).
        raise CliError(f"{path} is a symbolic link -- ignored (use -f or -c)")
    # O_NOFOLLOW: a link put in place of the file after the check is refused too.
    nofollow = os.O_NOFOLLOW if (writes_beside or into_dir) and not opts.force else 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | nofollow)
    except OSError as e:
        if e.errno == errno.ELOOP and nofollow:
            raise CliError(f"{path} is a symbolic link -- ignored (use -f or -c)") from None
        raise CliError(f"{path}: {e.strerror}") from None
    f = os.fdopen(fd, "rb", buffering=0)
    with f:
        st = os.fstat(f.fileno())
        regular = stat.S_ISREG(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            raise CliWarning(f"{path} is a directory -- ignored")
        if not regular and (writes_beside or into_dir):
            raise CliWarning(f"{path} is not a directory or a regular file - ignored")
        if writes_beside and st.st_nlink > 1 and not opts.force:
            others = st.st_nlink - 1
            raise CliWarning(
                f"{path} has {others} other link{'s' if others > 1 else ''} -- file ignored"
            )
        _refuse_terminal_input(opts, f.fileno(), path)
        size = st.st_size if regular else None
        src = _Source(f, path, st)
        if opts.mode == "list":
            stem = path[: -len(opts.suf)] if path.endswith(opts.suf) else path
            _list([(path, src, st, stem)], opts)
            return
        if opts.mode == "test":
            done = _to_nothing(opts, src, size)
            _summary(opts, path, done, None)
            _garbage(opts, path, done)
            return
        if opts.stdout or opts.output == "-":
            done = _to_stdout(opts, src, size)
            _summary(opts, path, done, None)
            _garbage(opts, path, done)
            return
        mtime: int | None = None
        if opts.output is not None and not into_dir:
            target = opts.output
        else:
            derived = _output_name(path, opts)
            if derived is None:
                return
            target = derived
            if opts.name and opts.mode == "decompress" and opts.format == "gzip" and regular:
                stored, mtime = _stored_name(f)
                if stored:
                    target = os.path.join(os.path.dirname(target), os.path.basename(stored))
        if os.path.abspath(target) == os.path.abspath(path):
            raise CliError(f"{path}: input and output are the same file")
        done = _to_file(opts, src, size, target, st, mtime)
    removed = writes_beside and not opts.keep
    if removed:
        os.unlink(path)
    _summary(opts, path, done, f"{'replaced with' if removed else 'created'} {target}")
    _garbage(opts, path, done)


def _stored_name(f: IO[bytes]) -> tuple[str | None, int | None]:
    """The name and time gzip stored in the header of ``f`` (-N); ``f`` is rewound."""
    head = f.read(64 << 10)
    f.seek(0)
    try:
        _, name, mtime = _gzip_header(head)
    except ValueError:
        return None, None
    return name, mtime or None


def _walk(top: str, opts: Options, report: _Report) -> None:
    for folder, dirs, names in os.walk(top):
        dirs.sort()
        for n in sorted(names):
            _guarded(os.path.join(folder, n), opts, report)


class _Report:
    """The exit status so far, gzip's way: an error wins over a warning."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.status = OK

    def warn(self, msg: str) -> None:
        if not self.quiet:
            _say(msg)
        if self.status == OK:
            self.status = WARNING

    def error(self, msg: str) -> None:
        _say(msg)
        self.status = ERROR


class _Stop(Exception):
    """The reader of stdout went away: nothing more is done."""


def _guarded(path: str, opts: Options, report: _Report) -> None:
    """Runs one input, reporting what goes wrong with it; the others go on."""
    try:
        _one(path, opts, report)
    except CliWarning as w:
        report.warn(str(w))
    except CliNotice as n:
        if not opts.quiet:
            _say(str(n))
    except (CliError, _SideError) as e:
        if isinstance(e, _SideError) and e.name == "stdout":
            # The bytes stdout refused (a full disk) stay in its buffer: the interpreter's
            # last flush would fail on them again and turn the exit status into 120.
            _stdout_to_devnull()
        report.error(str(e))
    except Exception as e:
        if _is_ours(e):
            report.error(f"{'stdin' if path == '-' else path}: {e}")
        elif isinstance(e, BrokenPipeError):
            # The reader went away (e.g. `| head`): stop quietly, like gzip.
            _stdout_to_devnull()
            report.status = ERROR
            raise _Stop from None
        elif isinstance(e, OSError):
            where = e.filename if e.filename is not None else path
            report.error(f"{where}: {e.strerror or e}")
        else:
            raise


# --- -l ----------------------------------------------------------------------------------------


class _Listed(NamedTuple):
    """One row of -l: sizes, header and trailer bytes, and -v's CRC (None: not a gzip
    stream) and time (seconds since the epoch)."""

    packed: int
    plain: int
    overhead: int
    name: str
    crc: int | None = None
    when: int = 0


def _list(entries: list[tuple[str, _Source, os.stat_result, str]], opts: Options) -> None:
    for name, src, st, stem in entries:
        row = _sizes(src, st, opts, name)
        shown, when = stem, int(st.st_mtime) if stat.S_ISREG(st.st_mode) else 0
        if opts.name and row.name:
            shown = os.path.join(os.path.dirname(stem), os.path.basename(row.name))
        if opts.name and row.when:
            when = row.when
        opts.listed.append(row._replace(name=shown, when=when))


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _list_row(row: _Listed, verbose: bool) -> str:
    saved = row.plain - (row.packed - row.overhead)
    ratio = 100.0 * saved / row.plain if row.plain else 0.0
    line = f"{row.packed:19d} {row.plain:19d} {ratio:5.1f}% {row.name}"
    if not verbose:
        return line
    if row.name == "(totals)":
        return " " * 28 + line
    t = time.localtime(row.when)
    crc = "--------" if row.crc is None else f"{row.crc:08x}"
    date = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"
    return f"defla {crc} {date} {line}"


def _print_list(opts: Options) -> None:
    rows = opts.listed
    if not rows:
        return
    if not opts.quiet:
        head = "         compressed        uncompressed  ratio uncompressed_name"
        print(("method  crc     date  time  " if opts.verbose else "") + head)
    for row in rows:
        print(_list_row(row, opts.verbose))
    if len(rows) > 1 and not opts.quiet:
        total = _Listed(
            sum(r.packed for r in rows),
            sum(r.plain for r in rows),
            sum(r.overhead for r in rows),
            "(totals)",
        )
        print(_list_row(total, opts.verbose))


def _sizes(src: _Source, st: os.stat_result, opts: Options, name: str) -> _Listed:
    """Compressed size, decompressed size, header and trailer bytes, and what the gzip
    header and trailer hold: the stored name and time, the CRC."""
    if opts.format == "zlib":
        n_in, n_out = _core.decompress_stream(src, _Sink(None, "-"), "zlib")
        return _Listed(n_in, n_out, 6, "")
    head = src.read(64 << 10)
    try:
        hlen, stored, mtime = _gzip_header(head)
    except ValueError as e:
        raise CliError(f"{name}: {e}") from None
    if stat.S_ISREG(st.st_mode) and st.st_size >= 18:
        f = src.f
        f.seek(-8, os.SEEK_END)
        total, tail = st.st_size, f.read(8)
    else:
        # A stream: read to the end, keeping the last 8 bytes (CRC-32 and ISIZE).
        total, tail = len(head), head[-8:]
        while chunk := src.read(1 << 20):
            total += len(chunk)
            tail = (tail + chunk)[-8:]
        if total < 18:
            raise CliError(f"{name}: unexpected end of file")
    crc, plain = struct.unpack("<II", tail)
    return _Listed(total, plain, hlen + 8, stored or "", crc, mtime)


# --- the command line ---------------------------------------------------------------------------


def _codec(opts: Options) -> int:
    files = opts.files or ["-"]
    if opts.output is not None and opts.output != "-":
        if opts.stdout:
            raise CliError("-o and -c exclude each other")
        if len(files) > 1 and not os.path.isdir(opts.output):
            raise CliError(f"-o {opts.output}: several inputs need an existing folder")
    report = _Report(opts.quiet)
    with contextlib.suppress(_Stop):
        for path in files:
            _guarded(path, opts, report)
    if opts.mode == "list":
        _print_list(opts)
    return report.status


def _devices() -> int:
    from .devices import devices as list_devices  # noqa: PLC0415 -- only this command needs it

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


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {n}")
    return n


def _suffix(text: str) -> str:
    if not text or "/" in text:
        raise argparse.ArgumentTypeError(f"invalid suffix {text!r}")
    return text


def _parser(prog: str, legacy: str | None) -> argparse.ArgumentParser:
    """gzip's options. ``legacy`` is the old subcommand (compress or decompress) they follow,
    where ``-l N`` of ``compress`` is still the level."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Compress or decompress FILEs on WarpDrive accelerator queues, as gzip "
        "does (by default, compress FILEs in place). With no FILE, or when FILE is -, read "
        "standard input. 'warpdrive devices' lists the devices.",
    )
    p.add_argument("files", nargs="*", metavar="FILE", help="files ('-' or none: stdin)")
    p.add_argument("-V", "--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument(
        "-c",
        "--stdout",
        "--to-stdout",
        action="store_true",
        help="write on standard output, keep original files unchanged",
    )
    p.add_argument(
        "-d",
        "--decompress",
        "--uncompress",
        dest="decompress",
        action="store_true",
        help="decompress",
    )
    p.add_argument(
        "-f",
        "--force",
        action="store_true",
        help="force overwrite of output file and compress links",
    )
    p.add_argument("-k", "--keep", action="store_true", help="keep (don't delete) input files")
    # -l is the level after the old `compress` subcommand, and --list (as gzip) elsewhere.
    level_flags: tuple[str, ...] = ("-l", "--level")
    list_flags: tuple[str, ...] = ("--list",)
    if legacy != "compress":
        level_flags, list_flags = ("--level",), ("-l", "--list")
    p.add_argument(
        *level_flags,
        dest="level",
        type=int,
        choices=LEVELS,
        metavar="LEVEL",
        help=f"{LEVELS[0]} (fastest) .. {LEVELS[-1]} (smallest), default {DEFAULT_LEVEL_VALUE}",
    )
    p.add_argument(
        *list_flags, dest="list", action="store_true", help="list compressed file contents"
    )
    p.add_argument(
        "-n",
        "--no-name",
        dest="name",
        action="store_false",
        default=None,
        help="do not save or restore the original name and timestamp",
    )
    p.add_argument(
        "-N",
        "--name",
        dest="name",
        action="store_true",
        help="save or restore the original name and timestamp (saved by default)",
    )
    p.add_argument(
        "-q",
        "--quiet",
        dest="loudness",
        action="store_const",
        const=-1,
        default=0,
        help="suppress all warnings and the progress bar",
    )
    p.add_argument(
        "-r", "--recursive", action="store_true", help="operate recursively on directories"
    )
    p.add_argument(
        "-S", "--suffix", type=_suffix, metavar="SUF", help="use suffix SUF on compressed files"
    )
    p.add_argument("-t", "--test", action="store_true", help="test compressed file integrity")
    p.add_argument(
        "-v",
        "--verbose",
        dest="loudness",
        action="store_const",
        const=1,
        help="verbose mode: a line for each file (-q and -v: the last one counts)",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write to OUT (- is stdout; a folder takes several inputs); the input is kept",
    )
    p.add_argument(
        "-p",
        "--processes",
        type=_positive,
        metavar="N",
        help="queues to compress on (default: one per core, at most 4)",
    )
    p.add_argument(
        "-D",
        "--device",
        choices=DEVICE_CHOICES,
        help="auto (default: hardware if free, else soft), soft, uacce or vfio",
    )
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument(
        "-g",
        "--gzip",
        dest="format",
        action="store_const",
        const="gzip",
        help="gzip format (default)",
    )
    fmt.add_argument(
        "-z",
        "--zlib",
        dest="format",
        action="store_const",
        const="zlib",
        help="zlib format (.zz), as pigz -z",
    )
    for n in LEVELS:
        p.add_argument(
            f"-{n}",
            dest="level",
            action="store_const",
            const=n,
            help=f"compress faster (-{LEVELS[0]}) .. better (-{LEVELS[-1]})"
            if n == LEVELS[0]
            else argparse.SUPPRESS,
        )
    p.add_argument(
        "--fast", dest="level", action="store_const", const=LEVELS[0], help=f"as -{LEVELS[0]}"
    )
    p.add_argument(
        "--best", dest="level", action="store_const", const=LEVELS[-1], help=f"as -{LEVELS[-1]}"
    )
    p.set_defaults(format="gzip")
    return p


def _options(argv: list[str], prog: str, preset: Mode | None) -> Options:
    legacy = None
    if argv and argv[0] in ("compress", "decompress") and preset is None:
        legacy, argv = argv[0], argv[1:]
    args = _parser(prog if legacy is None else f"{prog} {legacy}", legacy).parse_args(argv)
    mode: Mode = preset or (
        "decompress" if legacy == "decompress" or args.decompress else "compress"
    )
    if args.list:
        mode = "list"
    elif args.test:
        mode = "test"
    opts = Options(mode, args)
    if args.device is not None:
        # The core's queue opener follows WARPDRIVE_DEVICE.
        os.environ["WARPDRIVE_DEVICE"] = args.device
    return opts


def _invoked_as(argv0: str) -> tuple[Mode | None, bool]:
    """gunzip and zcat habits from the name the command was run by (a link to it)."""
    name = os.path.basename(argv0)
    if name.endswith("zcat"):
        return "decompress", True
    if "gunzip" in name or name.startswith("un"):  # gunzip, wdgunzip, unpigz
        return "decompress", False
    return None, False


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv0 = prog if prog is not None else sys.argv[0]
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["devices"]:
        argparse.ArgumentParser(prog=f"{PROG} devices").parse_args(args[1:])
        return _devices()
    preset, to_stdout = _invoked_as(argv0)
    shown = os.path.basename(argv0) if preset is not None else PROG
    opts = _options(args, shown, preset)
    opts.stdout = opts.stdout or to_stdout
    _catch_terminating_signals()
    try:
        return _codec(opts)
    except KeyboardInterrupt:
        _say("interrupted")
        return 128 + signal.SIGINT
    except _Signalled as sig:
        _say(_TERMINATING[sig.signum])
        return 128 + sig.signum
    except CliError as e:
        _say(str(e))
        return ERROR


def gunzip_main() -> int:
    """``wdgunzip``: ``warpdrive -d``."""
    return main(prog="gunzip")


def zcat_main() -> int:
    """``wdzcat``: ``warpdrive -dc``."""
    return main(prog="zcat")


if __name__ == "__main__":
    sys.exit(main())
