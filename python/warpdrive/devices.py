"""Device discovery (sysfs only: nothing is opened; the core reads it) and the device
choice for a queue.

The soft device (a device model running in this process) is always present. HiSilicon
ZIP engines driven by mainline Linux appear under ``/sys/class/uacce/<name>/`` (``api``
``hisi_qm_v2`` or ``hisi_qm_v3``, ``available_instances``, ``algorithms``, the region
sizes, ``device/numa_node``), with the device node ``/dev/<name>``. sdmdev queues appear
under ``/sys/class/sdmdev/<parent>/`` with their VFIO mediated-device types in
``<parent>/device/mdev_supported_types/<type>/`` (``name``, ``device_api``,
``available_instances``, ``flags``: 1 compress, 2 decompress) and the parent's
``params/{iommu_type,dma_flag}``.

Choosing a device for a queue (``device=`` of :func:`warpdrive.open_queue`): ``None``
follows the ``WARPDRIVE_DEVICE`` environment variable (default ``auto``); ``"auto"`` takes
a uacce queue when one is free, else an sdmdev queue through VFIO, else the soft device;
``"soft"`` forces the soft device; ``"uacce"`` and ``"vfio"`` insist on that hardware and
raise :class:`NoDeviceError` without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import _core
from .types import DEVICE_CHOICES

__all__ = ["SYSFS_ROOT", "DeviceInfo", "check_device", "devices"]

#: Where sdmdev parents are listed. ``WARPDRIVE_SYSFS_ROOT`` overrides it for listing.
SYSFS_ROOT: str = _core.SYSFS_CLASS_DIR

#: The ring dialect this driver speaks.
DEVICE_API: str = _core.DEVICE_API

#: What ``device=`` accepts.
CHOICES = DEVICE_CHOICES


@dataclass(frozen=True)
class DeviceInfo:
    """One device that can serve queues."""

    #: ``"soft"``, ``"<name>"`` for uacce, or ``"<parent>/<mdev type>"`` for sdmdev.
    name: str
    #: ``"soft"``, ``"uacce"`` or ``"sdmdev"``.
    kind: str
    #: The ring dialect (``device_api``), e.g. ``hisi_qm_v1``.
    device_api: str
    #: ``"compress"``, ``"decompress"``, ``"both"`` (soft, uacce) or ``"unknown"``.
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
    #: uacce: the device's NUMA node, when the system names one.
    numa_node: int | None = None
    #: uacce: True if its driver isolated it after errors (None: not a uacce device).
    isolated: bool | None = None


SOFT = DeviceInfo(
    name="soft",
    kind="soft",
    device_api=DEVICE_API,
    direction="both",
    available_instances=None,
    description="in-process software ZIP device",
)


def devices(
    sysfs_root: str | os.PathLike[str] | None = None,
    uacce_root: str | os.PathLike[str] | None = None,
) -> list[DeviceInfo]:
    """Lists the devices present in the order ``auto`` prefers them: uacce devices, sdmdev
    types, then the soft device.

    ``sysfs_root`` is the directory of sdmdev parents, ``uacce_root`` that of uacce devices;
    with neither, both come from the environment (``WARPDRIVE_SYSFS_ROOT``, else
    :data:`SYSFS_ROOT`; ``WARPDRIVE_UACCE_ROOT``, else ``/sys/class/uacce``), and with one
    only that one is read. The core reads them (``wd_core::sysfs``)."""
    root = None if sysfs_root is None else os.fspath(sysfs_root)
    uroot = None if uacce_root is None else os.fspath(uacce_root)
    found = [DeviceInfo(**d) for d in _core._list_devices(root, uroot)]
    return [*found, SOFT]


def check_device(device: str | None) -> str | None:
    """Validates a ``device=`` argument (see the module documentation)."""
    return _core._parse_device(device)
