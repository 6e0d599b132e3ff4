"""devices(): the soft device always, sdmdev types from sysfs (a fake tree here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import warpdrive
from warpdrive.devices import check_device


def make_parent(root: Path, parent: str, types: dict[str, dict[str, str]]) -> None:
    p = root / parent
    (p / "params").mkdir(parents=True)
    (p / "params" / "iommu_type").write_text("1\n")
    (p / "params" / "dma_flag").write_text("1\n")
    for t, attrs in types.items():
        d = p / "device" / "mdev_supported_types" / t
        d.mkdir(parents=True)
        for k, v in attrs.items():
            (d / k).write_text(v + "\n")


def test_soft_device_is_always_listed(tmp_path: Path) -> None:
    devs = warpdrive.devices(sysfs_root=tmp_path / "missing")
    assert [d.name for d in devs] == ["soft"]
    soft = devs[0]
    assert soft.kind == "soft" and soft.usable and soft.available_instances is None


def test_sdmdev_types_are_read_from_sysfs(tmp_path: Path) -> None:
    make_parent(
        tmp_path,
        "0000:75:00.0",
        {
            "hisi_zip-comp": {
                "name": "hisi_zip compress",
                "device_api": "hisi_qm_v1",
                "available_instances": "1",
                "flags": "1",
            },
            "hisi_zip-decomp": {
                "name": "hisi_zip decompress",
                "device_api": "hisi_qm_v1",
                "available_instances": "0",
                "flags": "2",
            },
            "other": {"name": "x", "device_api": "other_v9", "available_instances": "4"},
        },
    )
    devs = warpdrive.devices(sysfs_root=tmp_path)
    names = [d.name for d in devs]
    assert names == [
        "0000:75:00.0/hisi_zip-comp",
        "0000:75:00.0/hisi_zip-decomp",
        "0000:75:00.0/other",
        "soft",
    ]
    comp, decomp, other, _ = devs
    assert comp.kind == "sdmdev" and comp.device_api == "hisi_qm_v1"
    assert comp.direction == "compress" and decomp.direction == "decompress"
    assert comp.available_instances == 1 and decomp.available_instances == 0
    assert comp.description == "hisi_zip compress"
    assert comp.iommu_type == 1 and comp.dma_flag == 1
    assert not other.usable and "other_v9" in other.note
    vfio = os.path.exists("/dev/vfio/vfio")
    assert comp.usable == vfio
    if not vfio:
        assert "vfio" in comp.note


def test_env_override_of_the_sysfs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_parent(tmp_path, "p0", {"t": {"device_api": "hisi_qm_v1", "available_instances": "2"}})
    monkeypatch.setenv("WARPDRIVE_SYSFS_ROOT", str(tmp_path))
    assert [d.name for d in warpdrive.devices()] == ["p0/t", "soft"]


def test_device_choice_is_checked() -> None:
    assert check_device(None) is None
    for ok in ("auto", "soft", "vfio"):
        assert check_device(ok) == ok
    with pytest.raises(warpdrive.BadRequestError):
        check_device("hisi")


def test_auto_picks_hardware_when_present_else_the_soft_device() -> None:
    hardware = any(d.kind == "sdmdev" and d.usable for d in warpdrive.devices())
    with warpdrive.open_queue("compress", device="auto") as q:
        assert q.device.startswith("vfio" if hardware else "soft"), q.device
