//! The soft device itself: the ring side of the hardware model (doorbells, SQ entries, the
//! completion ring and its phase, interrupts and their moderation, the idle register) and
//! the thread that serves it. Requests run through `engine.rs`.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::engine::{validate, Engine, Outcome};
#[cfg(any(test, feature = "fault-injection"))]
use super::Fault;
use super::{Shared, SoftControl, SoftOptions};
use crate::abi::Direction;
use crate::abi::{
    Cqe, Doorbell, ReqType, Status, ZipSqe, ARM_MODERATED, ARM_NOW, CAP_MODERATED_ARM,
    DOORBELL_CQ_SOFT, DOORBELL_EMPTY, DOORBELL_SQ, MMIO_SIZE, MODERATION_MAX_HELD,
    MODERATION_MAX_INPUT, REG_CAPS, REG_IDLE, REG_SOFT_ID, RINGS_SIZE, RING_DEPTH, SOFT_ID_MAGIC,
};
use crate::backend::{Backend, DeviceKind};
use crate::dma::Domain;
use crate::error::{Error, Result};
use crate::ring::{Mmio, Region, Rings};
use crate::sys::{EventFd, Mapping};

/// A started soft device queue.
pub struct SoftBackend {
    mmio: Mmio,
    rings: Rings,
    domain: Arc<Domain>,
    irq: Arc<EventFd>,
    shared: Arc<Shared>,
    /// The device's state, taken by whichever thread serves the ring: the device's own, or
    /// a caller that lends its thread ([`Backend::serve_here`]).
    core: Arc<Mutex<DeviceCore>>,
    thread: Option<JoinHandle<()>>,
    dir: Direction,
    fork_gen: u64,
}

fn region(map: Mapping) -> Region {
    let map = Arc::new(map);
    // SAFETY: the region covers exactly the mapping, which the Arc keeps alive; mappings
    // are page aligned.
    unsafe { Region::new(map.as_ptr(), map.len(), map.clone()) }
}

impl SoftBackend {
    /// Starts a soft device of direction `dir` in `domain`.
    pub fn start(domain: Arc<Domain>, dir: Direction, opts: SoftOptions) -> Result<SoftBackend> {
        let mmio = Mmio::new(region(
            Mapping::anonymous(MMIO_SIZE).map_err(|e| Error::io("mapping the MMIO page", e))?,
        ));
        let rings = Rings::new(region(
            Mapping::anonymous(RINGS_SIZE).map_err(|e| Error::io("mapping the rings", e))?,
        ));
        let r = mmio.region();
        r.store32(REG_SOFT_ID, SOFT_ID_MAGIC, Ordering::Relaxed);
        r.store32(REG_CAPS, CAP_MODERATED_ARM, Ordering::Relaxed);
        r.store64(DOORBELL_CQ_SOFT, DOORBELL_EMPTY, Ordering::Relaxed);
        let irq = Arc::new(EventFd::new().map_err(|e| Error::io("creating the eventfd", e))?);
        let shared = Arc::new(Shared::default());
        shared.paused.store(opts.start_paused, Ordering::SeqCst);
        #[cfg(any(test, feature = "fault-injection"))]
        shared.stalled.store(opts.stalled_thread, Ordering::SeqCst);
        let spin = opts.spin;
        let background = opts.background;

        let core = Arc::new(Mutex::new(DeviceCore {
            mmio: mmio.clone(),
            rings: rings.clone(),
            domain: Arc::clone(&domain),
            irq: Arc::clone(&irq),
            shared: Arc::clone(&shared),
            engine: Engine::new(dir),
            opts,
            head: 0,
            cq_tail: 0,
            phase: true,
            arm: Arm::Off,
            driver_cq_head: 0,
            results: Vec::new(),
            #[cfg(any(test, feature = "fault-injection"))]
            answered: 0,
            #[cfg(any(test, feature = "fault-injection"))]
            hung: false,
        }));
        let dev = DeviceThread {
            core: Arc::clone(&core),
            mmio: mmio.clone(),
            shared: Arc::clone(&shared),
            spin,
        };
        // The thread sets its own priority (only a thread's own policy can be set without
        // knowing its kernel id) and reports before it serves anything. Every queue waits
        // for that report: the device thread is running, under its name, once this returns.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(format!("wd-soft-{dir:?}").to_lowercase())
            .spawn(move || {
                let ready = match background {
                    true => crate::sys::run_current_thread_at_idle_priority(),
                    false => Ok(()),
                };
                let serve = ready.is_ok();
                // The receiver waits for this message, so it is there to take it.
                let _ = ready_tx.send(ready);
                if serve {
                    dev.run();
                }
            })
            .map_err(|e| Error::io("starting the soft device thread", e))?;
        let ready = ready_rx.recv();
        if !matches!(ready, Ok(Ok(()))) {
            let _ = thread.join();
            return Err(match ready {
                Ok(Err(e)) => Error::io("putting the soft device thread at idle priority", e),
                _ => Error::Protocol("the soft device thread died while starting".into()),
            });
        }
        Ok(SoftBackend {
            mmio,
            rings,
            domain,
            irq,
            shared,
            core,
            thread: Some(thread),
            dir,
            fork_gen: crate::sys::fork_generation(),
        })
    }

