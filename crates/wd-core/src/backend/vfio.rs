//! The real path: queues of sdmdev parents, reached through VFIO mediated devices.
//!
//! One [`VfioContext`] per process holds the VFIO container: every queue's group joins it,
//! so all of a process's queues share one address space and one share registry. Each step
//! of setting up a queue names itself in its error.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::abi::Direction;
use crate::abi::{MMIO_SIZE, RINGS_SIZE};
use crate::backend::Backend;
use crate::dma::{Domain, IommuMapper};
use crate::error::{Error, Result};
use crate::ring::{Mmio, Region, Rings};
use crate::sys::{EventFd, ParentOnlyFd};
use crate::sysfs::{new_uuid, MdevType, Parent, Sysfs};
use crate::vfio_sys as sys;

/// The process's VFIO container. Groups come and go with their mdevs (and group numbers
/// are reused), so each queue owns its group fd; the container counts them. When the last
/// group leaves, the kernel drops the IOMMU and every mapping with it: shares made then are
/// deferred, and the next attach replays the whole registry.
pub struct Container {
    fd: ParentOnlyFd,
    state: Mutex<ContainerState>,
}

struct ContainerState {
    /// Set while at least one group is attached.
    iommu_type: Option<u32>,
    attached: usize,
}

fn step(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| {
        let hint = match e.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => {
                " (permission: the user needs read-write access to /dev/vfio/*)"
            }
            Some(libc::ENOENT) => " (is the vfio module loaded?)",
            Some(libc::EBUSY) => " (busy: another process or queue holds it)",
            _ => "",
        };
        Error::io(format!("{what}{hint}"), e)
    }
}

impl Container {
    fn open() -> Result<Container> {
        let fd = sys::open_rw("/dev/vfio/vfio")
            .and_then(ParentOnlyFd::new)
            .map_err(step("opening /dev/vfio/vfio"))?;
        let v = sys::api_version(&fd).map_err(step("VFIO_GET_API_VERSION"))?;
        if v != sys::API_VERSION {
            return Err(Error::NoDevice(format!(
                "VFIO API version {v}, this driver speaks {}",
                sys::API_VERSION
            )));
        }
        Ok(Container {
            fd,
            state: Mutex::new(ContainerState {
                iommu_type: None,
                attached: 0,
            }),
        })
    }

    /// Opens group `n`, checks it is viable and joins it to the container. The first group
    /// sets the IOMMU type and maps `shares` (the domain's registry, locked by the caller).
    fn attach(
        self: &Arc<Self>,
        n: u32,
        iommu_type: u32,
        shares: &[(u64, usize)],
    ) -> Result<GroupGuard> {
        let mut st = self.state.lock().expect("container lock poisoned");
        match st.iommu_type {
            Some(t) if t != iommu_type => {
                return Err(Error::NoDevice(format!(
                    "device wants IOMMU type {iommu_type}, the container already uses {t}"
                )))
            }
            Some(_) => {}
            None => {
                let ok = sys::check_extension(&self.fd, iommu_type)
                    .map_err(step("VFIO_CHECK_EXTENSION"))?;
                if ok <= 0 {
                    return Err(Error::NoDevice(format!(
                        "the kernel's VFIO does not support IOMMU type {iommu_type} (params/iommu_type)"
                    )));
                }
            }
        }
        let path = format!("/dev/vfio/{n}");
        let g = sys::open_rw(&path)
            .and_then(ParentOnlyFd::new)
            .map_err(step(&format!("opening {path}")))?;
        let flags = sys::group_status(g.as_ref()).map_err(step("VFIO_GROUP_GET_STATUS"))?;
        if flags & sys::GROUP_VIABLE == 0 {
            return Err(Error::NoDevice(format!(
                "IOMMU group {n} is not viable: every device in it must be bound to a VFIO driver"
            )));
        }
        sys::group_set_container(g.as_ref(), self.fd.as_ref())
            .map_err(step("VFIO_GROUP_SET_CONTAINER"))?;
        // From here on, dropping the guard undoes the attach.
        st.attached += 1;
        let guard = GroupGuard {
            fd: Some(g),
            container: Arc::clone(self),
            fork_gen: crate::sys::fork_generation(),
        };
        if st.iommu_type.is_none() {
            sys::set_iommu(&self.fd, iommu_type).map_err(step("VFIO_SET_IOMMU"))?;
            for &(iova, len) in shares {
                sys::map_dma(self.fd.as_ref(), iova, iova, len as u64)
                    .map_err(|e| map_error(len, e))?;
            }
            st.iommu_type = Some(iommu_type);
        }
        Ok(guard)
    }
}

