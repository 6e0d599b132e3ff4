//! The soft device: a ZIP accelerator modelled in the caller's process, on its own thread.
//!
//! It behaves like the hardware, not like a shortcut: it learns about requests only from
//! the SQ doorbell and the ring, reaches only memory shared in its domain (anything else
//! completes with `DMA_FAULT` and nothing is touched), writes results back into the SQ
//! entry, posts completions with the phase bit, and signals its eventfd when the driver
//! armed the interrupt. Registers follow the software-device layout of `docs/abi.md`.
//!
//! Here: its options, the handle that holds it, and opening a queue on it. The device
//! itself (the ring side and its thread) is `soft/device.rs`; what it does with one
//! request, on the compression engines of the `wd-engine` crate, is `soft/engine.rs`. Both
//! exist with the cargo feature `soft` (on by default); without it opening a soft queue is
//! [`crate::Error::NoDevice`].

#[cfg(feature = "soft")]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::abi::Direction;
use crate::dma::Domain;
#[cfg(not(feature = "soft"))]
use crate::error::Error;
use crate::error::Result;

#[cfg(feature = "soft")]
mod device;
#[cfg(feature = "soft")]
#[doc(hidden)]
pub mod engine;

#[cfg(feature = "soft")]
pub use device::SoftBackend;

/// True if this build has the soft device (the cargo feature `soft`).
pub const BUILT: bool = cfg!(feature = "soft");

/// Tuning and test knobs of the soft device.
#[derive(Debug, Clone)]
pub struct SoftOptions {
    /// How long the device polls an empty ring before it sleeps.
    pub spin: Duration,
    /// Take up to this many requests at once and complete them in reverse order
    /// (1 = in order). Real devices complete out of order; this makes it happen on demand.
    pub reorder_window: usize,
    /// Start with request processing held (see [`SoftControl::pause`]).
    pub start_paused: bool,
    /// Run the device thread at idle priority (`SCHED_IDLE`): it only gets a core that no
    /// thread of normal priority wants, and a caller's thread that wakes up takes the core
    /// from it at once instead of waiting for its time slice to end (several ms). For
    /// callers that must answer quickly (an event loop) on a machine whose cores the
    /// device threads keep busy; the price is that other busy threads or processes slow
    /// the device down to what they leave over. Cannot be undone for the thread.
    pub background: bool,
    /// Misbehaviour to act out, by the serial number (from 0, in the order the device
    /// answers) of the request it hits. For unit tests and the fuzz targets only: it
    /// exists with the `fault-injection` feature, which no build users get turns on.
    #[cfg(any(test, feature = "fault-injection"))]
    pub faults: Vec<(u64, Fault)>,
    /// The device's own thread takes no request, as if it never got a core: only callers
    /// that lend their thread ([`crate::backend::Backend::serve_here`]) get anything done.
    /// For unit tests.
    #[cfg(any(test, feature = "fault-injection"))]
    pub stalled_thread: bool,
}

/// A way the soft device breaks the protocol on purpose, for the driver's fault tests and
/// fuzz targets.
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The completion names this SQ entry instead of the request's own.
    WrongSlot(u16),
    /// The completion is posted twice.
    Repeat,
    /// The request is done but its completion is never posted; later ones are.
    Drop,
    /// The device takes the request and answers neither it nor anything after it (until it
    /// is stopped).
    Hang,
    /// The completion is posted only after this long.
    Late(Duration),
    /// The device writes this many bytes past the output space, where the IOMMU lets it
    /// (inside the same share), and claims to have produced them.
    Overrun(u32),
    /// The entry comes back with another tag.
    Tag(u32),
    /// Anything at all: the entry's result words (consumed, produced, status and checksum,
    /// in that order) are overwritten with these, and the completion names `slot`.
    Forge {
        /// The SQ entry the completion names.
        slot: u16,
        /// Consumed, produced, status word, checksum.
        words: [u32; 4],
    },
}

impl Default for SoftOptions {
    fn default() -> Self {
        SoftOptions {
            spin: Duration::from_micros(50),
            reorder_window: 1,
            start_paused: false,
            background: false,
            #[cfg(any(test, feature = "fault-injection"))]
            faults: Vec::new(),
            #[cfg(any(test, feature = "fault-injection"))]
            stalled_thread: false,
        }
    }
}

#[cfg(feature = "soft")]
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    paused: AtomicBool,
    pause_at_interrupt: AtomicBool,
    kicks: AtomicU64,
    /// See [`SoftOptions::stalled_thread`].
    #[cfg(any(test, feature = "fault-injection"))]
    stalled: AtomicBool,
}

/// A handle to hold and release the device, as a debugger would (for tests and
/// benchmarks: "the device is busy").
#[cfg(feature = "soft")]
#[derive(Clone)]
pub struct SoftControl {
    shared: Arc<Shared>,
    thread: std::thread::Thread,
}

#[cfg(feature = "soft")]
impl SoftControl {
    /// The device stops taking new requests from the ring.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }
    /// The device pauses right after it signals its next interrupt, so that a test sees
    /// exactly the completions that interrupt was raised for.
    pub fn pause_at_next_interrupt(&self) {
        self.shared.pause_at_interrupt.store(true, Ordering::SeqCst);
    }
    /// Stalls or frees the device's own thread (see [`SoftOptions::stalled_thread`]).
    #[cfg(any(test, feature = "fault-injection"))]
    pub fn set_stalled(&self, stalled: bool) {
        self.shared.stalled.store(stalled, Ordering::SeqCst);
        self.thread.unpark();
    }
    /// The device takes requests again.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// The process's soft-device address space: every soft queue opened through
/// [`open_queue`] shares it, as all of a process's VFIO queues share one container.
pub fn process_domain() -> Arc<Domain> {
    static DOMAIN: crate::sys::PerProcess<Arc<Domain>> = crate::sys::PerProcess::new();
    DOMAIN
        .get_or_try_init(|| {
            let d = Domain::soft();
            d.enable_cache();
            Ok::<_, std::convert::Infallible>(d)
        })
        .unwrap_or_else(|never| match never {})
}

/// Opens a queue of direction `dir` on a new soft device in the process's address space
/// ([`process_domain`]).
pub fn open_queue(dir: Direction, opts: &crate::QueueOptions) -> Result<crate::Queue> {
    let soft = SoftOptions {
        background: opts.background,
        ..Default::default()
    };
    open_queue_in(process_domain(), dir, soft)
}

/// Opens a queue of direction `dir` on a new soft device in `domain`.
pub fn open_queue_in(
    domain: Arc<Domain>,
    dir: Direction,
    opts: SoftOptions,
) -> Result<crate::Queue> {
    #[cfg(feature = "soft")]
    {
        let b = SoftBackend::start(domain, dir, opts)?;
        Ok(crate::Queue::new(Box::new(b), dir))
    }
    #[cfg(not(feature = "soft"))]
    {
        let _ = (domain, dir, opts);
        Err(Error::NoDevice(
            "this build of wd-core has no soft device (its cargo feature `soft` is off)".into(),
        ))
    }
}
