"""The build backend of warpdrive-accel: maturin's, deciding first whether the core gets ISA-L.

ISA-L (the soft device's level-1 compression engine) is built from source, which needs nasm
(on x86_64) and autotools. The environment variable ``WARPDRIVE_ISAL`` chooses:

- ``auto`` (or unset): with ISA-L when those tools are on ``PATH``; otherwise without it, and
  the build output says so and what it costs.
- ``1``: with ISA-L; the build stops at once, naming the missing tools, if any is missing.
- ``0``: without ISA-L.

Without ISA-L the wd-py crate is built with ``--no-default-features`` (its ``isal`` feature
off): the same formats and levels, level 1 on libdeflate and zlib-rs.
``warpdrive.ENGINES`` tells an installed package which build it is.
"""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import sys
from collections.abc import Mapping
from typing import Any


def _maturin() -> Any:
    # Imported when a hook runs, so that the choice below can be used (and tested) where
    # maturin is not installed.
    return importlib.import_module("maturin")


# The hooks that do not depend on the choice are maturin's own.
def build_sdist(sdist_directory: str, config_settings: Mapping[str, Any] | None = None) -> str:
    """PEP 517: the source distribution (maturin's)."""
    return str(_maturin().build_sdist(sdist_directory, config_settings))


def get_requires_for_build_sdist(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    """PEP 517: what building the sdist needs besides maturin."""
    return list(_maturin().get_requires_for_build_sdist(config_settings))


def get_requires_for_build_wheel(config_settings: Mapping[str, Any] | None = None) -> list[str]:
    """PEP 517: what building the wheel needs besides maturin."""
    return list(_maturin().get_requires_for_build_wheel(config_settings))


def get_requires_for_build_editable(
    config_settings: Mapping[str, Any] | None = None,
) -> list[str]:
    """PEP 660: as for the wheel."""
    return list(_maturin().get_requires_for_build_editable(config_settings))


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    """PEP 517: the wheel's metadata (the same with or without ISA-L)."""
    return str(_maturin().prepare_metadata_for_build_wheel(metadata_directory, config_settings))


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: Mapping[str, Any] | None = None
) -> str:
    """PEP 660: as for the wheel."""
    return str(_maturin().prepare_metadata_for_build_editable(metadata_directory, config_settings))


ENV = "WARPDRIVE_ISAL"
_NO_ISAL = "--no-default-features"


def missing_tools() -> list[str]:
    """The programs ISA-L's build needs that are not on ``PATH``."""
    tools = ["autoreconf", "aclocal", "libtoolize", "make"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        tools.insert(0, "nasm")
    return [t for t in tools if shutil.which(t) is None]


def with_isal(env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether to build with ISA-L, and the line that tells the user why (or stop)."""
    setting = env.get(ENV, "auto").strip().lower() or "auto"
    if setting in ("0", "no", "off", "false"):
        return False, f"warpdrive: {ENV}={setting}: building without ISA-L"
    if setting not in ("auto", "1", "yes", "on", "true"):
        raise SystemExit(f"warpdrive: {ENV} must be auto, 1 or 0, not {setting!r}")
    missing = missing_tools()
    if not missing:
        return True, "warpdrive: building with ISA-L"
    if setting != "auto":
        raise SystemExit(
            f"warpdrive: {ENV}={setting} asks for ISA-L, but its build needs "
            f"{', '.join(missing)} (not on PATH): install them, or set {ENV}=0"
        )
    return False, (
        f"warpdrive: {', '.join(missing)} not found: building without ISA-L. Level-1 "
        "compression runs on libdeflate and zlib-rs instead, about half as fast (same "
        "formats and levels; the other levels and decompression are unchanged). For the "
        f"ISA-L build, put {', '.join(missing)} on PATH and build again; {ENV}=0 chooses this "
        "build without the message."
    )


def _settings(config_settings: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    isal, note = with_isal(os.environ)
    print(note, file=sys.stderr, flush=True)
    if isal:
        return config_settings
    args = list(_maturin().get_maturin_pep517_args(config_settings))
    if _NO_ISAL not in args:
        args.append(_NO_ISAL)
    return {**(config_settings or {}), "maturin.build-args": args}


def build_wheel(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """PEP 517: the wheel, with or without ISA-L (see the module's text)."""
    return str(
        _maturin().build_wheel(wheel_directory, _settings(config_settings), metadata_directory)
    )


def build_editable(
    wheel_directory: str,
    config_settings: Mapping[str, Any] | None = None,
    metadata_directory: str | None = None,
) -> str:
    """PEP 660: an editable wheel, with or without ISA-L as for :func:`build_wheel`."""
    return str(
        _maturin().build_editable(wheel_directory, _settings(config_settings), metadata_directory)
    )
