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
import os
import signal
import stat
import sys

from ._cli_io import (
    PROG,
    CliError,
    CliNotice,
    CliWarning,
    SideError,
    Source,
    say,
    stdout_to_devnull,
)
from ._cli_jobs import Done, is_ours, to_file, to_nothing, to_stdout
from ._cli_options import Options, invoked_as, options

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO


#: Exit statuses, gzip's: an error wins over a warning.
OK, ERROR, WARNING = 0, 1, 2


class _Signalled(BaseException):
    """A terminating signal arrived: unwind (removing partial output) and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: Signals that end the command after removing partial output (SIGINT arrives as
#: KeyboardInterrupt). What they say on stderr, as SIGINT's "interrupted".
_TERMINATING: dict[int, str] = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def _raise_signalled(signum: int, _frame: object) -> None:
    raise _Signalled(signum)


def _catch_terminating_signals() -> None:
    """Turns SIGTERM and SIGHUP into :class:`_Signalled`, unless ignored (``nohup``)."""
    for sig in _TERMINATING:
        if signal.getsignal(sig) != signal.SIG_IGN:
            signal.signal(sig, _raise_signalled)


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


def _summary(opts: Options, name: str, done: Done, result: str | None) -> None:
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


def _garbage(opts: Options, name: str, done: Done) -> None:
    if done.garbage:
        raise CliWarning(f"{name}: decompression OK, trailing garbage ignored")


def _stdin(opts: Options) -> None:
    name = "stdin"
    fd = sys.stdin.fileno()
    _refuse_terminal_input(opts, fd, name)
    st = os.fstat(fd)
    size = st.st_size if stat.S_ISREG(st.st_mode) else None
    src = Source(sys.stdin.buffer, name)
    if opts.mode == "list":
        # gzip names what stdin decompresses to after where it goes.
        from ._cli_list import list_entries  # noqa: PLC0415 -- only -l needs it

        list_entries([(name, src, st, "stdout")], opts)
        return
    if opts.mode == "test":
        done = to_nothing(opts, src, size)
    elif opts.output is not None and opts.output != "-":
        if os.path.isdir(opts.output):
            raise CliError(f"{opts.output}: a folder; stdin's output needs a file name")
        done = to_file(opts, src, size, opts.output, None)
    else:
        done = to_stdout(opts, src, size)
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
    f = _open_input(path, opts, report, writes_beside or into_dir)
    if f is None:
        return
    with f:
        st = _checked_input(f, path, opts, writes_beside, into_dir)
        regular = stat.S_ISREG(st.st_mode)
        size = st.st_size if regular else None
        src = Source(f, path, st)
        if _to_no_file(path, opts, src, st, size):
            return
        found = _target(path, opts, f, regular, into_dir)
        if found is None:
            return
        target, mtime = found
        if os.path.abspath(target) == os.path.abspath(path):
            raise CliError(f"{path}: input and output are the same file")
        done = to_file(opts, src, size, target, st, mtime)
    removed = writes_beside and not opts.keep
    if removed:
        os.unlink(path)
    _summary(opts, path, done, f"{'replaced with' if removed else 'created'} {target}")
    _garbage(opts, path, done)


def _open_input(path: str, opts: Options, report: _Report, places_output: bool) -> IO[bytes] | None:
    """``path`` opened for reading; None for a folder walked with ``-r``. ``places_output``:
    the output is written beside the input or into a folder, where gzip refuses links."""
    try:
        lst = os.lstat(path)
    except OSError as e:
        raise CliError(f"{path}: {e.strerror}") from None
    if stat.S_ISDIR(lst.st_mode):
        if opts.recursive:
            _walk(path, opts, report)
            return None
        raise CliWarning(f"{path} is a directory -- ignored")
    if stat.S_ISLNK(lst.st_mode) and not opts.force and places_output:
        # gzip's rule: a link is compressed in place only with -f (-c, -o, -t and -l read
        # through it, as for <(command) inputs).
        raise CliError(f"{path} is a symbolic link -- ignored (use -f or -c)")
    # O_NOFOLLOW: a link put in place of the file after the check is refused too.
    nofollow = os.O_NOFOLLOW if places_output and not opts.force else 0
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | nofollow)
    except OSError as e:
        if e.errno == errno.ELOOP and nofollow:
            raise CliError(f"{path} is a symbolic link -- ignored (use -f or -c)") from None
        raise CliError(f"{path}: {e.strerror}") from None
    return os.fdopen(fd, "rb", buffering=0)


def _checked_input(
    f: IO[bytes], path: str, opts: Options, writes_beside: bool, into_dir: bool
) -> os.stat_result:
    """The opened input's status, once it is one the command may read: not a folder, a
    regular file where the output goes beside it or into a folder, with no other links
    where it would be removed (without ``-f``), not a terminal."""
    st = os.fstat(f.fileno())
    if stat.S_ISDIR(st.st_mode):
        raise CliWarning(f"{path} is a directory -- ignored")
    if not stat.S_ISREG(st.st_mode) and (writes_beside or into_dir):
        raise CliWarning(f"{path} is not a directory or a regular file - ignored")
    if writes_beside and st.st_nlink > 1 and not opts.force:
        others = st.st_nlink - 1
        raise CliWarning(
            f"{path} has {others} other link{'s' if others > 1 else ''} -- file ignored"
        )
    _refuse_terminal_input(opts, f.fileno(), path)
    return st


def _to_no_file(
    path: str, opts: Options, src: Source, st: os.stat_result, size: int | None
) -> bool:
    """Runs the modes that write no output file (``-l``, ``-t``, ``-c``/``-o -``); False
    for the others."""
    if opts.mode == "list":
        stem = path[: -len(opts.suf)] if path.endswith(opts.suf) else path
        from ._cli_list import list_entries  # noqa: PLC0415 -- only -l needs it

        list_entries([(path, src, st, stem)], opts)
        return True
    if opts.mode == "test":
        done = to_nothing(opts, src, size)
    elif opts.stdout or opts.output == "-":
        done = to_stdout(opts, src, size)
    else:
        return False
    _summary(opts, path, done, None)
    _garbage(opts, path, done)
    return True


def _target(
    path: str, opts: Options, f: IO[bytes], regular: bool, into_dir: bool
) -> tuple[str, int | None] | None:
    """The output file's name, and the modification time to give it (None: the input's);
    None when the input is skipped (see :func:`_output_name`). With ``-N``, a gzip file's
    stored name and time."""
    if opts.output is not None and not into_dir:
        return opts.output, None
    target = _output_name(path, opts)
    if target is None:
        return None
    if opts.name and opts.mode == "decompress" and opts.format == "gzip" and regular:
        from ._cli_list import stored_name  # noqa: PLC0415 -- only -N needs it

        stored, mtime = stored_name(f)
        if stored:
            target = os.path.join(os.path.dirname(target), os.path.basename(stored))
        return target, mtime
    return target, None


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
            say(msg)
        if self.status == OK:
            self.status = WARNING

    def error(self, msg: str) -> None:
        say(msg)
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
            say(str(n))
    except (CliError, SideError) as e:
        if isinstance(e, SideError) and e.name == "stdout":
            # The bytes stdout refused (a full disk) stay in its buffer: the interpreter's
            # last flush would fail on them again and turn the exit status into 120.
            stdout_to_devnull()
        report.error(str(e))
    except Exception as e:
        if is_ours(e):
            report.error(f"{'stdin' if path == '-' else path}: {e}")
        elif isinstance(e, BrokenPipeError):
            # The reader went away (e.g. `| head`): stop quietly, like gzip.
            stdout_to_devnull()
            report.status = ERROR
            raise _Stop from None
        elif isinstance(e, OSError):
            where = e.filename if e.filename is not None else path
            report.error(f"{where}: {e.strerror or e}")
        else:
            raise


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
        from ._cli_list import print_list  # noqa: PLC0415 -- only -l needs it

        print_list(opts)
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


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Runs the command line; returns the exit status."""
    argv0 = prog if prog is not None else sys.argv[0]
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["devices"]:
        argparse.ArgumentParser(prog=f"{PROG} devices").parse_args(args[1:])
        return _devices()
    preset, zcat = invoked_as(argv0)
    shown = os.path.basename(argv0) if preset is not None else PROG
    opts = options(args, shown, preset)
    opts.stdout = opts.stdout or zcat
    _catch_terminating_signals()
    try:
        return _codec(opts)
    except KeyboardInterrupt:
        say("interrupted")
        return 128 + signal.SIGINT
    except _Signalled as sig:
        say(_TERMINATING[sig.signum])
        return 128 + sig.signum
    except CliError as e:
        say(str(e))
        return ERROR


def gunzip_main() -> int:
    """``wdgunzip``: ``warpdrive -d``."""
    return main(prog="gunzip")


def zcat_main() -> int:
    """``wdzcat``: ``warpdrive -dc``."""
    return main(prog="zcat")


if __name__ == "__main__":
    sys.exit(main())