    /// A handle to pause and resume the device.
    pub fn control(&self) -> SoftControl {
        SoftControl {
            shared: Arc::clone(&self.shared),
            thread: self.thread.as_ref().expect("running").thread().clone(),
        }
    }

    /// How many times the driver had to wake the device.
    pub fn kicks(&self) -> u64 {
        self.shared.kicks.load(Ordering::Relaxed)
    }
}

impl Backend for SoftBackend {
    fn mmio(&self) -> &Mmio {
        &self.mmio
    }
    fn rings(&self) -> &Rings {
        &self.rings
    }
    fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
    fn interrupt_fd(&self) -> BorrowedFd<'_> {
        self.irq.as_fd()
    }
    fn clear_interrupt(&self) {
        self.irq.drain();
    }
    fn kick(&self) {
        self.shared.kicks.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = &self.thread {
            t.thread().unpark();
        }
    }
    fn serve_here(&self) -> bool {
        match self.core.try_lock() {
            Ok(mut core) => core.serve_pending(),
            // A panic outside the engine (which has its own guard) while serving: the state
            // is still the ring's, as a device's registers outlive a crash of its firmware.
            Err(TryLockError::Poisoned(p)) => p.into_inner().serve_pending(),
            // The device is at work (or a fork child holds the parent's lock forever).
            Err(TryLockError::WouldBlock) => false,
        }
    }
    fn stop(&mut self) -> Result<()> {
        if let Some(t) = self.thread.take() {
            self.shared.stop.store(true, Ordering::SeqCst);
            t.thread().unpark();
            t.join()
                .map_err(|_| Error::Protocol("the soft device thread panicked".into()))?;
        }
        Ok(())
    }
    fn check_alive(&self) -> Result<()> {
        match &self.thread {
            Some(t) if t.is_finished() => Err(Error::Protocol(
                "the soft device thread died: requests in flight will not complete".into(),
            )),
            _ => Ok(()),
        }
    }
    fn kind(&self) -> DeviceKind {
        DeviceKind::Soft
    }

    fn describe(&self) -> String {
        match self.dir {
            Direction::Compress => "soft:compress".into(),
            Direction::Decompress => "soft:decompress".into(),
        }
    }
}

impl Drop for SoftBackend {
    fn drop(&mut self) {
        if crate::sys::fork_generation() != self.fork_gen {
            // A fork child: the device thread exists only in the parent.
            std::mem::forget(self.thread.take());
            return;
        }
        let _ = self.stop();
    }
}

/// What the driver's last CQ doorbell asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arm {
    Off,
    Now,
    Moderated,
}

/// The device's own thread: serves the ring while requests come, polls it for a while
/// (`spin`) when it empties, then sleeps until the driver kicks it.
struct DeviceThread {
    core: Arc<Mutex<DeviceCore>>,
    mmio: Mmio,
    shared: Arc<Shared>,
    spin: Duration,
}

