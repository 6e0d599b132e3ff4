"""The command line's options: gzip's, parsed into :class:`Options`."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from . import __version__, _core
from ._cli_io import PROG
from .types import DEFAULT_LEVEL, DEFAULT_LEVEL_VALUE, DEVICE_CHOICES

TYPE_CHECKING = False  # not typing's: see warpdrive.types
if TYPE_CHECKING:
    from typing import Literal

    from ._cli_list import Listed

    #: The formats the command line writes files in (of the core's formats, the two with a
    #: file suffix and a header that says which they are).
    FileFormat = Literal["gzip", "zlib"]
    #: What the command does.
    Mode = Literal["compress", "decompress", "test", "list"]

#: The levels the core takes, in its order: fastest first.
LEVELS = range(_core.MIN_LEVEL, _core.MAX_LEVEL + 1)


SUFFIX: dict[str, str] = {"gzip": ".gz", "zlib": ".zz"}


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
        self.listed: list[Listed] = []

    @property
    def suf(self) -> str:
        return self.suffix if self.suffix is not None else SUFFIX[self.format]


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


def _columns() -> int:
    """The terminal's width as argparse finds it (``COLUMNS``, else standard output's
    terminal, else 80), without importing shutil: argparse's formatter imports it for every
    option added, and it loads the compression modules, a tenth of the command's start."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def parser(prog: str, legacy: str | None) -> argparse.ArgumentParser:
    """gzip's options. ``legacy`` is the old subcommand (compress or decompress) they follow,
    where ``-l N`` of ``compress`` is still the level."""
    p = argparse.ArgumentParser(
        prog=prog,
        formatter_class=functools.partial(argparse.HelpFormatter, width=_columns() - 2),
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


def options(argv: list[str], prog: str, preset: Mode | None) -> Options:
    legacy = None
    if argv and argv[0] in ("compress", "decompress") and preset is None:
        legacy, argv = argv[0], argv[1:]
    args = parser(prog if legacy is None else f"{prog} {legacy}", legacy).parse_args(argv)
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


def invoked_as(argv0: str) -> tuple[Mode | None, bool]:
    """gunzip and zcat habits from the name the command was run by (a link to it)."""
    name = os.path.basename(argv0)
    if name.endswith("zcat"):
        return "decompress", True
    if "gunzip" in name or name.startswith("un"):  # gunzip, wdgunzip, unpigz
        return "decompress", False
    return None, False
