//! Finding devices: sysfs only, nothing opened. sdmdev parents (`docs/abi.md` section 6)
//! and mainline uacce devices (section 9.1); [`list_devices_from_env`] lists both.
//!
//! Two readers of one layout: [`Sysfs::parents`] for opening a queue (every attribute the
//! driver needs must be there, or it is an error) and [`list_devices`] for showing what is
//! present (whatever can be read, with a note where a type is not usable).
//!
//! Layout read here (the root, normally `/sys`, is configurable for tests):
//! - `class/sdmdev/<parent>/params/{iommu_type,dma_flag}`
//! - `class/sdmdev/<parent>/device/mdev_supported_types/<type>/{name,device_api,
//!   available_instances,flags,create}`
//! - `bus/mdev/devices/<uuid>/{iommu_group -> .../<N>, remove, mdev_type -> .../<type>}`
//! - `class/uacce/<name>/{api,flags,available_instances,algorithms,region_mmio_size,
//!   region_dus_size,isolate,device/numa_node}`, and the node `/dev/<name>`

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

/// Where sdmdev parents are listed.
pub const CLASS_DIR: &str = "/sys/class/sdmdev";

/// The variable that moves [`CLASS_DIR`] for [`list_devices_from_env`] (a test's tree).
pub const CLASS_DIR_ENV: &str = "WARPDRIVE_SYSFS_ROOT";

/// One mdev type as [`list_devices`] shows it: what could be read, and whether this driver
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
    /// `sdmdev` (a VFIO mediated-device type) or `uacce` (a uacce device).
    pub kind: &'static str,
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

/// Every mdev type of every sdmdev parent under `class_dir` (normally [`CLASS_DIR`]), in
/// name order, as far as it can be read: a missing or unreadable attribute is `None` (or
/// `unknown`), a parent without types is left out, and a missing `class_dir` is an empty
/// list. Nothing is opened.
pub fn list_devices(class_dir: &Path) -> Vec<DeviceEntry> {
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
                kind: "sdmdev",
                numa_node: None,
                isolated: None,
            });
        }
    }
    found
}

