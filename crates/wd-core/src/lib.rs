//! # wd-core: the WarpDrive user-space accelerator driver
//!
//! A process talks to an accelerator queue directly: requests go into a submission ring in
//! shared memory, one doorbell store tells the device, results come back in a completion
//! ring. No system call per request.
//!
//! - [`queue::Queue`]: the `hisi_qm_v1` ring driver over any [`backend::Backend`].
//! - [`abi`]: the ring dialect and the ZIP request format (`docs/abi.md`).
//! - [`dma`]: memory shared with a device, tracked per address space.
//! - [`backend::soft`]: an in-process device model that speaks the same protocol.
//! - [`zip`]: whole-stream compress/decompress spread over several queues.
//!
//! ```
//! use wd_core::zip::{compress, decompress, Format};
//! let data = b"hello, accelerator".repeat(100);
//! let gz = compress(&data, Format::Gzip, 6).unwrap();
//! assert_eq!(decompress(&gz, Format::Gzip).unwrap(), data);
//! ```

#![warn(missing_docs)]

pub mod abi;
pub mod backend;
pub mod dma;
pub mod engine;
pub mod error;
pub mod format;
pub mod isal;
pub mod memlock;
pub mod pool;
pub mod queue;
pub mod ring;
pub mod sys;
pub mod sysfs;
pub mod vfio_sys;
pub mod zip;
pub mod zlibrs;

use std::sync::Arc;

pub use abi::Direction;
pub use backend::DeviceKind;
pub use error::{Error, Result};
pub use format::{Format, Level};
pub use queue::{Completion, Queue, Request, SendError, Stats};

/// The process's soft-device address space: every soft queue opened through
/// [`open_queue`] shares it, as all of a process's VFIO queues share one container.
pub fn soft_domain() -> Arc<dma::Domain> {
    static DOMAIN: sys::PerProcess<Arc<dma::Domain>> = sys::PerProcess::new();
    DOMAIN
        .get_or_try_init(|| {
            let d = dma::Domain::soft();
            d.enable_cache();
            Ok::<_, std::convert::Infallible>(d)
        })
        .unwrap_or_else(|never| match never {})
}

/// Which device a queue should come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// An sdmdev device through VFIO when one with a free instance is present, else soft.
    #[default]
    Auto,
    /// The in-process soft device.
    Soft,
    /// An sdmdev device through VFIO; an error if there is none.
    Vfio,
}

impl DeviceChoice {
    /// Every choice, in the order the messages name them.
    pub const ALL: [DeviceChoice; 3] = [DeviceChoice::Auto, DeviceChoice::Soft, DeviceChoice::Vfio];

    /// The choice's name: `auto`, `soft` or `vfio`.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Soft => "soft",
            DeviceChoice::Vfio => "vfio",
        }
    }

    /// The process default: `WARPDRIVE_DEVICE` (auto, soft or vfio), else `Auto`.
    pub fn from_env() -> Result<DeviceChoice> {
        match std::env::var("WARPDRIVE_DEVICE") {
            Ok(v) => v.parse().map_err(|_| {
                Error::BadRequest(format!("WARPDRIVE_DEVICE={v:?}: use auto, soft or vfio"))
            }),
            Err(_) => Ok(DeviceChoice::Auto),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;

    /// Reads `auto`, `soft` or `vfio` (exactly); anything else is [`Error::BadRequest`].
    fn from_str(s: &str) -> Result<DeviceChoice> {
        DeviceChoice::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "device must be 'auto', 'soft' or 'vfio', not {s:?}"
                ))
            })
    }
}

