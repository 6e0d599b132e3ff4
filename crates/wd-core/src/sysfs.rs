//! Finding sdmdev devices: sysfs only, nothing opened (docs/abi.md, DESIGN.md section 3).
//!
//! Layout read here (the root, normally `/sys`, is configurable for tests):
//! - `class/sdmdev/<parent>/params/{iommu_type,dma_flag}`
//! - `class/sdmdev/<parent>/device/mdev_supported_types/<type>/{name,device_api,
//!   available_instances,flags,create}`
//! - `bus/mdev/devices/<uuid>/{iommu_group -> .../<N>, remove, mdev_type -> .../<type>}`

use std::fs;
use std::path::{Path, PathBuf};

use crate::abi::Direction;
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
        match self.flags & (TYPE_COMPRESS | TYPE_DECOMPRESS) {
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

/// A fresh random UUID (from the kernel).
pub fn new_uuid() -> Result<String> {
    read_attr(Path::new("/proc/sys/kernel/random/uuid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sysfs() -> (PathBuf, Sysfs) {
        let root = std::env::temp_dir().join(format!(
            "wd-sysfs-{}-{}",
            std::process::id(),
            new_uuid().unwrap()
        ));
        let parent = root.join("class/sdmdev/softzip");
        fs::create_dir_all(parent.join("params")).unwrap();
        fs::write(parent.join("params/iommu_type"), "3\n").unwrap();
        fs::write(parent.join("params/dma_flag"), "2\n").unwrap();
        for (id, name, flags, avail) in [
            ("softzip-comp", "comp", 1, 2),
            ("softzip-decomp", "decomp", 2, 0),
        ] {
            let t = parent.join("device/mdev_supported_types").join(id);
            fs::create_dir_all(&t).unwrap();
            fs::write(t.join("name"), format!("{name}\n")).unwrap();
            fs::write(t.join("device_api"), "hisi_qm_v1\n").unwrap();
            fs::write(t.join("available_instances"), format!("{avail}\n")).unwrap();
            fs::write(t.join("flags"), format!("{flags}\n")).unwrap();
            fs::write(t.join("create"), "").unwrap();
        }
        let groups = root.join("kernel/iommu_groups/7");
        fs::create_dir_all(&groups).unwrap();
        let dev = root.join("bus/mdev/devices/1234");
        fs::create_dir_all(&dev).unwrap();
        std::os::unix::fs::symlink("../../../kernel/iommu_groups/7", dev.join("iommu_group"))
            .unwrap();
        std::os::unix::fs::symlink(
            "../../../class/sdmdev/softzip/device/mdev_supported_types/softzip-comp",
            dev.join("mdev_type"),
        )
        .unwrap();
        (root.clone(), Sysfs::new(root))
    }

    #[test]
    fn discovery_reads_parents_types_and_groups() {
        let (root, s) = fake_sysfs();
        let ps = s.parents().unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(
            (ps[0].name.as_str(), ps[0].iommu_type, ps[0].dma_flag),
            ("softzip", 3, 2)
        );
        let ids: Vec<_> = ps[0].types.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["softzip-comp", "softzip-decomp"]);
        assert_eq!(ps[0].types[0].direction(), Some(Direction::Compress));
        assert_eq!(ps[0].types[1].direction(), Some(Direction::Decompress));
        let (_, t) = s.find_type(Direction::Decompress).unwrap();
        assert_eq!(t.name, "decomp");
        // No free decompression instance: creating one says so before touching sysfs.
        let e = s.create_mdev(&t, "abcd").unwrap_err();
        assert!(
            matches!(e, Error::NoDevice(ref m) if m.contains("no free instance")),
            "{e}"
        );
        let (_, t) = s.find_type(Direction::Compress).unwrap();
        s.create_mdev(&t, "abcd").unwrap();
        assert_eq!(fs::read_to_string(t.path.join("create")).unwrap(), "abcd");
        assert_eq!(s.mdev_group("1234").unwrap(), 7);
        assert_eq!(s.mdevs_of_type("softzip-comp"), ["1234"]);
        assert!(s.mdevs_of_type("softzip-decomp").is_empty());
        assert!(s.mdev_group("nope").is_err());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn no_sdmdev_class_is_no_device_with_a_hint() {
        let s = Sysfs::new("/nonexistent-sysfs-root");
        assert!(s.parents().unwrap().is_empty());
        let e = s.find_type(Direction::Compress).unwrap_err();
        assert!(
            matches!(e, Error::NoDevice(ref m) if m.contains("module loaded")),
            "{e}"
        );
    }

    #[test]
    fn uuids_are_fresh() {
        let (a, b) = (new_uuid().unwrap(), new_uuid().unwrap());
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
    }
}
