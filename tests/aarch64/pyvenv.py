"""Lays out /venv for Debian's arm64 Python 3.11 under a root folder, as the x86_64 guest's
Python suite has the host's venv: the wheel installed in it, its console scripts next to its
python (tests/python/test_cli.py looks for `warpdrive` there) and sysconfig's purelib being
where warpdrive is imported from (test_install.py checks it).

    python3 tests/aarch64/pyvenv.py ROOT DEPS WHEEL

ROOT: the guest's initramfs tree (or a copy of the arm64 Python's root for qemu-aarch64's
-L), which has usr/bin/python3.11. DEPS: tests/aarch64/pytest-deps.sh's folder, whose root/
(gzip, libstdc++) is copied onto ROOT. Makes ROOT/venv: pyvenv.cfg; bin/python, a relative
link to ../../usr/bin/python3.11 (the same file at the guest's / and under qemu-aarch64's
-L ROOT); lib/python3.11/site-packages with DEPS's packages and the wheel unpacked; bin/NAME
for each of the wheel's console scripts. Runs on the build machine's Python 3 (stdlib only).
"""

from __future__ import annotations

import configparser
import shutil
import sys
import zipfile
from pathlib import Path

SCRIPT = """#!/venv/bin/python
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.exit({call}())
"""


def console_scripts(wheel: zipfile.ZipFile) -> dict[str, str]:
    """name -> "module:object" of the wheel's console scripts."""
    cfg = configparser.ConfigParser(delimiters=("=",))
    cfg.optionxform = str  # type: ignore[assignment,method-assign]
    for name in wheel.namelist():
        if name.endswith(".dist-info/entry_points.txt"):
            cfg.read_string(wheel.read(name).decode())
    if not cfg.has_section("console_scripts"):
        return {}
    return {k: v.strip() for k, v in cfg.items("console_scripts")}


def main() -> None:
    root, deps, wheel = (Path(a) for a in sys.argv[1:4])
    venv = root / "venv"
    if venv.exists():
        shutil.rmtree(venv)
    site = venv / "lib" / "python3.11" / "site-packages"
    bindir = venv / "bin"
    bindir.mkdir(parents=True)
    assert (root / "usr" / "bin" / "python3.11").exists(), f"no usr/bin/python3.11 in {root}"
    (venv / "pyvenv.cfg").write_text(
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n"
    )
    for name in ("python", "python3", "python3.11"):
        (bindir / name).symlink_to("../../usr/bin/python3.11")
    shutil.copytree(deps / "site", site)
    shutil.copytree(deps / "root", root, symlinks=True, dirs_exist_ok=True)
    # Only the wheel's scripts: the suite runs its tools as modules (python -m mypy).
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
        ours = console_scripts(z)
    assert "warpdrive" in ours, f"the wheel has no warpdrive console script: {ours}"
    for name, target in ours.items():
        module, _, obj = target.partition(":")
        head = obj.split(".")[0]
        script = bindir / name
        script.write_text(SCRIPT.format(module=module, head=head, call=obj))
        script.chmod(0o755)
    n = len(list(site.iterdir()))
    print(f"{venv}: console scripts {', '.join(sorted(ours))}; {n} entries in site-packages")


if __name__ == "__main__":
    main()
