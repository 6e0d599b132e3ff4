"""The names of warpdrive.types agree with the core's, and each is checked in one place."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

import warpdrive
from warpdrive import _core, types


def test_typing_aliases_match_the_core() -> None:
    assert set(get_args(types.Format)) == set(types.FORMATS) == {"gzip", "zlib", "deflate"}
    assert set(get_args(types.Direction)) == set(types.DIRECTIONS)
    assert set(get_args(types.DeviceChoice)) == set(types.DEVICE_CHOICES)
    assert set(get_args(types.DeviceKind)) == set(types.DEVICE_KINDS)
    assert warpdrive.Format is types.Format
    assert warpdrive.Direction is types.Direction


def test_statuses_are_the_core_numbers() -> None:
    names = {n.removeprefix("STATUS_") for n in dir(_core) if n.startswith("STATUS_")}
    assert names == {s.name for s in types.Status}
    assert types.Status.OUTPUT_TOO_SMALL == 0x0E
    assert types.Status.NEED_INPUT == 0x11


def test_default_level_is_zlibs_minus_one_meaning_six() -> None:
    assert types.DEFAULT_LEVEL == -1
    assert types.DEFAULT_LEVEL_VALUE == 6
    data = b"warpdrive " * 10_000
    assert warpdrive.compress(data) == warpdrive.compress(data, level=6)
    with pytest.raises(warpdrive.BadRequestError, match=r"level must be 1\.\.9"):
        warpdrive.compress(data, level=0)


def test_format_names_ignore_case_and_take_the_short_aliases() -> None:
    data = b"warpdrive " * 1000
    gz = warpdrive.compress(data)
    for name in ("GZIP", "gz", "Gz"):
        assert warpdrive.decompress(warpdrive.compress(data, name), "gzip") == data  # type: ignore[arg-type]
        assert warpdrive.decompress(gz, name) == data  # type: ignore[arg-type]
    raw = warpdrive.compress(data, "raw")  # type: ignore[arg-type]
    assert warpdrive.decompress(raw, "deflate") == data
    with pytest.raises(warpdrive.BadRequestError, match="format must be"):
        warpdrive.compress(data, "lz4")  # type: ignore[arg-type]


def test_the_core_gives_the_canonical_name_of_every_spelling() -> None:
    for name, canonical in [
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gz", "gzip"),
        ("Gz", "gzip"),
        ("zlib", "zlib"),
        ("ZLib", "zlib"),
        ("deflate", "deflate"),
        ("raw", "deflate"),
        ("RAW", "deflate"),
    ]:
        assert _core._parse_format(name) == canonical, name
        assert _core._parse_format(name, auto=True) == canonical, name
    # "auto" only where the caller allows it, in any case; the core's words otherwise.
    assert _core._parse_format("AUTO", auto=True) == "auto"
    for bad in ("auto", "lz4", "", "gzip "):
        with pytest.raises(warpdrive.BadRequestError, match="format must be"):
            _core._parse_format(bad)
    with pytest.raises(warpdrive.BadRequestError, match="format must be"):
        _core._parse_format("lz4", auto=True)


def test_queue_reports_its_device_kind() -> None:
    with warpdrive.open_queue("compress", device="soft") as q:
        assert q.kind == "soft"
    assert _core.memlock_fits("soft", 1 << 30, 1 << 30)
    with pytest.raises(warpdrive.BadRequestError, match="device kind"):
        _core.memlock_fits("gpu", 1, 1)


@pytest.mark.parametrize("what", ["import warpdrive", "import warpdrive.cli"])
def test_importing_the_package_or_the_command_line_leaves_typing_out(what: str) -> None:
    # typing (with enum and collections behind it) is most of a cold import: a one-shot
    # script and the command line start without it; the aliases load it when first read.
    code = f"import sys; {what}; print(sorted({{'typing', 'enum'}} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    expected = "['enum']" if what.endswith("cli") else "[]"  # argparse's re needs enum
    assert out.stdout.strip() == expected


def test_the_aliases_load_when_first_read() -> None:
    code = "import warpdrive.types as t; print(t.Status.NEED_INPUT == 0x11, t.Format)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True typing.Literal['gzip', 'zlib', 'deflate']"
    assert {"Format", "Status", "DEFAULT_LEVEL"} <= set(dir(types))