/// Takes the device's state; a panic of another holder leaves it usable (see `serve_here`).
fn take(core: &Mutex<DeviceCore>) -> MutexGuard<'_, DeviceCore> {
    core.lock().unwrap_or_else(|p| p.into_inner())
}

impl DeviceThread {
    fn run(self) {
        let mut idle_since = Instant::now();
        loop {
            let stopping = self.shared.stop.load(Ordering::SeqCst);
            #[cfg(any(test, feature = "fault-injection"))]
            if self.shared.stalled.load(Ordering::SeqCst) {
                if stopping {
                    return;
                }
                std::thread::park_timeout(Duration::from_millis(20));
                continue;
            }
            let mut core = take(&self.core);
            if core.serve_pending() {
                idle_since = Instant::now();
                continue;
            }
            // Requests read before the stop are all answered by now.
            if stopping {
                return;
            }
            core.read_cq_doorbell();
            let paused = core.held();
            if idle_since.elapsed() < self.spin && !paused {
                drop(core);
                std::hint::spin_loop();
                continue;
            }
            // Announce sleep, then look once more: a driver that rang the doorbell before
            // seeing the idle flag is caught here, one that rang after will kick us.
            let r = self.mmio.region();
            r.store32(REG_IDLE, 1, Ordering::SeqCst);
            let idle = core.sq_tail(Ordering::SeqCst) == core.head || paused;
            drop(core);
            if idle {
                std::thread::park_timeout(Duration::from_millis(200));
            }
            r.store32(REG_IDLE, 0, Ordering::SeqCst);
            idle_since = Instant::now();
        }
    }
}

/// What the device keeps between requests: its view of the rings, its engine and the
/// interrupt it owes.
struct DeviceCore {
    mmio: Mmio,
    rings: Rings,
    domain: Arc<Domain>,
    irq: Arc<EventFd>,
    shared: Arc<Shared>,
    engine: Engine,
    opts: SoftOptions,
    head: u16,
    cq_tail: u16,
    phase: bool,
    arm: Arm,
    /// The CQ head of the driver's last CQ doorbell: completions from there to `cq_tail`
    /// are ones it has not seen (what a moderated interrupt holds).
    driver_cq_head: u16,
    /// Answers of the current batch (kept to avoid an allocation per batch).
    results: Vec<(u16, ZipSqe)>,
    /// Requests answered so far (the serial number of the next one).
    #[cfg(any(test, feature = "fault-injection"))]
    answered: u64,
    /// A [`Fault::Hang`] hit: the device takes nothing more.
    #[cfg(any(test, feature = "fault-injection"))]
    hung: bool,
}

impl DeviceCore {
    fn sq_tail(&self, order: Ordering) -> u16 {
        let v = self.mmio.region().load64(DOORBELL_SQ, order);
        Doorbell::decode(v).index % RING_DEPTH as u16
    }

    /// Paused, and not stopping (a stop answers everything, paused or not).
    fn held(&self) -> bool {
        self.shared.paused.load(Ordering::SeqCst) && !self.shared.stop.load(Ordering::SeqCst)
    }

    /// Serves the requests the ring holds, unless the device is held or hung; true if
    /// there were any.
    fn serve_pending(&mut self) -> bool {
        let tail = self.sq_tail(Ordering::Acquire);
        if tail == self.head || self.held() || self.hung() {
            return false;
        }
        self.serve(tail);
        true
    }

