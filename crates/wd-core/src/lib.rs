#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`queue::Queue`]: the `hisi_qm_v1` ring driver over any [`backend::Backend`].
//! - [`abi`]: the ring dialect and the ZIP request format (`docs/abi.md`).
//! - [`dma`]: memory shared with a device, tracked per address space.
//! - [`backend::soft`]: an in-process device model that speaks the same protocol.
//! - [`ENGINES`]: the soft device's compression engines in this build.
//! - [`zip`]: whole-stream compress/decompress spread over several queues.

#![warn(missing_docs)]

pub mod abi;
pub mod backend;
pub mod codec;
pub mod dma;
pub mod error;
pub mod format;
pub mod memlock;
mod open;
pub mod pieces;
pub mod pool;
pub mod queue;
mod ring;
pub mod sysfs;
mod vfio_sys;
pub mod wait;
pub mod zip;

// Internals, public only for the crates of this repository (hidden from the documentation,
// no stability promise):
// - `engine`: the soft device's codec; bench/rust (`wd-bench`) and examples/engine_bench.rs
//   call an engine on the caller's thread to time it bare, and the Python binding lists
//   the engine names (also exported as `ENGINES`).
// - `isal`, `zlibrs`: the engines' codec libraries, timed on their own by
//   examples/engine_bench.rs and examples/decode_bench.rs.
// - `sys`: the system calls; the integration tests set RLIMIT_MEMLOCK and look for
//   CAP_IPC_LOCK (tests/memlock.rs) and poll readiness fds directly (tests/ring.rs, ...).
#[doc(hidden)]
pub mod engine;
#[cfg(feature = "isal")]
#[doc(hidden)]
pub mod isal;
#[doc(hidden)]
pub mod sys;
#[doc(hidden)]
pub mod zlibrs;

pub use abi::Direction;
pub use backend::DeviceKind;
pub use engine::ENGINES;
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
