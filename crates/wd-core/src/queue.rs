//! The ring driver, written once for every backend and every ring dialect
//! ([`crate::abi::Dialect`]: `hisi_qm_v1`, and `hisi_qm_v2`/`v3` of uacce devices).
//!
//! Hot path: `send` writes an SQ entry and rings the doorbell (one store); `recv` looks at
//! the phase bit of the next CQ entry. Neither takes a lock or makes a system call while
//! the device is busy. The only system calls are the kick of a sleeping software device and
//! the blocking wait, which happens only after the driver has nothing left to do.
//!
//! Ownership: a [`Request`] owns its [`DmaBuf`]s (or, as input, any [`InputBytes`]);
//! `send` moves it into the queue and the matching [`Completion`] hands the buffers back.
//! While the device may write a buffer, nobody else can reach it. Dropping a queue stops
//! its device first; only then are the buffers and inputs of unanswered requests freed.
//!
//! This file holds the queue itself (opening, state, closing); the rest is split as
//! io-uring's crate splits it, all used through this module's names: `queue/request.rs`
//! (what is submitted), `queue/completion.rs` (what comes back), `queue/submit.rs` and
//! `queue/borrowed.rs` (sending; requests on the caller's memory), `queue/reap.rs`
//! (receiving, arming the interrupt, the polling policy).

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::Direction;
use crate::abi::{
    Dialect, CAP_MODERATED_ARM, MAX_OUTSTANDING, REG_CAPS, REG_SOFT_ID, RING_DEPTH, SOFT_ID_MAGIC,
    V2_CTX_SIZE,
};
use crate::backend::Backend;
use crate::dma::{DmaBuf, Domain, Lease};
use crate::error::{Error, Result};
use crate::ring::{Mmio, Rings};
use crate::sys;

mod borrowed;
mod completion;
mod reap;
mod request;
mod submit;

pub use completion::{Completion, SendError, Stats};
use request::Framing;
pub use request::{InputBytes, Request};

struct Slot {
    /// The lent input, if any. Declared before `req` so that the share is undone before
    /// the input it covers can be freed.
    lease: Option<Lease>,
    req: Request,
    echo: u32,
    /// Input bytes, for the polling budget.
    input: usize,
    /// Output space the request offered: the most a completion may claim to have written.
    out_space: usize,
    /// What the driver did around the device (headers on v2/v3).
    framing: Framing,
    /// The entry's tag word.
    tag_word: usize,
    /// A no-op made by [`Request::nop`] (not a hand-made entry): its answer is only that
    /// it arrived.
    nop: bool,
}

/// A device queue. See the module documentation.
pub struct Queue {
    // Declaration order is teardown order (after `Drop::drop` stopped the device): our
    // views of the device memory, then the buffers of unanswered requests (unshared),
    // then the backend (device closed).
    mmio: Mmio,
    rings: Rings,
    slots: Vec<Option<Slot>>,
    /// The stream context buffer of a v2/v3 queue's stateful requests.
    stream_ctx: Option<DmaBuf>,
    backend: Box<dyn Backend>,
    dir: Direction,
    sqn: u16,
    dialect: Dialect,
    soft_layout: bool,
    /// The device understands moderated arming ([`Queue::arm_interrupt_moderated`]).
    moderates: bool,
    sq_tail: u16,
    cq_head: u16,
    phase: bool,
    outstanding: usize,
    bytes_in_flight: usize,
    /// Device time per input byte this queue has seen (ns, moving average), and when the
    /// request now being served started: they size the polling before a blocking wait.
    ns_per_byte: f64,
    service_start: Instant,
    next_echo: u32,
    stats: Stats,
    fork_gen: u64,
    stopped: bool,
    pooled: bool,
    /// Set when the device broke the protocol: why. The queue then refuses every call and
    /// keeps the buffers of its requests in flight until the device is stopped.
    broken: Option<String>,
    /// v2/v3 decompression: the state words the last answer handed on, while the device
    /// holds an unfinished stream that a continued request goes on with.
    stream_carry: Option<[u32; 5]>,
    /// v2/v3 decompression: the start of a zlib/gzip header that requests ended inside.
    /// The driver reads headers on these dialects, and takes such bytes as a v1 device
    /// takes them; a continued request goes on with the header from here.
    header_held: Vec<u8>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("device", &self.backend.describe())
            .field("outstanding", &self.outstanding)
            .finish()
    }
}

