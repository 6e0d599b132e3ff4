"""Device discovery (sysfs only, nothing is opened) and the choice of device for a queue.

The soft device (a device model running in this process) is always present. Hardware
queues appear under ``/sys/class/sdmdev/<parent>/`` with their VFIO mediated-device types in
``<parent>/device/mdev_supported_types/<type>/`` (``name``, ``device_api``,
``available_instances``, ``flags``) and the parent's ``params`` (``iommu_type``,
``dma_flag``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import NoDeviceError

__all__ = ["SYSFS_ROOT", "DeviceInfo", "devices", "resolve_device"]

#: Where sdmdev parents are listed. ``WARPDRIVE_SYSFS_ROOT`` overrides it (for tests).
SYSFS_ROOT = "/sys/class/sdmdev"

#: Ring dialects this driver speaks.
KNOWN_APIS = frozenset({"hisi_qm_v1"})

#: True once wd-core has a VFIO backend (then hardware queues can be opened).
HARDWARE_BACKEND = False


@dataclass(frozen=True)
class DeviceInfo:
    """One device that can serve queues."""

    #: ``"soft"``, or ``"<parent>/<mdev type>"`` for hardware.
    name: str
    #: ``"soft"`` or ``"sdmdev"``.
    kind: str
    #: The ring dialect (``device_api``), e.g. ``hisi_qm_v1``.
    device_api: str
    #: Queues that can still be created (None: unlimited, the soft device).
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
    device_api="hisi_qm_v1",
    available_instances=None,
    description="in-process software ZIP device (zlib-rs)",
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
            if HARDWARE_BACKEND and api in KNOWN_APIS:
                usable, note = True, ""
            elif api not in KNOWN_APIS:
                usable, note = False, f"unknown device_api {api!r}"
            else:
                usable, note = False, "the VFIO backend is not implemented yet"
            found.append(
                DeviceInfo(
                    name=f"{parent.name}/{t.name}",
                    kind="sdmdev",
                    device_api=api,
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
    """Lists the devices present: hardware (sdmdev) first, then the soft device."""
    return [*_hardware(_sysfs_root(sysfs_root)), SOFT]


def resolve_device(
    device: str | None = None, sysfs_root: str | os.PathLike[str] | None = None
) -> DeviceInfo:
    """Chooses the device for a new queue.

    ``None`` (or ``"auto"``) picks the first usable hardware device with a free instance and
    falls back to the soft device. ``"soft"`` forces the soft device. Any other name must be
    a hardware device listed by :func:`devices` (``"<parent>/<type>"``, or just the parent,
    or ``"hardware"`` for any); it raises :class:`NoDeviceError` when it is absent or this
    build cannot use it.
    """
    if device == "soft":
        return SOFT
    hw = _hardware(_sysfs_root(sysfs_root))
    if device in (None, "auto"):
        for d in hw:
            if d.usable and (d.available_instances or 0) > 0:
                return d
        return SOFT
    wanted = [
        d for d in hw if device in ("hardware", "hw", d.name) or d.name.split("/")[0] == device
    ]
    if not wanted:
        names = ", ".join(d.name for d in [*hw, SOFT])
        raise NoDeviceError(f"no device {device!r} is present (present: {names})")
    for d in wanted:
        if d.usable and (d.available_instances or 0) > 0:
            return d
    d = wanted[0]
    reason = d.note or "no free instance (available_instances is 0)"
    raise NoDeviceError(
        f"device {d.name!r} ({d.device_api}) cannot be opened: {reason}; "
        "use device='soft' for the in-process device"
    )
