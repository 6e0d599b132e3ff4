//! Mainline uacce devices (docs/abi.md section 9.1): what sysfs says of each, and whether
//! this driver can open queues of it.

use std::path::{Path, PathBuf};

use super::{entries, read_opt_num, read_trimmed, DeviceEntry};
use crate::backend::DeviceKind;

/// Where uacce devices are listed.
pub const UACCE_CLASS_DIR: &str = "/sys/class/uacce";

/// The variable that moves [`UACCE_CLASS_DIR`] (a test's tree).
pub const UACCE_CLASS_DIR_ENV: &str = "WARPDRIVE_UACCE_ROOT";

/// The uacce class directory: `WARPDRIVE_UACCE_ROOT`, else [`UACCE_CLASS_DIR`].
pub fn uacce_class_dir() -> PathBuf {
    std::env::var_os(UACCE_CLASS_DIR_ENV)
        .map_or_else(|| PathBuf::from(UACCE_CLASS_DIR), PathBuf::from)
}

/// The algorithms a uacce device must offer: a queue serves every format.
pub const UACCE_ALGORITHMS: [&str; 3] = ["deflate", "zlib", "gzip"];

/// One uacce device as sysfs shows it (docs/abi.md section 9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UacceDevice {
    /// `<name>`: the directory under the class, and the node `/dev/<name>`.
    pub name: String,
    /// Its sysfs directory.
    pub path: PathBuf,
    /// `api`, `unknown` where it cannot be read.
    pub api: String,
    /// `flags` (bit 0: SVA).
    pub flags: Option<u32>,
    /// `available_instances`: free queues.
    pub available_instances: Option<u32>,
    /// `algorithms`, one per line.
    pub algorithms: Vec<String>,
    /// `region_mmio_size` in bytes.
    pub mmio_size: Option<usize>,
    /// `region_dus_size` in bytes.
    pub dus_size: Option<usize>,
    /// `device/numa_node` (-1: none), if readable.
    pub numa_node: Option<i32>,
    /// `isolate` is 1 (absent: not isolated).
    pub isolated: bool,
    /// Why this driver cannot open queues on it; empty if it can.
    pub note: String,
}

impl UacceDevice {
    /// Reads the device at `dir`.
    pub fn read(dir: &Path) -> UacceDevice {
        let name = dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let api = read_trimmed(&dir.join("api")).unwrap_or_else(|| "unknown".into());
        let algorithms: Vec<String> = read_trimmed(&dir.join("algorithms"))
            .map(|a| a.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let size = |n: &str| read_opt_num(&dir.join(n)).map(|v| v as usize);
        let numa_node = read_trimmed(&dir.join("device/numa_node")).and_then(|v| v.parse().ok());
        let isolated = read_opt_num(&dir.join("isolate")).is_some_and(|v| v != 0);
        let mut d = UacceDevice {
            path: dir.to_path_buf(),
            flags: read_opt_num(&dir.join("flags")),
            available_instances: read_opt_num(&dir.join("available_instances")),
            mmio_size: size("region_mmio_size"),
            dus_size: size("region_dus_size"),
            numa_node,
            isolated,
            note: String::new(),
            name,
            api,
            algorithms,
        };
        d.note = d.why_unusable();
        d
    }

    /// The dialect of its `api`, if this driver speaks it.
    pub fn dialect(&self) -> Option<crate::abi::Dialect> {
        crate::abi::Dialect::from_uacce_api(&self.api)
    }

    /// The device node.
    pub fn node(&self) -> PathBuf {
        Path::new("/dev").join(&self.name)
    }

    fn why_unusable(&self) -> String {
        use crate::abi::{V2_DOORBELL, V2_DUS_SIZE};
        let missing: Vec<&str> = UACCE_ALGORITHMS
            .into_iter()
            .filter(|a| !self.algorithms.iter().any(|b| b == a))
            .collect();
        if self.dialect().is_none() {
            format!("api {:?} is not hisi_qm_v2 or hisi_qm_v3", self.api)
        } else if !missing.is_empty() {
            format!("algorithms lack {}", missing.join(", "))
        } else if self.isolated {
            "isolated by its driver after errors".into()
        } else if self.mmio_size.is_none_or(|m| m < V2_DOORBELL + 8) {
            format!("region_mmio_size {:?} has no doorbell page", self.mmio_size)
        } else if self.dus_size != Some(V2_DUS_SIZE) {
            format!(
                "region_dus_size {:?} is not the 1024-entry ZIP layout ({V2_DUS_SIZE})",
                self.dus_size
            )
        } else {
            String::new()
        }
    }

    /// The listing's view of it.
    pub fn entry(&self) -> DeviceEntry {
        DeviceEntry {
            name: self.name.clone(),
            device_api: self.api.clone(),
            direction: None,
            available_instances: self.available_instances,
            description: format!(
                "uacce {}, NUMA node {}, {}",
                self.algorithms.join("/"),
                self.numa_node
                    .filter(|&n| n >= 0)
                    .map_or_else(|| "none".to_string(), |n| n.to_string()),
                if self.isolated {
                    "isolated"
                } else {
                    "not isolated"
                },
            ),
            path: self.path.clone(),
            iommu_type: None,
            dma_flag: None,
            usable: self.note.is_empty(),
            note: self.note.clone(),
            kind: DeviceKind::Uacce,
            numa_node: self.numa_node,
            isolated: Some(self.isolated),
        }
    }
}

/// Every uacce device under `class_dir` (normally [`UACCE_CLASS_DIR`]), in name order; a
/// missing `class_dir` is an empty list. Nothing is opened.
pub fn uacce_devices(class_dir: &Path) -> Vec<UacceDevice> {
    entries(class_dir)
        .into_iter()
        .map(|(_, d)| UacceDevice::read(&d))
        .collect()
}

/// [`uacce_devices`] as listing entries.
pub fn list_uacce_devices(class_dir: &Path) -> Vec<DeviceEntry> {
    uacce_devices(class_dir)
        .iter()
        .map(UacceDevice::entry)
        .collect()
}
