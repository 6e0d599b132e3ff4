//! sdmdev parents and their mdev types (docs/abi.md section 6): the strict reader that
//! opening a queue uses ([`Sysfs`]) and the tolerant one that lists them ([`list_sdmdev_devices`]).

use std::fs;
use std::path::{Path, PathBuf};

use super::{entries, read_attr, read_num, read_opt_num, read_trimmed, DeviceEntry};
use crate::abi::Direction;
use crate::backend::DeviceKind;
use crate::error::{Error, Result};

/// Type flag: queues of this type compress.
pub const TYPE_COMPRESS: u32 = 1;
/// Type flag: queues of this type decompress.
pub const TYPE_DECOMPRESS: u32 = 2;
/// The ring dialect this driver speaks.
pub const DEVICE_API: &str = "hisi_qm_v1";

/// An mdev type of a parent: a kind of queue that can be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdevType {
    /// Directory name, e.g. `softzip-comp`.
    pub id: String,
    /// `name` attribute.
    pub name: String,
    /// Ring dialect, e.g. `hisi_qm_v1`.
    pub device_api: String,
    /// How many more can be created.
    pub available_instances: u32,
    /// Type flags ([`TYPE_COMPRESS`], [`TYPE_DECOMPRESS`]).
    pub flags: u32,
    /// The type's sysfs directory.
    pub path: PathBuf,
}

impl MdevType {
    /// The direction of this type's queues, if it says.
    pub fn direction(&self) -> Option<Direction> {
        MdevType::direction_of(self.flags)
    }

    /// The direction type flags name, if exactly one.
    pub fn direction_of(flags: u32) -> Option<Direction> {
        match flags & (TYPE_COMPRESS | TYPE_DECOMPRESS) {
            TYPE_COMPRESS => Some(Direction::Compress),
            TYPE_DECOMPRESS => Some(Direction::Decompress),
            _ => None,
        }
    }
}

/// An sdmdev parent device (an accelerator or a software model of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// Name under `class/sdmdev`.
    pub name: String,
    /// The VFIO IOMMU type to set on the container.
    pub iommu_type: u32,
    /// DMA mode bits (SINGLE_PROC_MAP 1, MULTI_PROC_MAP 2, ...).
    pub dma_flag: u32,
    /// Its mdev types.
    pub types: Vec<MdevType>,
}

/// Where sysfs is.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs::new("/sys")
    }
}

impl Sysfs {
    /// sysfs at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every sdmdev parent and its types. No sdmdev class means an empty list.
    pub fn parents(&self) -> Result<Vec<Parent>> {
        let mut out = Vec::new();
        for (name, dir) in entries(&self.root.join("class/sdmdev")) {
            let params = dir.join("params");
            let mut types = Vec::new();
            for (id, tdir) in entries(&dir.join("device/mdev_supported_types")) {
                types.push(MdevType {
                    name: read_attr(&tdir.join("name")).unwrap_or_else(|_| id.clone()),
                    device_api: read_attr(&tdir.join("device_api"))?,
                    available_instances: read_num(&tdir.join("available_instances"))?,
                    flags: read_num(&tdir.join("flags")).unwrap_or(0),
                    path: tdir,
                    id,
                });
            }
            out.push(Parent {
                iommu_type: read_num(&params.join("iommu_type"))?,
                dma_flag: read_num(&params.join("dma_flag"))?,
                types,
                name,
            });
        }
        Ok(out)
    }

    /// The first type, over all parents, that speaks our dialect in direction `dir`.
    pub fn find_type(&self, dir: Direction) -> Result<(Parent, MdevType)> {
        let parents = self.parents()?;
        if parents.is_empty() {
            return Err(Error::NoDevice(format!(
                "no sdmdev devices ({} is empty or missing): is the sdmdev module loaded?",
                self.root.join("class/sdmdev").display()
            )));
        }
        let mut seen = Vec::new();
        for p in &parents {
            for t in &p.types {
                if t.device_api == DEVICE_API && t.direction() == Some(dir) {
                    return Ok((p.clone(), t.clone()));
                }
                seen.push(format!("{}/{} ({})", p.name, t.id, t.device_api));
            }
        }
        Err(Error::NoDevice(format!(
            "no {DEVICE_API} {dir:?} queue type among: {}",
            seen.join(", ")
        )))
    }

