//! Finding devices: sysfs only, nothing opened. sdmdev parents (`docs/abi.md` section 6)
//! and mainline uacce devices (section 9.1). [`crate::list_devices`] lists both, each
//! kind through its backend's `list` in the table of backends (`open.rs`).
//!
//! Two readers of one layout: [`Sysfs::parents`] for opening a queue (every attribute the
//! driver needs must be there, or it is an error) and [`list_sdmdev_devices`] for showing
//! what is present (whatever can be read, with a note where a type is not usable).
//!
//! Layout read here (the root, normally `/sys`, is configurable for tests):
//! - `class/sdmdev/<parent>/params/{iommu_type,dma_flag}`
//! - `class/sdmdev/<parent>/device/mdev_supported_types/<type>/{name,device_api,
//!   available_instances,flags,create}`
//! - `bus/mdev/devices/<uuid>/{iommu_group -> .../<N>, remove, mdev_type -> .../<type>}`
//! - `class/uacce/<name>/{api,flags,available_instances,algorithms,region_mmio_size,
//!   region_dus_size,isolate,device/numa_node}`, and the node `/dev/<name>`
//!
//! The children: `sdmdev` (parents, mdev types, [`Sysfs`], [`list_sdmdev_devices`]) and `uacce`
//! ([`UacceDevice`], [`uacce_devices`], [`list_uacce_devices`]); everything is re-exported
//! here, so the paths are `sysfs::NAME`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::abi::Direction;
use crate::backend::DeviceKind;
use crate::error::{Error, Result};

mod sdmdev;
#[cfg(test)]
mod tests;
mod uacce;

pub use sdmdev::*;
pub use uacce::*;

fn read_attr(p: &Path) -> Result<String> {
    fs::read_to_string(p)
        .map(|s| s.trim_end_matches('\n').to_string())
        .map_err(|e| Error::io(format!("reading {}", p.display()), e))
}

fn read_num(p: &Path) -> Result<u32> {
    let s = read_attr(p)?;
    let t = s.trim();
    let v = if let Some(h) = t.strip_prefix("0x") {
        u32::from_str_radix(h, 16)
    } else {
        t.parse()
    };
    v.map_err(|_| Error::NoDevice(format!("{}: not a number: {s:?}", p.display())))
}

fn entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// One device (an mdev type, a uacce device) as the listing shows it: what could be read, and whether this driver
/// can open queues of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEntry {
    /// `<parent>/<type>`.
    pub name: String,
    /// The ring dialect (`device_api`), `unknown` where it cannot be read.
    pub device_api: String,
    /// The direction its `flags` name, if they name one.
    pub direction: Option<Direction>,
    /// `available_instances`, if readable.
    pub available_instances: Option<u32>,
    /// The `name` attribute, else the type's directory name.
    pub description: String,
    /// The type's sysfs directory.
    pub path: PathBuf,
    /// The parent's `params/iommu_type` (or `iommu_type` beside `params/`), if readable.
    pub iommu_type: Option<u32>,
    /// The parent's `params/dma_flag` (or `dma_flag` beside `params/`), if readable.
    pub dma_flag: Option<u32>,
    /// True if this build can open queues of it.
    pub usable: bool,
    /// Why it is not usable, if it is not.
    pub note: String,
    /// [`DeviceKind::Vfio`] (an sdmdev mediated-device type) or [`DeviceKind::Uacce`] (a
    /// uacce device); listings name it by [`DeviceKind::class_name`].
    pub kind: DeviceKind,
    /// The device's NUMA node (uacce: `device/numa_node`), if known.
    pub numa_node: Option<i32>,
    /// uacce: whether the device isolated itself after errors (`isolate`; absent on 6.1's
    /// uacce, which means not isolated).
    pub isolated: Option<bool>,
}

fn read_trimmed(p: &Path) -> Option<String> {
    let b = fs::read(p).ok()?;
    Some(String::from_utf8_lossy(&b).trim().to_string())
}

fn read_opt_num(p: &Path) -> Option<u32> {
    read_num(p).ok()
}

/// A fresh random UUID (from the kernel).
pub fn new_uuid() -> Result<String> {
    read_attr(Path::new("/proc/sys/kernel/random/uuid"))
}