/// A queue's group, attached to the container while this lives.
struct GroupGuard {
    fd: Option<ParentOnlyFd>,
    container: Arc<Container>,
    fork_gen: u64,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.fork_gen != crate::sys::fork_generation() {
            return;
        }
        let mut st = self
            .container
            .state
            .lock()
            .expect("container lock poisoned");
        // Closing the fd detaches the group; the last one takes the IOMMU with it.
        drop(self.fd.take());
        st.attached -= 1;
        if st.attached == 0 {
            st.iommu_type = None;
        }
    }
}

fn map_error(len: usize, e: std::io::Error) -> Error {
    let hint = if e.raw_os_error() == Some(libc::ENOMEM) {
        ": pinned memory is limited by RLIMIT_MEMLOCK (raise `ulimit -l`)"
    } else {
        ""
    };
    Error::Share(format!("VFIO_IOMMU_MAP_DMA of {len} bytes: {e}{hint}"))
}

/// Shares memory through the container's IOMMU (`iova = vaddr`).
struct VfioMapper(Arc<Container>);

impl IommuMapper for VfioMapper {
    fn map(&self, iova: u64, _vaddr: *mut u8, len: usize) -> Result<()> {
        let st = self.0.state.lock().expect("container lock poisoned");
        if st.iommu_type.is_none() {
            // No group attached: the next attach maps the whole registry.
            return Ok(());
        }
        sys::map_dma(self.0.fd.as_ref(), iova, iova, len as u64).map_err(|e| map_error(len, e))
    }

    fn unmap(&self, iova: u64, len: usize) -> Result<()> {
        let st = self.0.state.lock().expect("container lock poisoned");
        if st.iommu_type.is_none() {
            return Ok(());
        }
        sys::unmap_dma(self.0.fd.as_ref(), iova, len as u64)
            .map_err(|e| Error::Share(format!("VFIO_IOMMU_UNMAP_DMA of {len} bytes: {e}")))
    }
}

/// A process's VFIO state: sysfs, the container and its DMA domain.
pub struct VfioContext {
    sysfs: Sysfs,
    container: Arc<Container>,
    domain: Arc<Domain>,
}

impl VfioContext {
    /// Opens the container (`/dev/vfio/vfio`); `sysfs` says where to find devices.
    pub fn new(sysfs: Sysfs) -> Result<Arc<VfioContext>> {
        let container = Arc::new(Container::open()?);
        let domain = Domain::new(Box::new(VfioMapper(Arc::clone(&container))));
        domain.enable_cache();
        Ok(Arc::new(VfioContext {
            sysfs,
            container,
            domain,
        }))
    }

    /// The process-wide context on `/sys`, opened on first use (and anew in a fork child,
    /// which must not use its parent's container).
    pub fn global() -> Result<Arc<VfioContext>> {
        static CTX: crate::sys::PerProcess<Arc<VfioContext>> = crate::sys::PerProcess::new();
        CTX.get_or_try_init(|| VfioContext::new(Sysfs::default()))
    }

    /// The shared address space of this process's VFIO queues.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Where devices are looked up.
    pub fn sysfs(&self) -> &Sysfs {
        &self.sysfs
    }
}

/// How the driver sleeps when it waits for a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// poll() on the interrupt eventfd (`VFIO_DEVICE_SET_IRQS`): works with event loops.
    #[default]
    Eventfd,
    /// The `VFIO_SDMDEV_CMD_WAIT` ioctl on the device fd.
    Ioctl,
}