/// What the driver writes into the status byte of every request it submits. No device
/// answers with it, and every device writes the status of each request it answers
/// (docs/abi.md section 5), so a completion whose entry still holds it names a request the
/// device has not answered: its buffers may still be in use.
const STATUS_PENDING: u8 = 0xff;

/// The longest a blocking wait sleeps before it checks that the device is still there.
pub(crate) const DEVICE_CHECK: Duration = Duration::from_secs(1);

/// Requests smaller than this are mostly overhead and say little about the device's speed.
const TIMED_MIN_INPUT: usize = 4096;
/// The speed assumed before a queue has timed a request: 400 MB/s.
const INITIAL_NS_PER_BYTE: f64 = 2.5;
/// Longest polling before a blocking wait: past it a wake-up (tens of microseconds) costs a
/// few percent of the request, while polling longer would hold a core.
const MAX_POLL: Duration = Duration::from_millis(1);
/// From this expected wait on, a receiver first sleeps through most of it: waking up
/// (tens to hundreds of microseconds in a VM) would otherwise come on top of every long
/// request, after a millisecond of polling.
const NAP_FROM: Duration = Duration::from_micros(1500);

impl Queue {
    /// Takes over a started backend of direction `dir`. The rings must be freshly reset.
    pub fn new(backend: Box<dyn Backend>, dir: Direction) -> Queue {
        let mmio = backend.mmio().clone();
        let rings = backend.rings().clone();
        let dialect = backend.dialect();
        // As UADK's sessions do, a v2/v3 queue gets its stream context buffer when it opens,
        // so that its resources do not change with use (if it cannot be made now, the first
        // stateful request makes it, or fails).
        let stream_ctx = (dialect != Dialect::V1)
            .then(|| backend.domain().alloc(V2_CTX_SIZE).ok())
            .flatten();
        // Only v1 devices have the software registers; a v2/v3 MMIO page is the
        // hardware's, whose registers are not read for nothing.
        let soft_layout = dialect == Dialect::V1
            && mmio.region().load32(REG_SOFT_ID, Ordering::Relaxed) == SOFT_ID_MAGIC;
        let moderates = soft_layout
            && mmio.region().load32(REG_CAPS, Ordering::Relaxed) & CAP_MODERATED_ARM != 0;
        let sqn = backend.sqn();
        Queue {
            backend,
            mmio,
            rings,
            dir,
            sqn,
            dialect,
            soft_layout,
            moderates,
            sq_tail: 0,
            cq_head: 0,
            phase: true,
            slots: (0..RING_DEPTH).map(|_| None).collect(),
            outstanding: 0,
            bytes_in_flight: 0,
            ns_per_byte: INITIAL_NS_PER_BYTE,
            service_start: Instant::now(),
            next_echo: 1,
            stats: Stats::default(),
            fork_gen: sys::fork_generation(),
            stopped: false,
            pooled: false,
            broken: None,
            stream_ctx,
            stream_carry: None,
            header_held: Vec::new(),
        }
    }

    /// Opens a queue on a new in-process soft device.
    pub fn open_soft(dir: Direction) -> Result<Queue> {
        Queue::open_soft_with(Domain::soft(), dir, Default::default())
    }

    /// Opens a soft-device queue in `domain` with options.
    pub fn open_soft_with(
        domain: Arc<Domain>,
        dir: Direction,
        opts: crate::backend::soft::SoftOptions,
    ) -> Result<Queue> {
        crate::backend::soft::open_queue_in(domain, dir, opts)
    }

    /// The queue's direction.
    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// The DMA domain: allocate request buffers here.
    pub fn domain(&self) -> &Arc<Domain> {
        self.backend.domain()
    }

    /// Allocates a buffer shared with this queue's device.
    pub fn alloc(&self, len: usize) -> Result<DmaBuf> {
        self.domain().alloc(len)
    }

    /// What device serves this queue.
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The kind of device serving this queue.
    pub fn kind(&self) -> crate::backend::DeviceKind {
        self.backend.kind()
    }

    /// True if the device honours the level a compression asks for; false where the
    /// ring has no place for it (uacce's QM v2/v3 engines compress at their own level).
    pub fn takes_level(&self) -> bool {
        self.backend.dialect().takes_level()
    }

    /// True if the device can check that a decompression's input ends where a block
    /// starts ([`Request::ends_at_block`]): the ring of the sdmdev ABI has a flag for it; the
    /// hardware's (uacce's QM v2/v3) has no place for it.
    pub fn checks_block_ends(&self) -> bool {
        self.backend.dialect() == crate::abi::Dialect::V1
    }

