//! Completion: matching each answer to a request in flight, reaping it, arming the
//! interrupt, and the polling policy of a blocking receive.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use crate::abi::{
    Answer, Dialect, Direction, Status, ARM_MODERATED, ARM_NOW, CMD_CQ, RING_DEPTH, V2_CARRY_WORDS,
};
use crate::error::{Error, Result};
use crate::wait::{self, Policy, Waiter};

use super::{Completion, Queue, DEVICE_CHECK, MAX_POLL, NAP_FROM, STATUS_PENDING, TIMED_MIN_INPUT};

impl Queue {
    fn completion_ready(&self) -> bool {
        self.rings.cqe_phase(self.cq_head as usize) == self.phase
    }

    /// Checks the completion at the CQ head, which names SQ entry `idx`, against what is in
    /// flight, and returns that entry's results. Completions may come in any order
    /// (docs/abi.md section 3), but each must answer a request that was sent, has not been
    /// answered yet and that the device has answered: its entry holds the echo tag the
    /// driver wrote and a status the device wrote in place of [`STATUS_PENDING`], and its
    /// results stay within what the request offered. `Err` says what did not match.
    fn match_completion(&self, idx: usize) -> Result<Answer, String> {
        if idx >= RING_DEPTH {
            return Err(format!(
                "a completion names SQ entry {idx}, past the ring's {RING_DEPTH} entries"
            ));
        }
        let Some(slot) = &self.slots[idx] else {
            return Err(format!(
                "a completion names SQ entry {idx}, which has no request in flight \
                 (never sent, or already answered)"
            ));
        };
        let words = self.dialect.result_words(slot.tag_word);
        let sqe = self.rings.read_sqe_words(idx, &words);
        let a = self.dialect.decode(&sqe, slot.tag_word, slot.nop, self.dir);
        if a.tag != slot.echo {
            return Err(format!(
                "SQ entry {idx} came back with tag {:#x}, sent {:#x}",
                a.tag, slot.echo
            ));
        }
        if a.device_status == STATUS_PENDING {
            return Err(format!(
                "a completion names SQ entry {idx}, whose request the device has not \
                 answered (no status written)"
            ));
        }
        if a.consumed as usize > slot.input {
            return Err(format!(
                "SQ entry {idx} claims {} input bytes consumed of {}",
                a.consumed, slot.input
            ));
        }
        if a.produced as usize > slot.out_space {
            return Err(format!(
                "SQ entry {idx} claims {} output bytes written into {} of space",
                a.produced, slot.out_space
            ));
        }
        Ok(a)
    }

    fn reap_one(&mut self) -> Result<Completion> {
        let cqe = self.rings.read_cqe(self.cq_head as usize);
        let idx = cqe.sq_head() as usize;
        let a = match self.match_completion(idx) {
            Ok(a) => a,
            Err(why) => {
                // Nothing is taken from the slots: the device may still write any buffer
                // in flight, so they stay with the queue until it is dropped.
                let why = format!(
                    "{why}; the queue is broken: close or drop it (its requests in flight keep their \
                     buffers until then) and open a new one"
                );
                self.broken = Some(why.clone());
                return Err(Error::Protocol(why));
            }
        };
        let slot = self.slots[idx].take().expect("matched a request in flight");
        self.cq_head += 1;
        if self.cq_head as usize == RING_DEPTH {
            self.cq_head = 0;
            self.phase = !self.phase;
        }
        self.outstanding -= 1;
        self.bytes_in_flight -= slot.input;
        if slot.input >= TIMED_MIN_INPUT {
            // The device serves a queue's requests one after another: this one's service
            // began when it was sent to an idle queue, or when the previous one was seen
            // to finish. Slow receivers make the estimate high, which only polls longer.
            let now = Instant::now();
            let ns = now.duration_since(self.service_start).as_nanos() as f64;
            self.ns_per_byte = 0.75 * self.ns_per_byte + 0.25 * (ns / slot.input as f64);
            self.service_start = now;
        }
        // The device is done with the request: end the lease before its input can go.
        drop(slot.lease);
        let mut req = slot.req;
        let f = slot.framing;
        // The driver's framing is part of the answer: the header it wrote or skipped, or
        // the status it decided for a request the device only saw empty.
        let (status_raw, consumed, produced) = match f.forced {
            Some(s) => (s as u8, f.taken, 0),
            None => (
                a.status_raw,
                a.consumed as usize + f.hdr_in,
                a.produced as usize + f.hdr_out,
            ),
        };
        if self.dialect != Dialect::V1 && self.dir == Direction::Decompress && !slot.nop {
            // The device holds the stream open after it stopped for input or output room;
            // the next continued request goes on with the state words it handed back.
            let open = f.forced.is_none()
                && matches!(
                    Status::from_wire(status_raw),
                    Some(Status::NeedInput | Status::OutputTooSmall)
                );
            self.stream_carry = open.then(|| {
                let e = self.rings.read_sqe_words(idx, &V2_CARRY_WORDS);
                V2_CARRY_WORDS.map(|w| e.dw[w])
            });
        }
        if let Some(d) = req.dst.as_mut() {
            d.set_len(produced);
        }
        let c = Completion {
            tag: req.tag,
            status_raw,
            consumed,
            produced,
            checksum: f.checksum.unwrap_or(a.checksum),
            src: req.src.take(),
            dst: req.dst.take(),
        };
        self.stats.completed += 1;
        self.stats.bytes_in += c.consumed as u64;
        self.stats.bytes_out += c.produced as u64;
        if c.status() == Some(Status::DmaFault) {
            self.stats.faults += 1;
        }
        Ok(c)
    }

