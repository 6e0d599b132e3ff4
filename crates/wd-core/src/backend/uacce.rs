//! Queues of mainline `uacce` devices: HiSilicon ZIP engines (`hisi_zip`, QM v2/v3) on
//! SVA-capable systems, and the guest's software parent (docs/abi.md section 9).
//!
//! One open file is one queue pair: `QM_SET_QP_CTX` fixes its direction, the MMIO region
//! (doorbell) and the DUS region (rings and status page) are mapped once each, `START_Q`
//! starts it, `PUT_Q` stops it. Memory is the process's own (SVA): requests carry virtual
//! addresses, nothing is pinned, and buffers are faulted in before they are sent. The
//! driver waits with `poll()` on the file. Each step's failure names the step and the
//! device.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::abi::{
    Dialect, Direction, RINGS_SIZE, V2_DUS_SIZE, V2_STOP_RX_FROM_END, V2_STOP_TX_FROM_END,
};
use crate::backend::{Backend, DeviceKind};
use crate::dma::{Domain, IommuMapper};
use crate::error::{Error, Result};
use crate::ring::{Mmio, Region, Rings};
use crate::sys::uacce as sys;
use crate::sys::{Mapping, ParentOnlyFd};
use crate::sysfs::{uacce_class_dir, uacce_devices, UacceDevice};

/// The device reaches process memory through the process's own page tables: sharing is
/// bookkeeping, plus faulting the pages in so that the device does not have to.
struct Sva;

impl IommuMapper for Sva {
    fn map(&self, _iova: u64, vaddr: *mut u8, len: usize) -> Result<()> {
        crate::sys::populate(vaddr, len);
        Ok(())
    }
    fn unmap(&self, _iova: u64, _len: usize) -> Result<()> {
        Ok(())
    }
    fn lends_process_memory(&self) -> bool {
        // No pinning and no system call to share; `PUT_Q` stops the queue for good.
        true
    }
}

/// The process's SVA address space: every uacce queue of the process shares it.
pub fn process_domain() -> Arc<Domain> {
    static DOMAIN: crate::sys::PerProcess<Arc<Domain>> = crate::sys::PerProcess::new();
    DOMAIN
        .get_or_try_init(|| {
            let d = Domain::new(Box::new(Sva));
            d.enable_cache();
            Ok::<_, Error>(d)
        })
        .expect("making a domain cannot fail")
}

/// A started queue of a uacce device.
pub struct UacceBackend {
    // Declaration order is teardown order: our views of the regions, then the file.
    mmio: Mmio,
    rings: Rings,
    /// The DUS region again, for the status page.
    dus: Region,
    file: ParentOnlyFd,
    domain: Arc<Domain>,
    dialect: Dialect,
    qn: u16,
    name: String,
    started: bool,
}

/// What a failed step of opening `dev` is reported as.
fn step(dev: &str, what: &str, e: std::io::Error) -> Error {
    let ctx = format!("uacce {dev}: {what}");
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => Error::Permission(format!(
            "{ctx}: {e} (the administrator grants read-write access to /dev/{dev})"
        )),
        Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => {
            Error::NoDevice(format!("{ctx}: {e} (the device went away)"))
        }
        Some(libc::EBUSY) => Error::NoDevice(format!("{ctx}: {e} (no free queue)")),
        _ => Error::io(ctx, e),
    }
}

fn map_region(dev: &str, file: &OwnedFd, qfrt: u64, len: usize, what: &str) -> Result<Region> {
    let offset = qfrt * crate::sys::page_size() as u64;
    let map = Mapping::shared_fd(file, offset, len)
        .map_err(|e| step(dev, &format!("mmap of the {what} region ({len} bytes)"), e))?;
    let map = Arc::new(map);
    // SAFETY: the region covers the mapping, which the Arc keeps alive; it is page
    // aligned, and the device memory is accessed only with atomics.
    Ok(unsafe { Region::new(map.as_ptr(), map.len(), map.clone()) })
}

impl UacceBackend {
    /// Opens and starts a queue of direction `dir` on `dev`.
    pub fn open(dev: &UacceDevice, dir: Direction) -> Result<UacceBackend> {
        let name = dev.name.as_str();
        let dialect = dev.dialect().ok_or_else(|| {
            Error::NoDevice(format!("uacce {name}: api {:?} not spoken here", dev.api))
        })?;
        let mmio_size = dev.mmio_size.unwrap_or(0);
        if mmio_size < dialect.mmio_size() || dev.dus_size != Some(V2_DUS_SIZE) {
            return Err(Error::NoDevice(format!("uacce {name}: {}", dev.note)));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dev.node())
            .map_err(|e| step(name, &format!("opening {}", dev.node().display()), e))?;
        let file = ParentOnlyFd::new(file.into())
            .map_err(|e| step(name, "registering the file for fork", e))?;
        let fd = file.as_fd();
        let qn = sys::set_qp_ctx(fd, dir.index() as u16)
            .map_err(|e| step(name, "UACCE_CMD_QM_SET_QP_CTX", e))?;
        let (sqe_size, sq_depth, cq_depth) =
            sys::qp_info(fd).map_err(|e| step(name, "UACCE_CMD_QM_SET_QP_INFO", e))?;
        if (sqe_size, sq_depth, cq_depth) != (128, 1024, 1024) {
            return Err(Error::NoDevice(format!(
                "uacce {name}: queue geometry {sqe_size} B x {sq_depth} / {cq_depth}, \
                 this driver speaks 128 B x 1024 / 1024"
            )));
        }
        let mmio = map_region(
            name,
            file.as_ref(),
            sys::QFRT_MMIO,
            dialect.mmio_size(),
            "MMIO",
        )?;
        let dus = map_region(name, file.as_ref(), sys::QFRT_DUS, V2_DUS_SIZE, "DUS")?;
        debug_assert!(dus.len() >= RINGS_SIZE);
        sys::start_q(fd).map_err(|e| step(name, "UACCE_CMD_START_Q", e))?;
        Ok(UacceBackend {
            mmio: Mmio::new(mmio),
            rings: Rings::new(dus.clone()),
            dus,
            file,
            domain: process_domain(),
            dialect,
            qn,
            name: format!("uacce:{name}:{dir}"),
            started: true,
        })
    }

