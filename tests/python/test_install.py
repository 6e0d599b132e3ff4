"""The tests run against the installed wheel, not the source tree."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import pathlib
import sysconfig

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