impl WaitMode {
    /// `WARPDRIVE_WAIT=eventfd|ioctl`, else the default.
    pub fn from_env() -> Result<WaitMode> {
        match std::env::var("WARPDRIVE_WAIT").as_deref() {
            Err(_) | Ok("eventfd") => Ok(WaitMode::Eventfd),
            Ok("ioctl") => Ok(WaitMode::Ioctl),
            Ok(v) => Err(Error::BadRequest(format!(
                "WARPDRIVE_WAIT={v:?}: use eventfd or ioctl"
            ))),
        }
    }
}

/// How to get the queue.
#[derive(Debug, Clone, Default)]
pub struct VfioOptions {
    /// Use this existing mdev instead of creating one.
    pub uuid: Option<String>,
    /// Remove the mdev when the queue closes (default: only if we created it).
    pub remove_on_close: Option<bool>,
    /// How to wait.
    pub wait: WaitMode,
}

/// A started queue of an sdmdev device.
pub struct VfioBackend {
    // Declaration order is teardown order.
    mmio: Mmio,
    rings: Rings,
    irq: EventFd,
    device: ParentOnlyFd,
    _group: GroupGuard,
    ctx: Arc<VfioContext>,
    wait: WaitMode,
    name: String,
    mdev: MdevGuard,
}

fn map_region(device: &OwnedFd, index: u32, want: usize, what: &str) -> Result<Region> {
    let (offset, size) = sys::region_info(device, index)
        .map_err(step(&format!("VFIO_DEVICE_GET_REGION_INFO for the {what}")))?;
    if (size as usize) < want {
        return Err(Error::Protocol(format!(
            "the {what} region is {size} bytes, the ABI needs {want}"
        )));
    }
    let map = crate::sys::Mapping::shared_fd(device, offset, size as usize)
        .map_err(step(&format!("mapping the {what}")))?;
    let map = Arc::new(map);
    // SAFETY: the region covers the mapping, which the Arc keeps alive; device mappings
    // are page aligned, and the device memory is accessed only with atomics.
    Ok(unsafe { Region::new(map.as_ptr(), map.len(), map.clone()) })
}

impl VfioBackend {
    /// Opens a queue of direction `dir` on the first matching sdmdev type: the given mdev,
    /// else a free existing one of that type (say, left by a process that was killed),
    /// else a new one.
    pub fn open(ctx: &Arc<VfioContext>, dir: Direction, opts: VfioOptions) -> Result<VfioBackend> {
        let sysfs = ctx.sysfs();
        let (parent, ty) = sysfs.find_type(dir)?;
        if let Some(u) = &opts.uuid {
            return VfioBackend::open_mdev(ctx, &parent, &ty, u, false, &opts);
        }
        let mut tried = Vec::new();
        for u in sysfs.mdevs_of_type(&ty.id) {
            // One in use by someone else (its group is open) refuses: try the next.
            match VfioBackend::open_mdev(ctx, &parent, &ty, &u, false, &opts) {
                Ok(b) => return Ok(b),
                Err(e) => tried.push(format!("{u}: {e}")),
            }
        }
        let u = new_uuid()?;
        match sysfs.create_mdev(&ty, &u) {
            Ok(()) => VfioBackend::open_mdev(ctx, &parent, &ty, &u, true, &opts),
            Err(Error::Permission(why)) => {
                Err(Error::Permission(no_mdev_for_this_user(&ty, &tried, &why)))
            }
            Err(Error::NoDevice(why)) if !tried.is_empty() => Err(Error::NoDevice(format!(
                "{why}; the existing ones cannot be opened: {}",
                tried.join("; ")
            ))),
            Err(e) => Err(e),
        }
    }