    /// True once the function stopped taking requests (the status page's stop flags).
    fn stopping(&self) -> bool {
        let len = self.dus.len();
        self.dus
            .load32(len - V2_STOP_TX_FROM_END, Ordering::Acquire)
            != 0
            || self
                .dus
                .load32(len - V2_STOP_RX_FROM_END, Ordering::Acquire)
                != 0
    }
}

impl Backend for UacceBackend {
    fn mmio(&self) -> &Mmio {
        &self.mmio
    }
    fn rings(&self) -> &Rings {
        &self.rings
    }
    fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
    fn sqn(&self) -> u16 {
        self.qn
    }
    fn interrupt_fd(&self) -> BorrowedFd<'_> {
        self.file.as_ref().as_fd()
    }
    fn clear_interrupt(&self) {
        // poll() consumes each report itself (docs/abi.md section 9.8).
    }
    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        // A removed device never wakes a poller: always sleep with a limit, so that the
        // driver's check of the device comes round.
        let t = timeout.map_or(crate::queue::DEVICE_CHECK, |t| {
            t.min(crate::queue::DEVICE_CHECK)
        });
        crate::sys::poll_readable(&[self.file.as_raw_fd()], Some(t))
            .map_err(|e| Error::io(format!("{}: poll", self.name), e))?;
        Ok(())
    }
    fn kick(&self) {}
    fn check_alive(&self) -> Result<()> {
        // An ioctl first: after the parent went away the regions are gone too (a touch
        // would raise SIGBUS), and every ioctl fails with ENXIO.
        if let Err(e) = sys::qp_info(self.file.as_fd()) {
            return Err(Error::NoDevice(format!(
                "{}: the device went away ({e})",
                self.name
            )));
        }
        if self.stopping() {
            return Err(Error::NoDevice(format!(
                "{}: the device stopped taking requests (reset or removal)",
                self.name
            )));
        }
        Ok(())
    }
    fn stop(&mut self) -> Result<()> {
        if !self.started {
            return Ok(());
        }
        self.started = false;
        match sys::put_q(self.file.as_fd()) {
            Ok(()) => Ok(()),
            // Gone with its parent: uacce stopped and freed the queue already.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(()),
            Err(e) => Err(Error::io(format!("{}: UACCE_CMD_PUT_Q", self.name), e)),
        }
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn kind(&self) -> DeviceKind {
        DeviceKind::Uacce
    }
    fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// The devices a queue could come from now: usable, with a free instance, and a node this
/// user may open; most free instances first.
fn candidates() -> Vec<UacceDevice> {
    let mut v: Vec<UacceDevice> = uacce_devices(&uacce_class_dir())
        .into_iter()
        .filter(|d| d.note.is_empty() && d.available_instances.unwrap_or(0) > 0)
        .collect();
    v.sort_by_key(|d| std::cmp::Reverse(d.available_instances));
    v
}

/// True if a uacce device can likely give a queue now (nothing is opened).
pub fn present(_dir: Direction) -> bool {
    candidates()
        .iter()
        .any(|d| crate::sys::may_read_write(&d.node().to_string_lossy()))
}

/// Every uacce device for the device listing ([`crate::list_devices`]), usable or not,
/// under `WARPDRIVE_UACCE_ROOT` or [`crate::sysfs::UACCE_CLASS_DIR`].
pub fn list() -> Vec<crate::sysfs::DeviceEntry> {
    crate::sysfs::list_uacce_devices(&uacce_class_dir())
}

/// Opens a queue of direction `dir` on the first uacce device that gives one.
pub fn open_queue(dir: Direction, _opts: &crate::QueueOptions) -> Result<crate::Queue> {
    let all = uacce_devices(&uacce_class_dir());
    if all.is_empty() {
        return Err(Error::NoDevice(format!(
            "no uacce device under {} (hisi_zip with uacce on an SVA-capable system)",
            uacce_class_dir().display()
        )));
    }
    let mut why = Vec::new();
    let mut denied = None;
    for d in &all {
        if !d.note.is_empty() {
            why.push(format!("{}: {}", d.name, d.note));
            continue;
        }
        match UacceBackend::open(d, dir) {
            Ok(b) => return Ok(crate::Queue::new(Box::new(b), dir)),
            Err(Error::Permission(m)) => {
                why.push(m.clone());
                denied = denied.or(Some(m));
            }
            Err(e) => why.push(e.to_string()),
        }
    }
    match denied {
        // Every device that could serve refused this user: say so as such.
        Some(m) if why.len() == 1 => Err(Error::Permission(m)),
        _ => Err(Error::NoDevice(format!(
            "no uacce queue could be opened: {}",
            why.join("; ")
        ))),
    }
}
