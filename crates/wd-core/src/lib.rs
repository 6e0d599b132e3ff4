#![doc = include_str!("../README.md")]
//!
//! ## Modules
//!
//! - [`Queue`]: the ring driver (every dialect, `docs/abi.md`) over any
//!   [`backend::Backend`]; [`open_queue`] and [`DeviceChoice`] pick the backend,
//!   [`list_devices`] shows the hardware present.
//! - [`abi`]: the ring dialect and the ZIP request format (`docs/abi.md`).
//! - [`dma`]: memory shared with a device, tracked per address space.
//! - [`backend::soft`]: an in-process device model that speaks the same protocol, running
//!   the compression engines of the `wd-engine` crate (cargo feature `soft`, on by default).
//! - `ENGINES`: the soft device's compression engines in this build (feature `soft`).
//! - [`zip`]: whole-stream compress/decompress spread over several queues.

#![warn(missing_docs)]

// The modules whose paths the repository's other crates, tests and examples use; the rest
// are private, their public items re-exported below.
pub mod abi;
pub mod backend;
pub mod codec;
pub mod dma;
mod error;
mod format;
pub mod memlock;
mod open;
pub mod pieces;
pub mod pool;
mod queue;
mod ring;
pub mod sysfs;
mod vfio_sys;
pub mod wait;
pub mod zip;

// Internals, public only for the crates of this repository (hidden from the documentation,
// no stability promise):
// - `engine`: the soft device's side of one request (`backend/soft/engine.rs`: the ABI's
//   checks and the mapping onto `wd-engine`); bench/rust (`wd-bench`) and
//   examples/engine_bench.rs run a request on the caller's thread to time the engines bare,
//   and the Python binding lists the engine names (also exported as `ENGINES`).
// - `isal`, `zlibrs`: the engines' codec libraries (`wd-engine`'s), timed on their own by
//   examples/engine_bench.rs and examples/decode_bench.rs.
// - `sys`: the system calls; the integration tests set RLIMIT_MEMLOCK and look for
//   CAP_IPC_LOCK (tests/memlock.rs) and poll readiness fds directly (tests/ring.rs, ...).
#[cfg(feature = "soft")]
#[doc(hidden)]
pub use backend::soft::engine;
#[cfg(feature = "isal")]
#[doc(hidden)]
pub use wd_engine::isal;
#[doc(hidden)]
pub mod sys;
#[cfg(feature = "soft")]
#[doc(hidden)]
pub use wd_engine::zlibrs;

pub use abi::Direction;
pub use backend::DeviceKind;
#[cfg(feature = "soft")]
pub use engine::ENGINES;
pub use error::{DataError, DataErrorKind, Error, Result};
pub use format::{Format, Level};
pub use open::{
    default_device, list_devices, open_queue, open_queue_on, open_queue_with, soft_domain,
    vfio_present, DeviceChoice, QueueOptions,
};
pub use queue::{Completion, InputBytes, Queue, Request, SendError, Stats};
pub use sys::fork_generation;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_vfio_without_vfio_is_no_device() {
        match open_queue_on(DeviceKind::Vfio.into(), Direction::Compress) {
            Err(Error::NoDevice(m)) => assert!(m.contains("vfio") || m.contains("sdmdev"), "{m}"),
            Err(e) => panic!("want NoDevice, got {e}"),
            // A machine with sdmdev and VFIO gives a real queue.
            Ok(q) => assert_eq!(q.kind(), DeviceKind::Vfio),
        }
    }

    #[test]
    #[cfg(not(feature = "soft"))]
    fn a_build_without_the_soft_device_says_so_when_one_is_asked_for() {
        let said_so = |r: Result<Queue>| match r {
            Err(Error::NoDevice(m)) => assert!(m.contains("no soft device"), "{m}"),
            Err(e) => panic!("want NoDevice, got {e}"),
            Ok(q) => panic!("a queue on {}", q.describe()),
        };
        for dir in [Direction::Compress, Direction::Decompress] {
            said_so(open_queue_on(DeviceKind::Soft.into(), dir));
            said_so(Queue::open_soft(dir));
            // Auto falls back to the soft device where no hardware is present.
            match open_queue_on(DeviceChoice::Auto, dir) {
                Ok(q) => assert_ne!(q.kind(), DeviceKind::Soft),
                r => said_so(r),
            }
        }
        // One-shot calls open their queues the same way.
        if default_device() == DeviceKind::Soft {
            match zip::compress(b"data", Format::Gzip, 6) {
                Err(Error::NoDevice(m)) => assert!(m.contains("no soft device"), "{m}"),
                r => panic!("want NoDevice, got {r:?}"),
            }
        }
    }
}