    /// Creates an mdev of type `t` named `uuid`.
    pub fn create_mdev(&self, t: &MdevType, uuid: &str) -> Result<()> {
        if t.available_instances == 0 {
            return Err(Error::NoDevice(format!(
                "{}: no free instance (available_instances is 0)",
                t.id
            )));
        }
        let p = t.path.join("create");
        fs::write(&p, uuid)
            .map_err(|e| Error::io(format!("creating mdev {uuid} through {}", p.display()), e))
    }

    /// The sysfs directory of mdev `uuid`.
    pub fn mdev_dir(&self, uuid: &str) -> PathBuf {
        self.root.join("bus/mdev/devices").join(uuid)
    }

    /// The IOMMU group number of mdev `uuid`.
    pub fn mdev_group(&self, uuid: &str) -> Result<u32> {
        let link = self.mdev_dir(uuid).join("iommu_group");
        let target = fs::read_link(&link)
            .map_err(|e| Error::io(format!("reading {}", link.display()), e))?;
        target
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                Error::NoDevice(format!(
                    "{} points to {}, not a group number",
                    link.display(),
                    target.display()
                ))
            })
    }

    /// The mdevs that exist now of type `type_id` (e.g. left by a process that died).
    pub fn mdevs_of_type(&self, type_id: &str) -> Vec<String> {
        entries(&self.root.join("bus/mdev/devices"))
            .into_iter()
            .filter(|(_, dir)| {
                fs::read_link(dir.join("mdev_type"))
                    .ok()
                    .is_some_and(|t| t.file_name().is_some_and(|n| n == type_id))
            })
            .map(|(uuid, _)| uuid)
            .collect()
    }

    /// Removes mdev `uuid`.
    pub fn remove_mdev(&self, uuid: &str) -> Result<()> {
        let p = self.mdev_dir(uuid).join("remove");
        fs::write(&p, "1").map_err(|e| Error::io(format!("removing mdev {uuid}"), e))
    }
}

/// Where sdmdev parents are listed.
pub const CLASS_DIR: &str = "/sys/class/sdmdev";

/// The variable that moves [`CLASS_DIR`] for the device listing (a test's tree).
pub const CLASS_DIR_ENV: &str = "WARPDRIVE_SYSFS_ROOT";

/// Where the device listing looks for sdmdev parents: `WARPDRIVE_SYSFS_ROOT`, else
/// [`CLASS_DIR`]. (Opening a queue always reads [`CLASS_DIR`].)
pub fn sdmdev_class_dir() -> PathBuf {
    std::env::var_os(CLASS_DIR_ENV).map_or_else(|| PathBuf::from(CLASS_DIR), PathBuf::from)
}

/// Every mdev type of every sdmdev parent under `class_dir` (normally [`CLASS_DIR`]), in
/// name order, as far as it can be read: a missing or unreadable attribute is `None` (or
/// `unknown`), a parent without types is left out, and a missing `class_dir` is an empty
/// list. Nothing is opened.
pub fn list_sdmdev_devices(class_dir: &Path) -> Vec<DeviceEntry> {
    let vfio = Path::new("/dev/vfio/vfio").exists();
    let mut found = Vec::new();
    for (parent, dir) in entries(class_dir) {
        let param = |name: &str| {
            read_opt_num(&dir.join("params").join(name)).or_else(|| read_opt_num(&dir.join(name)))
        };
        let (iommu_type, dma_flag) = (param("iommu_type"), param("dma_flag"));
        for (id, t) in entries(&dir.join("device/mdev_supported_types")) {
            let device_api =
                read_trimmed(&t.join("device_api")).unwrap_or_else(|| "unknown".into());
            let flags = read_opt_num(&t.join("flags")).unwrap_or(0);
            let direction = MdevType::direction_of(flags);
            let note = if device_api != DEVICE_API {
                format!("unknown device_api {device_api:?}")
            } else if direction.is_none() {
                format!("flags {flags:#x} name no direction")
            } else if !vfio {
                "/dev/vfio/vfio is missing (vfio module not loaded?)".to_string()
            } else {
                String::new()
            };
            found.push(DeviceEntry {
                name: format!("{parent}/{id}"),
                direction,
                available_instances: read_opt_num(&t.join("available_instances")),
                description: read_trimmed(&t.join("name"))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| id.clone()),
                usable: note.is_empty(),
                note,
                device_api,
                path: t,
                iommu_type,
                dma_flag,
                kind: DeviceKind::Vfio,
                numa_node: None,
                isolated: None,
            });
        }
    }
    found
}
