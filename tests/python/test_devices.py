"""devices(): the soft device always, uacce devices and sdmdev types from sysfs (fake
trees here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import warpdrive
from warpdrive.devices import check_device
from warpdrive.types import DEVICE_CHOICES


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
    # and no uacce device either (the guest's uacce stage has one)
    monkeypatch.setenv("WARPDRIVE_UACCE_ROOT", str(tmp_path / "none"))
    assert [d.name for d in warpdrive.devices()] == ["p0/t", "soft"]


def make_uacce(root: Path, name: str, attrs: dict[str, str]) -> None:
    d = root / name
    (d / "device").mkdir(parents=True)
    for k, v in attrs.items():
        (d / k).write_text(v + "\n")


UACCE_ZIP = {
    "api": "hisi_qm_v2",
    "flags": "1",
    "available_instances": "5",
    "algorithms": "zlib\ngzip\ndeflate",
    "region_mmio_size": "8192",
    "region_dus_size": "151552",
    "device/numa_node": "0",
}


def test_uacce_devices_are_read_from_sysfs(tmp_path: Path) -> None:
    make_uacce(tmp_path, "hisi_zip-0", UACCE_ZIP)
    make_uacce(tmp_path, "hisi_zip-1", {**UACCE_ZIP, "isolate": "1"})
    make_uacce(tmp_path, "hisi_sec2-0", {**UACCE_ZIP, "algorithms": "cbc(aes)"})
    devs = warpdrive.devices(uacce_root=tmp_path)
    assert [d.name for d in devs] == ["hisi_sec2-0", "hisi_zip-0", "hisi_zip-1", "soft"]
    sec, zip0, zip1, _ = devs
    assert zip0.kind == "uacce" and zip0.device_api == "hisi_qm_v2" and zip0.usable
    assert zip0.direction == "both"
    assert zip0.available_instances == 5 and zip0.numa_node == 0 and zip0.isolated is False
    assert zip0.path is not None and zip0.path.endswith("hisi_zip-0")
    assert "NUMA node 0" in zip0.description and "not isolated" in zip0.description
    assert zip1.isolated is True and not zip1.usable and "isolated" in zip1.note
    assert not sec.usable and "gzip" in sec.note
    assert sec.isolated is False and sec.iommu_type is None


def test_env_override_of_the_uacce_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_uacce(tmp_path / "u", "hisi_zip-3", UACCE_ZIP)
    make_parent(tmp_path / "s", "p0", {"t": {"device_api": "hisi_qm_v1"}})
    monkeypatch.setenv("WARPDRIVE_UACCE_ROOT", str(tmp_path / "u"))
    monkeypatch.setenv("WARPDRIVE_SYSFS_ROOT", str(tmp_path / "s"))
    assert [(d.name, d.kind) for d in warpdrive.devices()] == [
        ("hisi_zip-3", "uacce"),
        ("p0/t", "sdmdev"),
        ("soft", "soft"),
    ]


def test_device_choice_is_checked() -> None:
    assert check_device(None) is None
    for ok in DEVICE_CHOICES:
        assert check_device(ok) == ok
    assert set(DEVICE_CHOICES) == {"auto", "soft", "vfio", "uacce"}
    with pytest.raises(warpdrive.BadRequestError, match="uacce"):
        check_device("hisi")


def test_asking_for_uacce_without_one_is_no_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARPDRIVE_UACCE_ROOT", str(tmp_path / "none"))
    with pytest.raises(warpdrive.NoDeviceError, match="uacce"):
        warpdrive.open_queue("compress", device="uacce")


def test_auto_picks_hardware_when_present_else_the_soft_device() -> None:
    usable = {d.kind for d in warpdrive.devices() if d.usable}
    want = "uacce" if "uacce" in usable else "vfio" if "sdmdev" in usable else "soft"
    with warpdrive.open_queue("compress", device="auto") as q:
        assert q.device.startswith(want), q.device


def test_a_bad_device_choice_fails_every_one_shot_call(monkeypatch: pytest.MonkeyPatch) -> None:
    packed = warpdrive.compress(b"warpdrive", 1)  # leaves an idle queue in the pool
    monkeypatch.setenv("WARPDRIVE_DEVICE", "bogus")
    with pytest.raises(warpdrive.BadRequestError, match="WARPDRIVE_DEVICE"):
        warpdrive.compress(b"warpdrive", 1)
    for fmt in ("gzip", "auto"):
        with pytest.raises(warpdrive.BadRequestError, match="WARPDRIVE_DEVICE"):
            warpdrive.decompress(packed, fmt)
    monkeypatch.undo()
    assert warpdrive.decompress(packed) == b"warpdrive"
