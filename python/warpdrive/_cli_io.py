"""The command line's messages and the two sides of a job: the input it reads and the output
it writes, each blamed for its own errors."""

from __future__ import annotations

import contextlib
import errno
import os
import sys

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from typing import IO

PROG = "warpdrive"


class CliError(Exception):
    """A failure reported as one line on stderr (exit status 1)."""


class CliWarning(Exception):
    """A file skipped or a result with a flaw, reported as one line (exit status 2)."""


class CliNotice(Exception):
    """A file left alone as asked, said in one line that leaves the exit status as it is
    (gzip's "already has .gz suffix")."""


def say(msg: str) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr)


def stdout_to_devnull() -> None:
    """Points fd 1 at /dev/null, so that what is left in stdout's buffer after it failed
    is dropped at exit instead of failing again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class SideError(Exception):
    """An ``OSError`` of reading the input or writing the output, with the file to blame."""

    def __init__(self, name: str, err: OSError) -> None:
        super().__init__(name, err)
        self.name = name
        self.err = err

    def __str__(self) -> str:
        return f"{self.name}: {self.err.strerror or self.err}"


class Source:
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
            raise SideError(self.name, e) from None
        return b


class Sink:
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
            raise SideError(self.name, e) from None
        return len(b)

    def flush(self) -> None:
        if self.f is None:
            return
        try:
            self.f.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise SideError(self.name, e) from None
