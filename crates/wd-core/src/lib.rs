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
pub mod isal;
pub mod pool;
pub mod queue;
pub mod ring;
pub mod sys;
pub mod sysfs;
pub mod vfio_sys;
pub mod zip;

use std::sync::Arc;

pub use engine::Direction;
pub use error::{Error, Result};
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
    /// Parses `auto`, `soft`, `vfio`.
    pub fn parse(s: &str) -> Option<DeviceChoice> {
        match s {
            "auto" => Some(DeviceChoice::Auto),
            "soft" => Some(DeviceChoice::Soft),
            "vfio" => Some(DeviceChoice::Vfio),
            _ => None,
        }
    }

    /// The process default: `WARPDRIVE_DEVICE` (auto, soft or vfio), else `Auto`.
    pub fn from_env() -> Result<DeviceChoice> {
        match std::env::var("WARPDRIVE_DEVICE") {
            Ok(v) => DeviceChoice::parse(&v).ok_or_else(|| {
                Error::BadRequest(format!("WARPDRIVE_DEVICE={v:?}: use auto, soft or vfio"))
            }),
            Err(_) => Ok(DeviceChoice::Auto),
        }
    }
}

/// True if an sdmdev device can give a queue of direction `dir` right now.
pub fn vfio_present(dir: Direction) -> bool {
    std::path::Path::new("/dev/vfio/vfio").exists()
        && sysfs::Sysfs::default()
            .find_type(dir)
            .is_ok_and(|(_, t)| t.available_instances > 0)
}

/// The kind of device [`open_queue`] would use now: `vfio` or `soft`.
pub fn default_device() -> &'static str {
    match DeviceChoice::from_env() {
        Ok(DeviceChoice::Soft) => "soft",
        Ok(DeviceChoice::Vfio) => "vfio",
        _ if vfio_present(Direction::Compress) => "vfio",
        _ => "soft",
    }
}

/// Opens a queue from `choice`.
pub fn open_queue_on(choice: DeviceChoice, dir: Direction) -> Result<Queue> {
    let vfio = match choice {
        DeviceChoice::Soft => false,
        DeviceChoice::Vfio => true,
        DeviceChoice::Auto => vfio_present(dir),
    };
    if vfio {
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
        return Ok(Queue::new(Box::new(b), dir));
    }
    Queue::open_soft_with(soft_domain(), dir, Default::default())
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
            Ok(q) => assert!(q.describe().starts_with("vfio:")),
        }
    }
}
