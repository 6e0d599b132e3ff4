"""Device discovery (sysfs only: nothing is opened) and the device choice for a queue.

The soft device (a device model running in this process) is always present. Hardware
queues appear under ``/sys/class/sdmdev/<parent>/`` with their VFIO mediated-device types in
``<parent>/device/mdev_supported_types/<type>/`` (``name``, ``device_api``,
``available_instances``, ``flags``: 1 compress, 2 decompress) and the parent's
``params/{iommu_type,dma_flag}``.

Choosing a device for a queue (``device=`` of :func:`warpdrive.open_queue`): ``None``
follows the ``WARPDRIVE_DEVICE`` environment variable (default ``auto``); ``"auto"`` takes
an sdmdev queue through VFIO when one is free, else the soft device; ``"soft"`` forces the
soft device; ``"vfio"`` insists on hardware and raises :class:`NoDeviceError` without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import _core
from .types import DEVICE_CHOICES

__all__ = ["SYSFS_ROOT", "DeviceInfo", "check_device", "devices"]

#: Where sdmdev parents are listed. ``WARPDRIVE_SYSFS_ROOT`` overrides it for listing.
SYSFS_ROOT = "/sys/class/sdmdev"

#: The ring dialect this driver speaks.
DEVICE_API = "hisi_qm_v1"

#: What ``device=`` accepts.
CHOICES = DEVICE_CHOICES

_TYPE_COMPRESS = 1
_TYPE_DECOMPRESS = 2


@dataclass(frozen=True)
class DeviceInfo:
    """One device that can serve queues."""

    #: ``"soft"``, or ``"<parent>/<mdev type>"`` for hardware.
    name: str
    #: ``"soft"`` or ``"sdmdev"``.
    kind: str
    #: The ring dialect (``device_api``), e.g. ``hisi_qm_v1``.
    device_api: str
    #: ``"compress"``, ``"decompress"``, ``"both"`` (soft) or ``"unknown"``.
    direction: str
    #: Queues that can still be created (None: no limit, the soft device).
    available_instances: int | None
    #: The mdev type's human-readable name (``name`` attribute).
    description: str
    #: The sysfs directory, or None for the soft device.
    path: str | None = None
    #: The parent's ``params/iommu_type`` and ``params/dma_flag`` when present.
    iommu_type: int | None = None
    dma_flag: int | None = None
    #: True if this build can open queues on it.
    usable: bool = True
    #: Why it is not usable, if it is not.
    note: str = ""


SOFT = DeviceInfo(
    name="soft",
    kind="soft",
    device_api=DEVICE_API,
    direction="both",
    available_instances=None,
    description="in-process software ZIP device",
)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _sysfs_root(root: str | os.PathLike[str] | None) -> Path:
    if root is not None:
        return Path(root)
    return Path(os.environ.get("WARPDRIVE_SYSFS_ROOT", SYSFS_ROOT))


def _hardware(root: Path) -> list[DeviceInfo]:
    found: list[DeviceInfo] = []
    try:
        parents = sorted(root.iterdir())
    except OSError:
        return found
    for parent in parents:
        params = parent / "params"
        iommu_type = _read_int(params / "iommu_type")
        if iommu_type is None:
            iommu_type = _read_int(parent / "iommu_type")
        dma_flag = _read_int(params / "dma_flag")
        if dma_flag is None:
            dma_flag = _read_int(parent / "dma_flag")
        types_dir = parent / "device" / "mdev_supported_types"
        try:
            types = sorted(types_dir.iterdir())
        except OSError:
            continue
        for t in types:
            api = _read(t / "device_api") or "unknown"
            flags = _read_int(t / "flags") or 0
            direction = {_TYPE_COMPRESS: "compress", _TYPE_DECOMPRESS: "decompress"}.get(
                flags & (_TYPE_COMPRESS | _TYPE_DECOMPRESS), "unknown"
            )
            if api != DEVICE_API:
                usable, note = False, f"unknown device_api {api!r}"
            elif direction == "unknown":
                usable, note = False, f"flags {flags:#x} name no direction"
            elif not os.path.exists("/dev/vfio/vfio"):
                usable, note = False, "/dev/vfio/vfio is missing (vfio module not loaded?)"
            else:
                usable, note = True, ""
            found.append(
                DeviceInfo(
                    name=f"{parent.name}/{t.name}",
                    kind="sdmdev",
                    device_api=api,
                    direction=direction,
                    available_instances=_read_int(t / "available_instances"),
                    description=_read(t / "name") or t.name,
                    path=str(t),
                    iommu_type=iommu_type,
                    dma_flag=dma_flag,
                    usable=usable,
                    note=note,
                )
            )
    return found


def devices(sysfs_root: str | os.PathLike[str] | None = None) -> list[DeviceInfo]:
    """Lists the devices present: sdmdev hardware types first, then the soft device."""
    return [*_hardware(_sysfs_root(sysfs_root)), SOFT]


def check_device(device: str | None) -> str | None:
    """Validates a ``device=`` argument (see the module documentation)."""
    return _core._parse_device(device)
