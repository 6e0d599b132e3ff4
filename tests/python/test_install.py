"""The tests run against the installed wheel, not the source tree."""

from __future__ import annotations

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
