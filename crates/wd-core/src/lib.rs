#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`queue::Queue`]: the `hisi_qm_v1` ring driver over any [`backend::Backend`].
//! - [`abi`]: the ring dialect and the ZIP request format (`docs/abi.md`).
//! - [`dma`]: memory shared with a device, tracked per address space.
//! - [`backend::soft`]: an in-process device model that speaks the same protocol.
//! - [`engine`]: the soft device's compression engines ([`engine::ENGINES`]).
//! - [`zip`]: whole-stream compress/decompress spread over several queues.

#![warn(missing_docs)]

pub mod abi;
pub mod backend;
pub mod codec;
pub mod dma;
pub mod engine;
pub mod error;
pub mod format;
#[cfg(feature = "isal")]
pub mod isal;
pub mod memlock;
mod open;
pub mod pieces;
pub mod pool;
pub mod queue;
pub mod ring;
pub mod sys;
pub mod sysfs;
pub mod vfio_sys;
pub mod wait;
pub mod zip;
pub mod zlibrs;

pub use abi::Direction;
pub use backend::DeviceKind;
pub use error::{Error, Result};
pub use format::{Format, Level};
pub use open::{
    default_device, open_queue, open_queue_on, open_queue_with, soft_domain, vfio_present,
    DeviceChoice, QueueOptions,
};
pub use queue::{Completion, Queue, Request, SendError, Stats};
pub use sys::fork_generation;

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