    /// Answers the requests up to `tail`: in order, each completion is posted as soon as
    /// its request is done; with a reorder window, a window's worth at a time, backwards.
    fn serve(&mut self, tail: u16) {
        let window = self.opts.reorder_window.max(1);
        if window == 1 {
            // A pause takes effect between requests, not only between batches.
            while self.head != tail && !self.held() {
                let idx = self.head;
                self.head = (self.head + 1) % RING_DEPTH as u16;
                let mut sqe = self.rings.read_sqe(idx as usize);
                let o = self.execute(&sqe);
                sqe.set_result(o.status, o.consumed, o.produced, o.checksum);
                self.complete(idx, &sqe);
                // A real request may have taken long: a driver that armed meanwhile is
                // waiting for exactly this completion. NOPs only check at the end.
                if sqe.req_type_raw() != ReqType::Nop as u8 {
                    self.interrupt_if_armed();
                }
            }
            self.interrupt_if_armed();
            return;
        }
        let mut results = std::mem::take(&mut self.results);
        while self.head != tail && results.len() < window {
            let idx = self.head;
            self.head = (self.head + 1) % RING_DEPTH as u16;
            let mut sqe = self.rings.read_sqe(idx as usize);
            let o = self.execute(&sqe);
            sqe.set_result(o.status, o.consumed, o.produced, o.checksum);
            results.push((idx, sqe));
        }
        for (idx, sqe) in results.drain(..).rev() {
            self.complete(idx, &sqe);
        }
        self.results = results;
        self.interrupt_if_armed();
    }

    #[cfg(not(any(test, feature = "fault-injection")))]
    fn hung(&self) -> bool {
        false
    }

    #[cfg(any(test, feature = "fault-injection"))]
    fn hung(&self) -> bool {
        self.hung
    }

    /// Writes a request's results back and posts its completion.
    #[cfg(not(any(test, feature = "fault-injection")))]
    fn complete(&mut self, idx: u16, sqe: &ZipSqe) {
        self.post(idx, sqe);
    }

    /// As in release builds, unless a fault is planned for this request.
    #[cfg(any(test, feature = "fault-injection"))]
    fn complete(&mut self, idx: u16, sqe: &ZipSqe) {
        let n = self.answered;
        self.answered += 1;
        let fault = self
            .opts
            .faults
            .iter()
            .find(|(at, _)| *at == n)
            .map(|&(_, f)| f);
        if self.hung {
            return;
        }
        let mut sqe = *sqe;
        match fault {
            None => self.post(idx, &sqe),
            Some(Fault::WrongSlot(to)) => {
                self.rings.write_sqe_results(idx as usize, &sqe);
                self.post_cqe(to);
            }
            Some(Fault::Repeat) => {
                self.post(idx, &sqe);
                self.post_cqe(idx);
            }
            Some(Fault::Drop) => self.rings.write_sqe_results(idx as usize, &sqe),
            Some(Fault::Hang) => self.hung = true,
            Some(Fault::Late(d)) => {
                std::thread::sleep(d);
                self.post(idx, &sqe);
            }
            Some(Fault::Overrun(extra)) => {
                let (dst, space) = (sqe.dst(), sqe.output_space() as usize);
                let reach = space + extra as usize;
                // The IOMMU check: only inside the share the output lies in.
                if let Some(access) = self.domain.device_access(&[(dst, reach)]) {
                    // SAFETY: the range lies inside the share of the request's output (just
                    // checked), which the queue owns while the request is in flight; the
                    // engine's slice of it is gone.
                    let past = unsafe { access.write(dst + space as u64, extra as usize) };
                    past.fill(0xee);
                }
                sqe.dw[1] = reach as u32;
                self.post(idx, &sqe);
            }
            Some(Fault::Forge { slot, words }) => {
                for (&w, v) in ZipSqe::RESULT_WORDS.iter().zip(words) {
                    sqe.dw[w] = v;
                }
                self.rings.write_sqe_results(idx as usize, &sqe);
                self.post_cqe(slot);
            }
            Some(Fault::Tag(t)) => {
                sqe.dw[crate::abi::ZipSqe::TAG_WORD] = t;
                self.rings.write_sqe(idx as usize, &sqe);
                self.post(idx, &sqe);
            }
        }
    }

    /// Writes a request's results back and posts its completion.
    fn post(&mut self, idx: u16, sqe: &ZipSqe) {
        self.rings.write_sqe_results(idx as usize, sqe);
        self.post_cqe(idx);
    }