    /// Takes up to `max` completions into `out`, telling the device once. Returns how many.
    pub fn recv_many(&mut self, out: &mut Vec<Completion>, max: usize) -> Result<usize> {
        self.alive()?;
        let mut n = 0;
        while n < max && self.completion_ready() {
            out.push(self.reap_one()?);
            n += 1;
        }
        if n > 0 {
            self.ring_cq_doorbell(0);
        }
        Ok(n)
    }

    /// The next completion, or `None` if none is ready ("empty"). Never blocks.
    pub fn recv(&mut self) -> Result<Option<Completion>> {
        let mut v = Vec::with_capacity(1);
        self.recv_many(&mut v, 1)?;
        Ok(v.pop())
    }

    /// Arms the interrupt so that [`Queue::readiness_fd`] becomes readable at the next
    /// completion. Returns `false` (nothing to wait for) if a completion is already ready.
    pub fn arm_interrupt(&mut self) -> Result<bool> {
        self.arm(ARM_NOW)
    }

    /// Like [`Queue::arm_interrupt`], but the device may hold the interrupt while it has
    /// more of this queue's small requests in hand (at most a few completions; docs/abi.md
    /// section 6), so that a receiver with many requests in flight is woken once for
    /// several completions. Devices that cannot moderate are armed the ordinary way.
    pub fn arm_interrupt_moderated(&mut self) -> Result<bool> {
        self.arm(if self.moderates {
            ARM_MODERATED
        } else {
            ARM_NOW
        })
    }

    /// Arms with doorbell priority `how`, then looks once more for a completion that came
    /// before the device could see the arm.
    fn arm(&mut self, how: u16) -> Result<bool> {
        self.alive()?;
        if self.dialect.arms_through_doorbell() {
            self.ring_cq_doorbell(how);
        }
        fence(Ordering::SeqCst);
        Ok(!self.completion_ready())
    }

    /// The fd an event loop can wait on (readable after an armed interrupt fired). Call
    /// [`Queue::clear_readiness`] after it fired, then receive until empty. The same fd,
    /// borrowed for the queue's life, is the queue's [`AsFd`] (what tokio's `AsyncFd`
    /// takes).
    ///
    /// [`AsFd`]: std::os::fd::AsFd
    pub fn readiness_fd(&self) -> RawFd {
        self.backend.interrupt_fd().as_raw_fd()
    }

    /// Consumes the readiness signal.
    pub fn clear_readiness(&self) {
        self.backend.clear_interrupt();
    }

    /// How long to poll for a completion before sleeping on the interrupt: 1.5 times as
    /// long as the work in flight should take at the speed this queue has seen, plus 20 us,
    /// at most 1 ms. A request that runs a little slow is still caught without a wake-up,
    /// and a long one does not hold a core.
    pub(crate) fn poll_budget(&self) -> Duration {
        let ns = self.bytes_in_flight as f64 * self.ns_per_byte * 1.5;
        (Duration::from_nanos(ns as u64) + Duration::from_micros(20)).min(MAX_POLL)
    }