/// Every device present: the uacce devices ([`list_uacce_devices`] of
/// [`UACCE_CLASS_DIR`], or of the directory `WARPDRIVE_UACCE_ROOT` names), then the
/// sdmdev types ([`list_devices`] of [`CLASS_DIR`], or of `WARPDRIVE_SYSFS_ROOT`): the
/// order in which [`crate::DeviceChoice::Auto`] prefers them.
pub fn list_devices_from_env() -> Vec<DeviceEntry> {
    let dir = std::env::var_os(CLASS_DIR_ENV).unwrap_or_else(|| CLASS_DIR.into());
    let mut v = list_uacce_devices(&uacce_class_dir());
    v.extend(list_devices(Path::new(&dir)));
    v
}

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
            kind: "uacce",
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
    fn listing_reads_what_it_can_and_says_why_a_type_is_unusable() {
        let (root, _) = fake_sysfs();
        let class = root.join("class/sdmdev");
        // A second parent with its parameters beside `params/` and sparse types.
        let p = class.join("old");
        fs::create_dir_all(p.join("device/mdev_supported_types/bare")).unwrap();
        fs::write(p.join("iommu_type"), "1\n").unwrap();
        let odd = p.join("device/mdev_supported_types/odd");
        fs::create_dir_all(&odd).unwrap();
        fs::write(odd.join("device_api"), "other_v9\n").unwrap();
        fs::write(odd.join("available_instances"), "x\n").unwrap();
        let noflags = p.join("device/mdev_supported_types/noflags");
        fs::create_dir_all(&noflags).unwrap();
        fs::write(noflags.join("device_api"), "hisi_qm_v1\n").unwrap();
        // A parent without types is not listed.
        fs::create_dir_all(class.join("empty/params")).unwrap();

        let l = list_devices(&class);
        let names: Vec<_> = l.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "old/bare",
                "old/noflags",
                "old/odd",
                "softzip/softzip-comp",
                "softzip/softzip-decomp"
            ]
        );
        let (bare, noflags, odd, comp) = (&l[0], &l[1], &l[2], &l[3]);
        assert_eq!((bare.iommu_type, bare.dma_flag), (Some(1), None));
        assert_eq!(
            (bare.device_api.as_str(), bare.description.as_str()),
            ("unknown", "bare")
        );
        assert!(
            !bare.usable && bare.note.contains("unknown"),
            "{}",
            bare.note
        );
        assert!(noflags.note.contains("no direction"), "{}", noflags.note);
        assert_eq!(odd.available_instances, None);
        assert!(!odd.usable && odd.note.contains("other_v9"), "{}", odd.note);
        assert_eq!(comp.direction, Some(Direction::Compress));
        assert_eq!((comp.iommu_type, comp.dma_flag), (Some(3), Some(2)));
        assert_eq!(
            (comp.available_instances, comp.description.as_str()),
            (Some(2), "comp")
        );
        let vfio = Path::new("/dev/vfio/vfio").exists();
        assert_eq!(comp.usable, vfio);
        assert_eq!(comp.note.contains("vfio"), !vfio);
        assert!(list_devices(&root.join("missing")).is_empty());
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn uuids_are_fresh() {
        let (a, b) = (new_uuid().unwrap(), new_uuid().unwrap());
        assert_eq!(a.len(), 36);
        assert_ne!(a, b);
    }

    fn fake_uacce(root: &Path, name: &str, attrs: &[(&str, &str)]) -> PathBuf {
        let d = root.join(name);
        fs::create_dir_all(d.join("device")).unwrap();
        for (k, v) in attrs {
            fs::write(d.join(k), v).unwrap();
        }
        d
    }

    const GOOD: [(&str, &str); 7] = [
        ("api", "hisi_qm_v2\n"),
        ("flags", "1\n"),
        ("available_instances", "3\n"),
        ("algorithms", "zlib\ngzip\ndeflate\n"),
        ("region_mmio_size", "8192\n"),
        ("region_dus_size", "151552\n"),
        ("device/numa_node", "1\n"),
    ];

    #[test]
    fn uacce_devices_are_read_and_judged() {
        let root = std::env::temp_dir().join(format!("wd-uacce-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fake_uacce(&root, "hisi_zip-0", &GOOD);
        let mut v1 = GOOD;
        v1[0] = ("api", "hisi_qm_v1\n");
        fake_uacce(&root, "hisi_zip-1", &v1);
        let mut isolated = GOOD.to_vec();
        isolated.push(("isolate", "1\n"));
        fake_uacce(&root, "hisi_zip-2", &isolated);
        let mut no_gzip = GOOD;
        no_gzip[3] = ("algorithms", "zlib\ndeflate\n");
        fake_uacce(&root, "hisi_zip-3", &no_gzip);
        let mut sec = GOOD;
        sec[0] = ("api", "hisi_qm_v3\n");
        sec[5] = ("region_dus_size", "77824\n");
        fake_uacce(&root, "hisi_zip-4", &sec);
        let d = uacce_devices(&root);
        assert_eq!(d.len(), 5);
        assert_eq!(d[0].name, "hisi_zip-0");
        assert_eq!(d[0].dialect(), Some(crate::abi::Dialect::V2));
        assert_eq!(
            (d[0].available_instances, d[0].numa_node, d[0].isolated),
            (Some(3), Some(1), false)
        );
        assert_eq!(d[0].node(), Path::new("/dev/hisi_zip-0"));
        assert!(d[0].note.is_empty(), "{}", d[0].note);
        assert!(d[1].note.contains("hisi_qm_v1"), "{}", d[1].note);
        assert!(
            d[2].isolated && d[2].note.contains("isolated"),
            "{}",
            d[2].note
        );
        assert!(d[3].note.contains("gzip"), "{}", d[3].note);
        assert!(d[4].note.contains("region_dus_size"), "{}", d[4].note);
        let e = list_uacce_devices(&root);
        assert_eq!(
            (e[0].kind, e[0].usable, e[0].isolated),
            ("uacce", true, Some(false))
        );
        assert_eq!(e[0].device_api, "hisi_qm_v2");
        assert_eq!(
            e[0].description,
            "uacce zlib/gzip/deflate, NUMA node 1, not isolated"
        );
        assert!(!e[2].usable);
        assert!(uacce_devices(&root.join("missing")).is_empty());
        fs::remove_dir_all(&root).unwrap();
    }
}
