"""The package imports most of its names when first used (PEP 562), so that the command line
starts without what it does not need: every public name must still be there, as it was."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    """Runs ``code`` in a fresh interpreter (nothing imported yet); returns its stdout."""
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_warpdrive_exposes_every_name_in_all() -> None:
    out = _python(
        "import warpdrive\n"
        "names = set(dir(warpdrive))\n"
        "missing = sorted(set(warpdrive.__all__) - names)\n"
        "assert not missing, missing\n"
        "for n in warpdrive.__all__:\n"
        "    assert getattr(warpdrive, n) is not None, n\n"
        "ns = {}\n"
        "exec('from warpdrive import *', ns)\n"
        "assert set(warpdrive.__all__) <= set(ns)\n"
        "print(len(warpdrive.__all__))\n"
    )
    assert int(out) > 40


def test_the_lazy_names_are_the_modules_objects() -> None:
    _python(
        "import warpdrive\n"
        "from warpdrive import _core, _stream, devices, errors, gzipfile, zlibobj\n"
        "assert warpdrive.open is gzipfile.open and warpdrive.GzipFile is gzipfile.GzipFile\n"
        "assert warpdrive.WarpDriveError is errors.WarpDriveError\n"
        "assert warpdrive.crc32 is zlibobj.crc32\n"
        "assert warpdrive.decompress_stream is _stream.decompress_stream\n"
        "assert warpdrive.compress_stream is _stream.compress_stream\n"
        "for sub in ('errors', 'gzipfile', 'types', 'zlibobj', 'check_device', '__version__'):\n"
        "    assert sub in dir(warpdrive), sub\n"
        "try:\n"
        "    warpdrive.no_such_name\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_name' in str(e)\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )


def test_the_devices_submodule_does_not_hide_the_devices_function() -> None:
    # Importing a submodule makes it an attribute of the package: warpdrive.devices must stay
    # the function, whichever is imported first.
    for first in ("from warpdrive.devices import check_device", "import warpdrive.aio"):
        _python(
            f"{first}\n"
            "import warpdrive, warpdrive.devices\n"
            "assert [d.name for d in warpdrive.devices()][-1] == 'soft'\n"
        )


def test_the_command_line_starts_without_the_library_it_does_not_use() -> None:
    out = _python(
        "import sys\n"
        "from warpdrive.cli import main\n"
        "try:\n"
        "    main(['--version'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0\n"
        "heavy = ['warpdrive.devices', 'warpdrive.errors', 'warpdrive.gzipfile', 'warpdrive.aio',\n"
        "         'dataclasses', 'threading', 'tqdm']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert out.splitlines()[-1] == "[]"