    /// True if the device reads a caller's memory where it is (the soft device and uacce
    /// reach process memory; VFIO gets copies in its own buffers): a borrowed input is then
    /// read in place, with nothing copied.
    pub fn reads_in_place(&self) -> bool {
        self.domain().lends()
    }

    /// Requests sent and not yet received.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// True when a `send` would be refused for lack of room.
    pub fn is_full(&self) -> bool {
        self.outstanding >= MAX_OUTSTANDING || self.slots[self.sq_tail as usize].is_some()
    }

    /// True while the queue can be used: not closed, and in the process that opened it.
    pub fn is_usable(&self) -> bool {
        self.alive().is_ok()
    }

    /// True once a completion the driver could not match has broken the queue: every call
    /// but [`Queue::close`] (and dropping it) fails with [`Error::Protocol`].
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    pub(crate) fn set_pooled(&mut self, pooled: bool) {
        self.pooled = pooled;
    }

    pub(crate) fn is_pooled(&self) -> bool {
        self.pooled
    }

    /// Forgets a v2/v3 decompression stream the device may hold open, when the queue goes
    /// idle into the pool: its next user starts new streams.
    pub(crate) fn end_streams(&mut self) {
        self.stream_carry = None;
        self.header_held.clear();
    }

    /// `Err` if the device can no longer answer.
    pub fn check_device(&self) -> Result<()> {
        self.backend.check_alive()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn alive(&self) -> Result<()> {
        if self.fork_gen != sys::fork_generation() {
            return Err(Error::Forked);
        }
        if let Some(why) = &self.broken {
            return Err(Error::Protocol(why.clone()));
        }
        if self.stopped {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Waits for everything in flight, stops the device and returns the last completions.
    /// A broken queue (see [`Error::Protocol`]) waits for nothing and returns none: the
    /// device is stopped first, then what was in flight is freed.
    pub fn close(mut self) -> Result<Vec<Completion>> {
        if self.is_broken() {
            self.stop_device()?;
            return Ok(Vec::new());
        }
        let out = self.flush(None)?;
        self.stop_device()?;
        Ok(out)
    }

    fn stop_device(&mut self) -> Result<()> {
        if !self.stopped {
            self.stopped = true;
            self.backend.stop()?;
        }
        Ok(())
    }
}

/// The readiness fd ([`Queue::readiness_fd`]): readable after an armed interrupt fired.
impl AsFd for Queue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.backend.interrupt_fd()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if self.fork_gen != sys::fork_generation() {
            // A fork child: the device, its thread and its memory are the parent's. Touch
            // nothing; leak our bookkeeping instead.
            let slots = std::mem::take(&mut self.slots);
            std::mem::forget(slots);
            return;
        }
        // Stopping drains: the device answers every request it has read (docs/abi.md
        // section 7); requests it never read are never touched.
        if self.stop_device().is_err() {
            // The device may still write our in-flight buffers: never free them.
            let slots = std::mem::take(&mut self.slots);
            std::mem::forget(slots);
        }
        // Otherwise stopped: the device answered everything it read. Requests it never
        // read are safe to free; answered ones are freed too. Both happen as `slots` drops.
    }
}

#[cfg(all(test, feature = "soft"))]
mod tests {
    use super::*;
    use crate::backend::soft::{SoftBackend, SoftOptions};
    use std::os::fd::AsRawFd;

    #[test]
    fn as_fd_is_the_readiness_fd_and_turns_readable_at_a_completion() {
        let opts = SoftOptions {
            start_paused: true,
            ..Default::default()
        };
        let b = SoftBackend::start(Domain::soft(), Direction::Compress, opts).unwrap();
        let ctl = b.control();
        let mut q = Queue::new(Box::new(b), Direction::Compress);
        assert_eq!(q.as_fd().as_raw_fd(), q.readiness_fd());
        q.send(Request::nop().tag(7)).unwrap();
        // The device is held: nothing can be ready, so arming says there is something to
        // wait for and the fd is not readable yet.
        assert!(q.arm_interrupt().unwrap());
        let fd = q.as_fd().as_raw_fd();
        assert!(crate::wait::readable(&[fd], Some(Duration::ZERO))
            .unwrap()
            .is_empty());
        ctl.resume();
        // The completion makes it readable (the limit only keeps a lost interrupt from
        // hanging the test).
        let limit = Some(Duration::from_secs(20));
        assert_eq!(crate::wait::readable(&[fd], limit).unwrap(), vec![0]);
        q.clear_readiness();
        assert_eq!(q.recv().unwrap().unwrap().tag, 7);
    }
}