    /// How long the next completion should take from now: one request's share of the work
    /// in flight at the speed this queue has seen, less the service it already had.
    fn expected_next(&self) -> Duration {
        if self.outstanding == 0 {
            return Duration::ZERO;
        }
        let ns = (self.bytes_in_flight / self.outstanding) as f64 * self.ns_per_byte;
        Duration::from_nanos(ns as u64).saturating_sub(self.service_start.elapsed())
    }

    /// Waits for the next completion: polls for about as long as the work in flight should
    /// take, then sleeps on the interrupt; when that is long, it first sleeps through most
    /// of it and polls for the end. `None` waits forever. Fails with `Timeout`, or
    /// `BadRequest` if nothing is in flight.
    pub fn recv_timeout(&mut self, timeout: Option<Duration>) -> Result<Completion> {
        self.alive()?;
        // Already answered (a request served on this thread, say): what the first poll
        // below would return, without reading the clock for a wait that will not happen.
        if self.completion_ready() {
            if let Some(c) = self.recv()? {
                return Ok(c);
            }
        }
        let start = Instant::now();
        let budget = self.poll_budget();
        // A long request: sleep through three quarters of it (its interrupt still ends the
        // nap if it finishes sooner), then poll for its end, so that no wake-up lies on its
        // critical path and the core is free meanwhile.
        let next = self.expected_next();
        let policy = Policy {
            budget,
            nap: (next >= NAP_FROM).then(|| next * 3 / 4),
            // Sleep in slices, so a device that died is noticed instead of waited on.
            slice: DEVICE_CHECK,
            deadline: timeout.and_then(|t| start.checked_add(t)),
        };
        wait::until(&mut OneQueue(self), &policy)
    }

    /// The next completion, or `None` if none is ready yet; [`Error::BadRequest`] if
    /// nothing is in flight (waiting for a completion would never end). Never blocks: what
    /// a blocking receive looks at between its sleeps (the binding's among them).
    pub fn recv_in_flight(&mut self) -> Result<Option<Completion>> {
        if let Some(c) = self.recv()? {
            return Ok(Some(c));
        }
        if self.outstanding == 0 {
            return Err(Error::BadRequest(
                "nothing in flight: receiving would wait forever".into(),
            ));
        }
        Ok(None)
    }

    /// Waits until every request in flight has completed and returns their completions.
    pub fn flush(&mut self, timeout: Option<Duration>) -> Result<Vec<Completion>> {
        let start = Instant::now();
        let mut out = Vec::with_capacity(self.outstanding);
        while self.outstanding > 0 {
            let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
            out.push(self.recv_timeout(left)?);
        }
        Ok(out)
    }

    /// Tells the device the new CQ head; `arm` is the doorbell's priority (0, or
    /// [`ARM_NOW`] / [`ARM_MODERATED`] to arm the interrupt).
    fn ring_cq_doorbell(&mut self, arm: u16) {
        let want_interrupt = arm != 0;
        let v = self.dialect.doorbell(self.sqn, CMD_CQ, self.cq_head, arm);
        let off = self.dialect.doorbell_offset(CMD_CQ, self.soft_layout);
        // Arming takes part in the arm-then-recheck handshake and needs the full barrier;
        // a plain head update only has to follow the reads of the entries it frees.
        let order = if want_interrupt {
            Ordering::SeqCst
        } else {
            Ordering::Release
        };
        self.mmio.region().store64(off, v, order);
        if !self.dialect.arms_through_doorbell() && self.outstanding > 0 {
            // A v2/v3 doorbell is one register for both commands: a software device that
            // samples it may see only this CQ store, so the SQ tail is stored again
            // (docs/abi.md section 9.9); hardware already has that tail.
            self.ring_sq_doorbell();
        }
    }
}

/// One queue's blocking receive, for [`wait::until`].
struct OneQueue<'a>(&'a mut Queue);

impl Waiter for OneQueue<'_> {
    type Ready = Completion;
    type Error = Error;

    fn poll(&mut self) -> Result<Option<Completion>> {
        // Looking at the ring is cheaper than a receive that finds nothing.
        if !self.0.completion_ready() && self.0.outstanding > 0 {
            return Ok(None);
        }
        self.0.recv_in_flight()
    }

    fn arm(&mut self) -> Result<bool> {
        self.0.arm_interrupt()
    }

    fn sleep(&mut self, timeout: Duration) -> Result<()> {
        self.0.stats.waits += 1;
        self.0.backend.wait(Some(timeout))?;
        self.0.backend.check_alive()
    }
}