    /// Posts a completion naming SQ entry `idx`.
    fn post_cqe(&mut self, idx: u16) {
        self.rings
            .write_cqe(self.cq_tail as usize, &Cqe::new(idx, 0, self.phase));
        self.cq_tail += 1;
        if self.cq_tail as usize == RING_DEPTH {
            self.cq_tail = 0;
            self.phase = !self.phase;
        }
    }

    /// Signals an armed interrupt, unless the arm is moderated, fewer than the most
    /// completions are held, and the next request in hand is small.
    fn interrupt_if_armed(&mut self) {
        // Pairs with the driver's arm-then-recheck: either it sees the completion, or we
        // see its arming here.
        fence(Ordering::SeqCst);
        self.read_cq_doorbell();
        match self.arm {
            Arm::Off => {}
            Arm::Moderated if self.unseen() < MODERATION_MAX_HELD && self.next_is_small() => {}
            Arm::Now | Arm::Moderated => {
                self.arm = Arm::Off;
                if self.shared.pause_at_interrupt.swap(false, Ordering::SeqCst) {
                    self.shared.paused.store(true, Ordering::SeqCst);
                }
                self.irq.signal();
            }
        }
    }

    /// Completions posted that the driver has not told us it has seen.
    fn unseen(&self) -> u32 {
        (self.cq_tail as u32 + RING_DEPTH as u32 - self.driver_cq_head as u32) % RING_DEPTH as u32
    }

    /// True if the driver has already sent another request (the SQ doorbell, read now, not
    /// the batch's) and its input is small enough to hold a moderated interrupt behind.
    fn next_is_small(&self) -> bool {
        self.sq_tail(Ordering::Acquire) != self.head
            && self.rings.read_sqe(self.head as usize).input_len() <= MODERATION_MAX_INPUT
    }

    /// Consumes the CQ doorbell register; the latest write decides whether an interrupt
    /// is wanted.
    fn read_cq_doorbell(&mut self) {
        let r = self.mmio.region();
        // Look before taking: an exchange on every idle spin would keep pulling the
        // doorbell's cache line away from the driver that writes it.
        if r.load64(DOORBELL_CQ_SOFT, Ordering::SeqCst) == DOORBELL_EMPTY {
            return;
        }
        let v = r.swap64(DOORBELL_CQ_SOFT, DOORBELL_EMPTY, Ordering::SeqCst);
        if v != DOORBELL_EMPTY {
            let d = Doorbell::decode(v);
            self.arm = match d.priority {
                ARM_NOW => Arm::Now,
                ARM_MODERATED => Arm::Moderated,
                _ => Arm::Off,
            };
            self.driver_cq_head = d.index % RING_DEPTH as u16;
        }
    }

    fn execute(&mut self, sqe: &ZipSqe) -> Outcome {
        let t = match validate(sqe, self.engine.direction()) {
            Ok(t) => t,
            Err(o) => return o,
        };
        if t == ReqType::Nop {
            return Outcome::status(Status::Ok);
        }
        let (src, n) = (sqe.src(), sqe.input_len() as usize);
        let (dst, space) = (sqe.dst(), sqe.output_space() as usize);
        // The IOMMU check first: both ranges must be shared, and stay shared while we work.
        let Some(access) = self.domain.device_access(&[(src, n), (dst, space)]) else {
            return Outcome::status(Status::DmaFault);
        };
        let overlap = n > 0 && space > 0 && src < dst + space as u64 && dst < src + n as u64;
        if overlap {
            return Outcome::status(Status::BadRequest);
        }
        // SAFETY: both ranges were just checked to be shared; they do not overlap; while a
        // request is in flight its buffers are owned by the queue, which neither reads,
        // writes nor frees them until the completion (send_raw's contract says the same).
        let (input, output) = unsafe { (access.read(src, n), access.write(dst, space)) };
        let engine = &mut self.engine;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            engine.run(t, sqe, input, output)
        })) {
            Ok(o) => o,
            Err(_) => {
                // A bug in an engine must not take the device down with it: answer this
                // request with an error and start over with fresh engine state.
                self.engine = Engine::new(self.engine.direction());
                Outcome::status(Status::DeviceError)
            }
        }
    }
}