    fn open_mdev(
        ctx: &Arc<VfioContext>,
        parent: &Parent,
        ty: &MdevType,
        uuid: &str,
        created: bool,
        opts: &VfioOptions,
    ) -> Result<VfioBackend> {
        let sysfs = ctx.sysfs();
        // Until the backend exists, a failure removes what we created.
        let undo = |e: Error| {
            if created {
                let _ = sysfs.remove_mdev(uuid);
            }
            e
        };
        let group = sysfs.mdev_group(uuid).map_err(undo)?;
        let g = ctx
            .domain
            .with_shares_locked(|shares| ctx.container.attach(group, parent.iommu_type, shares))
            .map_err(undo)?;
        let device = sys::group_get_device_fd(g.fd.as_ref().expect("attached").as_ref(), uuid)
            .and_then(ParentOnlyFd::new)
            .map_err(step("VFIO_GROUP_GET_DEVICE_FD"))
            .map_err(undo)?;
        let mmio = map_region(device.as_ref(), 0, MMIO_SIZE, "MMIO page")
            .map(Mmio::new)
            .map_err(undo)?;
        let rings = map_region(device.as_ref(), 1, RINGS_SIZE, "rings")
            .map(Rings::new)
            .map_err(undo)?;
        let irq = EventFd::new().map_err(|e| undo(Error::io("creating the eventfd", e)))?;
        sys::set_irq_eventfd(device.as_ref(), 0, irq.as_raw_fd())
            .map_err(step("VFIO_DEVICE_SET_IRQS"))
            .map_err(undo)?;
        Ok(VfioBackend {
            mmio,
            rings,
            irq,
            device,
            _group: g,
            ctx: Arc::clone(ctx),
            wait: opts.wait,
            name: format!("vfio:{}/{}", parent.name, ty.id),
            mdev: MdevGuard {
                sysfs: sysfs.clone(),
                uuid: uuid.to_string(),
                remove: opts.remove_on_close.unwrap_or(created),
                fork_gen: crate::sys::fork_generation(),
            },
        })
    }

    /// The mdev's UUID.
    pub fn uuid(&self) -> &str {
        &self.mdev.uuid
    }
}

/// What an ordinary user is told when no existing mdev of type `ty` can be opened and
/// creating one is not allowed.
fn no_mdev_for_this_user(ty: &MdevType, tried: &[String], why: &str) -> String {
    let existing = if tried.is_empty() {
        "there is no existing one".to_string()
    } else {
        format!(
            "none of the existing ones can be opened ({})",
            tried.join("; ")
        )
    };
    format!(
        "no {} queue this user may open: {existing}, and creating one needs root ({why}). \
         Have root create mdevs in advance (echo $(cat /proc/sys/kernel/random/uuid) > {}) \
         and give this user read-write access to their /dev/vfio/<group> (chown or chmod; \
         the group is /sys/bus/mdev/devices/<uuid>/iommu_group); see the README, \
         \"Running without root\"",
        ty.id,
        ty.path.join("create").display()
    )
}

impl Backend for VfioBackend {
    fn mmio(&self) -> &Mmio {
        &self.mmio
    }
    fn rings(&self) -> &Rings {
        &self.rings
    }
    fn domain(&self) -> &Arc<Domain> {
        self.ctx.domain()
    }
    fn interrupt_fd(&self) -> BorrowedFd<'_> {
        self.irq.as_fd()
    }
    fn clear_interrupt(&self) {
        self.irq.drain();
    }
    fn kick(&self) {
        // A failed kick is harmless: the kernel device also wakes on WAIT and its timer.
        let _ = sys::sdmdev_kick(&self.device);
    }
    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        match self.wait {
            WaitMode::Eventfd => {
                crate::sys::poll_readable(&[self.irq.as_raw_fd()], timeout)
                    .map_err(|e| Error::io("waiting for the device interrupt", e))?;
                self.clear_interrupt();
                Ok(())
            }
            WaitMode::Ioctl => {
                let ms = timeout.map_or(0, |t| t.as_millis().clamp(1, u32::MAX as u128) as u32);
                match sys::sdmdev_wait(&self.device, ms) {
                    Ok(_) => Ok(()),
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ETIMEDOUT | libc::EINTR)) => {
                        Ok(())
                    }
                    Err(e) => Err(Error::io("VFIO_SDMDEV_CMD_WAIT", e)),
                }
            }
        }
    }
    fn stop(&mut self) -> Result<()> {
        // The device finishes the request in progress, drops the unread ones and restarts
        // empty: nothing of ours is in use by it afterwards.
        sys::device_reset(&self.device).map_err(step("VFIO_DEVICE_RESET"))?;
        Ok(())
    }
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn kind(&self) -> super::DeviceKind {
        super::DeviceKind::Vfio
    }
}

