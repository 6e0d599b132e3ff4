"""The command line's progress bar: drawn on a terminal stderr, only for a job that lasts, and
only while no other warpdrive draws there."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from tqdm import tqdm

    from ._cli_options import Options


#: Inputs known to be smaller than this never get a progress bar (one piece of work).
PROGRESS_MIN = 1 << 20

#: Seconds a job runs before its progress bar appears: quick jobs show none.
PROGRESS_DELAY = 1.0

#: Overrides PROGRESS_DELAY (seconds), so that tests need not make work that lasts.
PROGRESS_DELAY_ENV = "WARPDRIVE_PROGRESS_DELAY"


def _progress_delay() -> float:
    raw = os.environ.get(PROGRESS_DELAY_ENV)
    if raw is None:
        return PROGRESS_DELAY
    try:
        return max(float(raw), 0.0)
    except ValueError:
        return PROGRESS_DELAY


#: :func:`claim_terminal` could not lock the terminal (no lock to hold), but may draw.
UNLOCKED = -1


def claim_terminal() -> int | None:
    """Takes the lock of stderr's terminal, held by whichever warpdrive draws on it (or
    writes its data there): two instances in one pipeline never share a line. The terminal
    is opened anew (through /proc, which needs no name for it), since a lock taken on the
    descriptor the shell handed both would be theirs together. Returns the descriptor that
    holds the lock, :data:`UNLOCKED` where the terminal cannot be locked at all, or None
    while another instance holds it."""
    try:
        fd = os.open(
            f"/proc/self/fd/{sys.stderr.fileno()}", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC
        )
    except OSError:
        return UNLOCKED
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        return UNLOCKED
    return fd


class Progress:
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
            self.lock = claim_terminal()
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
        if self.lock is not None and self.lock != UNLOCKED:
            os.close(self.lock)
        self.lock = None


def progress_for(name: str, size: int | None, opts: Options, data_on_tty: bool) -> Progress | None:
    if opts.quiet or not sys.stderr.isatty() or data_on_tty:
        return None
    if size is not None and size < PROGRESS_MIN:
        return None
    return Progress(name, size)


@contextlib.contextmanager
def terminal_for_data(data_on_tty: bool) -> Iterator[None]:
    """While data goes to a terminal, holds its lock: no other instance draws a bar there."""
    fd = claim_terminal() if data_on_tty and sys.stderr.isatty() else None
    try:
        yield
    finally:
        if fd is not None and fd != UNLOCKED:
            os.close(fd)
