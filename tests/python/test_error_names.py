"""The exception classes have one list, ``warpdrive.errors.__all__``: the package's names
follow it, for Python (imported when first used) and for type checkers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _python(code: str) -> str:
    """Runs ``code`` in a fresh interpreter (nothing imported yet); returns its stdout."""
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_a_bare_import_leaves_the_exceptions_until_one_is_used() -> None:
    out = _python(
        "import sys, warpdrive\n"
        "print('warpdrive.errors' in sys.modules)\n"
        "e = warpdrive.ForkedError\n"
        "print('warpdrive.errors' in sys.modules)\n"
        "from warpdrive import errors\n"
        "assert e is errors.ForkedError\n"
    )
    assert out.split() == ["False", "True"]


def test_every_exception_of_the_errors_module_is_a_name_of_the_package() -> None:
    # errors.__all__ is the one list of them: the package's names follow it.
    _python(
        "import warpdrive\n"
        "from warpdrive import errors\n"
        "classes = {n for n, v in vars(errors).items()\n"
        "           if isinstance(v, type) and issubclass(v, Exception)\n"
        "           and v.__module__ == errors.__name__}\n"
        "assert classes == set(errors.__all__), classes ^ set(errors.__all__)\n"
        "assert set(errors.__all__) <= set(warpdrive.__all__)\n"
        "assert set(errors.__all__) <= set(dir(warpdrive))\n"
        "for n in errors.__all__:\n"
        "    assert getattr(warpdrive, n) is getattr(errors, n), n\n"
        "try:\n"
        "    warpdrive.NoSuchError\n"
        "except AttributeError as e:\n"
        "    assert str(e) == \"module 'warpdrive' has no attribute 'NoSuchError'\", e\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    # A star import, as the first thing done, takes them too.
    _python(
        "from warpdrive import *\n"
        "from warpdrive import errors\n"
        "ns = dict(globals())\n"
        "for n in errors.__all__:\n"
        "    assert ns[n] is getattr(errors, n), n\n"
        "assert ns['compress'] is not None and ns['GzipFile'] is not None\n"
    )


def test_type_checkers_see_every_exception_as_a_name_of_the_package(tmp_path: Path) -> None:
    # A user's mypy --strict against the installed package: every name of errors.__all__ is
    # exported by the package; a name that is not one is an error (the check can fail).
    from warpdrive import errors  # noqa: PLC0415

    code = "\n".join(
        [
            "import warpdrive",
            f"from warpdrive import {', '.join(errors.__all__)}",
            *(f"e{i}: type[Exception] = warpdrive.{n}" for i, n in enumerate(errors.__all__)),
            "bad: type[Exception] = warpdrive.NoSuchError",
        ]
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-color-output",
            "--cache-dir",
            str(tmp_path / "cache"),
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    errors_found = [line for line in r.stdout.splitlines() if ": error:" in line]
    assert len(errors_found) == 1, r.stdout + r.stderr
    assert "NoSuchError" in errors_found[0], errors_found
