"""The tests run against the installed wheel, not the source tree."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import pathlib
import platform
import sysconfig
from types import ModuleType

import pytest

import warpdrive
from warpdrive import _core


def test_package_is_imported_from_site_packages() -> None:
    site = pathlib.Path(sysconfig.get_paths()["purelib"]).resolve()
    here = pathlib.Path(warpdrive.__file__).resolve()
    assert site in here.parents, f"warpdrive imported from {here}, not from {site}"
    assert pathlib.Path(_core.__file__).resolve().parent == here.parent


def test_wheel_ships_typing_information() -> None:
    files = importlib.resources.files("warpdrive")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_core.pyi").is_file()


def test_version_matches_the_extension() -> None:
    assert warpdrive.__version__ == _core.__version__ == "0.1.0"


def test_distribution_metadata() -> None:
    """Installed as `warpdrive-accel` (the index's `warpdrive` is another project), with the
    licence as an SPDX expression and both licence texts, and the Pythons it is tested on."""
    dist = importlib.metadata.distribution("warpdrive-accel")
    meta = dist.metadata
    assert meta["Name"] == "warpdrive-accel"
    assert meta["Version"] == warpdrive.__version__
    assert meta["License-Expression"] == "GPL-2.0-only OR MIT"
    texts = sorted(p.name for p in dist.files or [] if "licenses" in p.parts)
    assert texts == ["GPL-2.0-only.txt", "MIT.txt"], texts
    assert (
        "GNU GENERAL PUBLIC LICENSE"
        in (
            dist.locate_file(next(p for p in dist.files or [] if p.name == "GPL-2.0-only.txt"))
        ).read_text()
    )
    classifiers = meta.get_all("Classifier") or []
    for v in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {v}" in classifiers
    assert sorted(e.name for e in dist.entry_points if e.group == "console_scripts") == [
        "warpdrive",
        "wdgunzip",
        "wdzcat",
    ]


def test_the_wheel_has_isal() -> None:
    """The wheel under test is the project's own build (scripts/install-wheel), which has
    ISA-L; an sdist built without nasm is checked by tests/packaging/run."""
    assert warpdrive.ENGINES == _core.ENGINES == ("isa-l", "libdeflate", "zlib-rs")


def _build_backend() -> ModuleType:
    """The sdist's build backend, from the source tree (its choice needs no maturin)."""
    path = pathlib.Path(__file__).resolve().parents[2] / "build_backend" / "warpdrive_build.py"
    spec = importlib.util.spec_from_file_location("warpdrive_build", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sdist_build_leaves_isal_out_where_its_tools_are_missing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _build_backend()
    tools = ["nasm", "autoreconf", "aclocal", "libtoolize", "make"]
    for name in tools:
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert backend.missing_tools() == []
    assert backend.with_isal({}) == (True, "warpdrive: building with ISA-L")
    assert backend.with_isal({"WARPDRIVE_ISAL": "0"})[0] is False

    # ISA-L's x86_64 assembly needs nasm; autotools are needed everywhere.
    hide = "nasm" if platform.machine().lower() in ("x86_64", "amd64") else "autoreconf"
    (tmp_path / hide).unlink()
    assert backend.missing_tools() == [hide]
    isal, note = backend.with_isal({})
    assert isal is False
    assert f"{hide} not found: building without ISA-L" in note
    assert backend.with_isal({"WARPDRIVE_ISAL": "auto"})[0] is False
    assert backend.with_isal({"WARPDRIVE_ISAL": "0"})[0] is False
    with pytest.raises(SystemExit, match=f"needs {hide}"):
        backend.with_isal({"WARPDRIVE_ISAL": "1"})
    with pytest.raises(SystemExit, match="must be auto, 1 or 0"):
        backend.with_isal({"WARPDRIVE_ISAL": "fast"})
