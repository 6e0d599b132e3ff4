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
pub mod queue;
pub mod ring;
pub mod sys;
pub mod zip;

use std::sync::{Arc, OnceLock};

pub use engine::Direction;
pub use error::{Error, Result};
pub use queue::{Completion, Queue, Request, SendError, Stats};

/// The process's soft-device address space: every soft queue opened through
/// [`open_queue`] shares it, as all of a process's VFIO queues share one container.
pub fn soft_domain() -> Arc<dma::Domain> {
    static DOMAIN: OnceLock<Arc<dma::Domain>> = OnceLock::new();
    DOMAIN.get_or_init(dma::Domain::soft).clone()
}

/// The kind of device [`open_queue`] would use, e.g. `soft`.
pub fn default_device() -> &'static str {
    "soft"
}

/// Opens a queue on the best device present. Today that is the in-process soft device;
/// hardware queues through sdmdev/VFIO will be preferred once that backend exists.
pub fn open_queue(dir: Direction) -> Result<Queue> {
    Queue::open_soft_with(soft_domain(), dir, Default::default())
}