impl Drop for VfioBackend {
    fn drop(&mut self) {
        if self.mdev.fork_gen == crate::sys::fork_generation() {
            let _ = sys::set_irq_eventfd(self.device.as_ref(), 0, -1);
        }
        // The fields then drop in order: mappings, eventfd, device fd, group fd, and last
        // the mdev itself, which the kernel removes only once the device is closed.
    }
}

/// Removes an mdev we created, after everything that used it is closed.
struct MdevGuard {
    sysfs: Sysfs,
    uuid: String,
    remove: bool,
    fork_gen: u64,
}

/// How long closing a queue waits for its mdev to go. The kernel removes an mdev only when
/// nothing holds its device any more, and waits for that without a bound; a close must not.
pub const MDEV_REMOVE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Drop for MdevGuard {
    fn drop(&mut self) {
        if !self.remove || self.fork_gen != crate::sys::fork_generation() {
            return;
        }
        // The removal runs on a thread of its own; the closing caller waits for it only
        // briefly. If something still holds the device (another process it was passed to),
        // the mdev goes when that lets go, or stays free for the next open to reuse.
        let (sysfs, uuid) = (self.sysfs.clone(), self.uuid.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("wd-mdev-remove".into())
            .spawn(move || {
                let _ = sysfs.remove_mdev(&uuid);
                let _ = tx.send(());
            });
        match spawned {
            Ok(t) => {
                if rx.recv_timeout(MDEV_REMOVE_WAIT).is_ok() {
                    // Done: reap the thread, so it does not outlive the close.
                    let _ = t.join();
                }
            }
            Err(_) => {
                let _ = self.sysfs.remove_mdev(&self.uuid);
            }
        }
    }
}

/// True if an sdmdev device can give a queue of direction `dir` right now: a type with a
/// free instance (to create an mdev from), or an existing mdev whose group this user may
/// open (one root made and granted in advance). Each call scans sysfs; the queue opener
/// remembers the answer for a second.
pub fn present(dir: Direction) -> bool {
    let s = crate::sysfs::Sysfs::default();
    std::path::Path::new("/dev/vfio/vfio").exists()
        && s.find_type(dir).is_ok_and(|(_, t)| {
            t.available_instances > 0
                || s.mdevs_of_type(&t.id).iter().any(|u| {
                    s.mdev_group(u)
                        .is_ok_and(|g| crate::sys::may_read_write(&format!("/dev/vfio/{g}")))
                })
        })
}

/// Every sdmdev mdev type for the device listing ([`crate::list_devices`]), usable or not,
/// under `WARPDRIVE_SYSFS_ROOT` or [`crate::sysfs::CLASS_DIR`].
pub fn list() -> Vec<crate::sysfs::DeviceEntry> {
    crate::sysfs::list_sdmdev_devices(&crate::sysfs::sdmdev_class_dir())
}

/// Opens a queue of direction `dir` on an sdmdev device (the process's VFIO container,
/// `WARPDRIVE_VFIO_WAIT` for the wait mode). A device node missing on the way (ENOENT)
/// means there is no device to open: that is [`Error::NoDevice`], not an I/O error.
pub fn open_queue(dir: Direction, _opts: &crate::QueueOptions) -> Result<crate::Queue> {
    let open = || -> Result<crate::Queue> {
        if !std::path::Path::new("/dev/vfio/vfio").exists() {
            return Err(Error::NoDevice(
                "no /dev/vfio/vfio: load the vfio and vfio_iommu_type1 modules (and sdmdev)".into(),
            ));
        }
        let ctx = VfioContext::global()?;
        let opts = VfioOptions {
            wait: WaitMode::from_env()?,
            ..Default::default()
        };
        let b = VfioBackend::open(&ctx, dir, opts)?;
        Ok(crate::Queue::new(Box::new(b), dir))
    };
    open().map_err(|e| match e {
        Error::Io { context, source } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::NoDevice(format!("{context}: {source}"))
        }
        e => e,
    })
}