/// True if an sdmdev device can give a queue of direction `dir` right now. The sysfs scan
/// is remembered for a second: small calls ask this every time.
pub fn vfio_present(dir: Direction) -> bool {
    type Seen = std::sync::Mutex<Option<(std::time::Instant, [bool; 2])>>;
    static SEEN: Seen = std::sync::Mutex::new(None);
    let i = dir.index();
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((t, v)) = *seen {
        if t.elapsed() < std::time::Duration::from_secs(1) {
            return v[i];
        }
    }
    // A type with a free instance (to create an mdev from), or an existing mdev whose
    // group this user may open (one root made and granted in advance).
    let scan = |d| {
        let s = sysfs::Sysfs::default();
        std::path::Path::new("/dev/vfio/vfio").exists()
            && s.find_type(d).is_ok_and(|(_, t)| {
                t.available_instances > 0
                    || s.mdevs_of_type(&t.id).iter().any(|u| {
                        s.mdev_group(u)
                            .is_ok_and(|g| sys::may_read_write(&format!("/dev/vfio/{g}")))
                    })
            })
    };
    let v = [scan(Direction::Compress), scan(Direction::Decompress)];
    *seen = Some((std::time::Instant::now(), v));
    v[i]
}

/// The kind of device [`open_queue`] would use now.
pub fn default_device() -> DeviceKind {
    match DeviceChoice::from_env() {
        Ok(DeviceChoice::Soft) => DeviceKind::Soft,
        Ok(DeviceChoice::Vfio) => DeviceKind::Vfio,
        _ if vfio_present(Direction::Compress) => DeviceKind::Vfio,
        _ => DeviceKind::Soft,
    }
}

/// How a queue is opened, beyond its device and direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueOptions {
    /// On the soft device, run its thread at idle priority, so that it never keeps one of
    /// the caller's threads waiting for a core (see
    /// [`backend::soft::SoftOptions::background`]). A VFIO device works outside the
    /// process: there it changes nothing.
    pub background: bool,
}

/// Opens a queue from `choice`.
pub fn open_queue_on(choice: DeviceChoice, dir: Direction) -> Result<Queue> {
    open_queue_with(choice, dir, QueueOptions::default())
}

/// Opens a queue from `choice`, with options.
pub fn open_queue_with(choice: DeviceChoice, dir: Direction, opts: QueueOptions) -> Result<Queue> {
    match choice {
        DeviceChoice::Soft => open_soft(dir, opts),
        DeviceChoice::Vfio => open_vfio(dir),
        // The last free instance may have gone since it was seen, or none may be open to
        // this user: then the soft device.
        DeviceChoice::Auto if vfio_present(dir) => match open_vfio(dir) {
            Err(Error::NoDevice(_) | Error::Permission(_)) => open_soft(dir, opts),
            r => r,
        },
        DeviceChoice::Auto => open_soft(dir, opts),
    }
}

fn open_soft(dir: Direction, opts: QueueOptions) -> Result<Queue> {
    let soft = backend::soft::SoftOptions {
        background: opts.background,
        ..Default::default()
    };
    Queue::open_soft_with(soft_domain(), dir, soft)
}

fn open_vfio(dir: Direction) -> Result<Queue> {
    if !std::path::Path::new("/dev/vfio/vfio").exists() {
        return Err(Error::NoDevice(
            "no /dev/vfio/vfio: load the vfio and vfio_iommu_type1 modules (and sdmdev)".into(),
        ));
    }
    let ctx = backend::vfio::VfioContext::global()?;
    let opts = backend::vfio::VfioOptions {
        wait: backend::vfio::WaitMode::from_env()?,
        ..Default::default()
    };
    let b = backend::vfio::VfioBackend::open(&ctx, dir, opts)?;
    Ok(Queue::new(Box::new(b), dir))
}

/// Opens a queue on the best device present: an sdmdev queue through VFIO when one is
/// free, else the in-process soft device (`WARPDRIVE_DEVICE` overrides, see
/// [`DeviceChoice::from_env`]).
pub fn open_queue(dir: Direction) -> Result<Queue> {
    open_queue_on(DeviceChoice::from_env()?, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_vfio_without_vfio_is_no_device() {
        match open_queue_on(DeviceChoice::Vfio, Direction::Compress) {
            Err(Error::NoDevice(m)) => assert!(m.contains("vfio") || m.contains("sdmdev"), "{m}"),
            Err(e) => panic!("want NoDevice, got {e}"),
            // A machine with sdmdev and VFIO gives a real queue.
            Ok(q) => assert_eq!(q.kind(), DeviceKind::Vfio),
        }
    }
}
