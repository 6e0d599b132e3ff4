//! Submission: checking a request, framing it for the queue's dialect, staging its
//! input, writing its entry at the SQ tail and ringing the doorbell.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::abi::Direction;
use crate::abi::{
    Csum, Dialect, ReqType, Status, ZipSqe, CMD_SQ, FLAG_CONTINUE, FLAG_CSUM_MASK, FLAG_PARTIAL,
    REG_IDLE, RING_DEPTH, V2_CTX_SIZE,
};
use crate::dma::Lease;
use crate::error::{Error, Result};
use crate::format::Format;

use super::{Framing, Queue, Request, SendError, Slot, STATUS_PENDING, TIMED_MIN_INPUT};

impl Queue {
    fn check_request(&self, r: &Request) -> Result<()> {
        if r.req_type == ReqType::Nop {
            return Ok(());
        }
        if r.dst.is_none() || (r.src.is_none() && r.input.is_none()) {
            return Err(Error::BadRequest("request without a buffer".into()));
        }
        if r.input
            .as_ref()
            .is_some_and(|i| i.0.bytes().len() > u32::MAX as usize)
        {
            return Err(Error::BadRequest("input larger than 4 GiB - 1".into()));
        }
        for b in [&r.src, &r.dst].into_iter().flatten() {
            if !Arc::ptr_eq(b.domain(), self.domain()) {
                return Err(Error::BadRequest(
                    "buffer belongs to another device's address space".into(),
                ));
            }
            if b.capacity() > u32::MAX as usize {
                return Err(Error::BadRequest("buffer larger than 4 GiB - 1".into()));
            }
        }
        self.check_request_shape(r)
    }

    /// The checks of a request that do not depend on its buffers.
    pub(super) fn check_request_shape(&self, r: &Request) -> Result<()> {
        if r.level > 9 {
            return Err(Error::BadRequest(format!("level {} is not 0..=9", r.level)));
        }
        let bad_dir = match self.dir {
            Direction::Compress => r.flags & FLAG_CONTINUE != 0,
            Direction::Decompress => r.flags & FLAG_PARTIAL != 0,
        };
        if bad_dir {
            return Err(Error::BadRequest(format!(
                "flag not valid on a {:?} queue",
                self.dir
            )));
        }
        if r.flags & FLAG_PARTIAL != 0 && r.req_type != ReqType::Deflate {
            return Err(Error::BadRequest(
                "partial pieces must be raw deflate".into(),
            ));
        }
        if r.flags & FLAG_CSUM_MASK != 0
            && !self.dialect.device_checksums()
            && self.dir == Direction::Decompress
        {
            return Err(Error::BadRequest(format!(
                "a {} device takes a checksum choice on compression only",
                self.dialect.name()
            )));
        }
        Ok(())
    }

    /// How the driver frames request `r` reading `input` into `out_space` bytes on this
    /// queue's dialect (nothing on v1): the zlib/gzip header it writes or skips, and the
    /// checksum it computes. A decompression's header that goes on past `input` is taken
    /// and held here until a continued request completes it.
    pub(super) fn frame(&mut self, r: &Request, input: &[u8], out_space: usize) -> Framing {
        let mut f = Framing::default();
        if self.dialect == Dialect::V1 || r.req_type == ReqType::Nop {
            return f;
        }
        let t = r.req_type;
        f.partial = r.flags & FLAG_PARTIAL != 0;
        // Continuing is only possible where the device holds an open stream: after a
        // header the driver answered as incomplete it does not, and the request starts it.
        f.cont = r.flags & FLAG_CONTINUE != 0 && self.stream_carry.is_some();
        match self.dir {
            Direction::Compress => {
                if self.dialect.writes_header(t) {
                    let h = crate::zip::request_header(t).len();
                    if out_space < h {
                        f.forced = Some(Status::OutputTooSmall);
                    } else {
                        f.hdr_out = h;
                    }
                }
                if !self.dialect.device_checksums() {
                    f.checksum = match Csum::from_flags(r.flags) {
                        Some(Csum::Crc32) => Some(crate::zip::crc32(0, input)),
                        Some(Csum::Adler32) => Some(crate::zip::adler32(1, input)),
                        _ => None,
                    };
                }
            }
            Direction::Decompress if !f.cont && self.dialect.skips_header(t) => {
                // Raw deflate has no header: a type of no format has none to skip.
                let format = Format::from_req_type(t).unwrap_or(Format::Deflate);
                // A continued request goes on with the header held from earlier requests;
                // any other starts a new stream.
                let mut held = std::mem::take(&mut self.header_held);
                if r.flags & FLAG_CONTINUE == 0 {
                    held.clear();
                }
                let before = held.len();
                // Only a header held is copied: a request's input is read in place.
                let header = if before == 0 {
                    crate::zip::check_header(format, input)
                } else {
                    // At most once per stream: the input that goes on from a held
                    // header is read behind it.
                    held.extend_from_slice(input);
                    crate::zip::check_header(format, &held)
                };
                match header {
                    // The header ends in this request's input, after the bytes held.
                    Ok(Some(n)) => f.hdr_in = n.saturating_sub(before),
                    Ok(None) => {
                        // Still inside the header: the driver takes all of the input (as a
                        // v1 device does), so the caller sends what follows.
                        f.forced = Some(Status::NeedInput);
                        f.taken = input.len();
                        if before == 0 {
                            held.extend_from_slice(input);
                        }
                        self.header_held = held;
                    }
                    Err(_) => f.forced = Some(Status::DataError),
                }
            }
            Direction::Decompress => {}
        }
        f
    }

    /// The entry of request `r` framed by `f`, for the device's part of it; on v2/v3 with
    /// its stream fields.
    pub(super) fn entry(
        &mut self,
        r: &Request,
        f: &Framing,
        (src, n, dst, space): (u64, u32, u64, u32),
    ) -> Result<ZipSqe> {
        let mut sqe = r.entry(self.dialect, src, n, dst, space);
        if self.dialect == Dialect::V1 || r.req_type == ReqType::Nop || f.forced.is_some() {
            return Ok(sqe);
        }
        let ctx = match &self.stream_ctx {
            Some(b) => b.iova(),
            None => {
                let b = self.alloc(V2_CTX_SIZE)?;
                let iova = b.iova();
                self.stream_ctx = Some(b);
                iova
            }
        };
        let carry = if f.cont {
            self.stream_carry.as_ref()
        } else {
            None
        };
        self.dialect
            .set_stream(&mut sqe, self.dir, f.partial, carry, ctx);
        Ok(sqe)
    }

    /// Writes the header `f` makes the driver write for `r` at the start of `out`.
    pub(super) fn write_header(f: &Framing, r: &Request, out: &mut [std::mem::MaybeUninit<u8>]) {
        if f.hdr_out > 0 {
            let h = crate::zip::request_header(r.req_type);
            for (slot, b) in out.iter_mut().zip(h) {
                slot.write(b);
            }
        }
    }

    /// Writes one request into the ring without ringing the doorbell.
    // The error hands the request back by value: boxing it would allocate on every refusal
    // of a full ring, which is the common case this path must keep cheap.
    #[allow(clippy::result_large_err)]
    fn push(&mut self, mut req: Request) -> Result<(), SendError> {
        if let Err(error) = self.alive().and_then(|_| self.check_request(&req)) {
            return Err(SendError {
                error,
                request: req,
            });
        }
        if self.is_full() {
            self.stats.full_retries += 1;
            return Err(SendError {
                error: Error::QueueFull,
                request: req,
            });
        }
        let lease = match self.stage_input(&mut req) {
            Ok(l) => l,
            Err(error) => {
                return Err(SendError {
                    error,
                    request: req,
                })
            }
        };
        let (src, n) = match (&lease, &req.src) {
            (Some(l), _) => (l.iova(), l.len()),
            (None, Some(b)) => (b.iova(), b.len()),
            (None, None) => (0, 0),
        };
        let (dst, space) = req
            .dst
            .as_ref()
            .map_or((0, 0), |b| (b.iova(), b.capacity()));
        let framing = {
            let input: &[u8] = match (&req.input, &req.src) {
                (Some(i), _) => i.0.bytes(),
                (None, Some(b)) => b.as_slice(),
                (None, None) => &[],
            };
            self.frame(&req, input, space)
        };
        if let (Some(d), true) = (req.dst.as_mut(), framing.hdr_out > 0) {
            let h = crate::zip::request_header(req.req_type);
            d.as_full_mut_slice()[..h.len()].copy_from_slice(&h);
        }
        let sqe = match self.entry(&req, &framing, framing.device_part(src, n, dst, space)) {
            Ok(e) => e,
            Err(error) => {
                return Err(SendError {
                    error,
                    request: req,
                })
            }
        };
        self.place(sqe, req, lease, framing);
        Ok(())
    }

    /// Makes an owned input reachable by the device: lent in place if the domain can, else
    /// copied into a buffer that becomes the request's `src` (the input is dropped then).
    fn stage_input(&self, req: &mut Request) -> Result<Option<Lease>> {
        let Some(input) = &req.input else {
            return Ok(None);
        };
        let bytes = input.0.bytes();
        if let Some(lease) = self.domain().lend(bytes.as_ptr(), bytes.len()) {
            return Ok(Some(lease));
        }
        // VFIO (sharing user memory pins pages and costs system calls), an empty input, or
        // a range overlapping another request's lent bytes: copy.
        let mut buf = self.alloc(bytes.len().max(1))?;
        buf.fill(bytes);
        req.src = Some(buf);
        req.input = None;
        Ok(None)
    }

    /// Writes `sqe` at the tail under a fresh echo tag and records `req` (and the lease of
    /// its input) as the slot's owner until its completion (the entry's lengths size the
    /// polling and bound the answer).
    pub(super) fn place(
        &mut self,
        sqe: ZipSqe,
        req: Request,
        lease: Option<Lease>,
        framing: Framing,
    ) {
        self.place_entry(sqe, req, lease, framing, false)
    }

    /// `place`, for an entry the driver made (`raw` false) or a caller's hand-made one.
    pub(super) fn place_entry(
        &mut self,
        mut sqe: ZipSqe,
        req: Request,
        lease: Option<Lease>,
        framing: Framing,
        raw: bool,
    ) {
        let echo = self.next_echo;
        self.next_echo = self.next_echo.wrapping_add(1);
        let tag_word = self.dialect.entry_tag_word(&sqe);
        sqe.dw[tag_word] = echo;
        // dw3 bits 7:0: the status, which the device overwrites when it answers.
        sqe.dw[3] = (sqe.dw[3] & !0xff) | STATUS_PENDING as u32;
        let nop = !raw && req.req_type == ReqType::Nop;
        let slot = Slot {
            lease,
            req,
            echo,
            input: sqe.input_len() as usize,
            out_space: sqe.output_space() as usize,
            framing,
            tag_word,
            nop,
        };
        if self.outstanding == 0 && slot.input >= TIMED_MIN_INPUT {
            self.service_start = Instant::now();
        }
        self.bytes_in_flight += slot.input;
        let idx = self.sq_tail as usize;
        self.rings.write_sqe(idx, &sqe);
        self.slots[idx] = Some(slot);
        self.sq_tail = ((idx + 1) % RING_DEPTH) as u16;
        self.outstanding += 1;
        self.stats.submitted += 1;
    }

    pub(super) fn ring_sq_doorbell(&mut self) {
        self.ring_sq(false)
    }

    /// Rings the SQ doorbell. `lend`: the caller will only wait for what it sent, so a
    /// device that runs in this process may serve it on this thread
    /// ([`crate::backend::Backend::serve_here`]), which needs no wake-up.
    pub(super) fn ring_sq(&mut self, lend: bool) {
        let v = self.dialect.doorbell(self.sqn, CMD_SQ, self.sq_tail, 0);
        let off = self.dialect.doorbell_offset(CMD_SQ, self.soft_layout);
        self.stats.doorbells += 1;
        if !self.soft_layout {
            self.mmio.region().store64(off, v, Ordering::Release);
            return;
        }
        // Store-then-load pairs with the device's idle-then-recheck (both SeqCst): either the
        // device sees this tail before sleeping, or we see it asleep and wake it.
        let r = self.mmio.region();
        r.store64(off, v, Ordering::SeqCst);
        if lend && self.backend.serve_here() {
            self.stats.served_here += 1;
            return;
        }
        // Clearing the flag as we kick means a device that is still waking up is not
        // kicked again by the next sends. A device that sleeps again sets it again.
        if r.load32(REG_IDLE, Ordering::SeqCst) == 1 && r.swap32(REG_IDLE, 0, Ordering::SeqCst) == 1
        {
            self.stats.wakeups += 1;
            self.backend.kick();
        }
    }

    /// Submits one request. A full ring (or a bad request) gives the request back.
    #[allow(clippy::result_large_err)] // see `push`
    pub fn send(&mut self, req: Request) -> Result<(), SendError> {
        self.push(req)?;
        self.ring_sq_doorbell();
        Ok(())
    }

    /// Submits requests from the front of `reqs` until the ring is full, ringing the
    /// doorbell once. Accepted requests are removed from `reqs`; the rest stay. Returns how
    /// many were accepted; an error only if none was.
    pub fn send_batch(&mut self, reqs: &mut Vec<Request>) -> Result<usize> {
        let mut n = 0;
        let mut first_err = None;
        for r in std::mem::take(reqs) {
            if first_err.is_some() {
                reqs.push(r);
                continue;
            }
            match self.push(r) {
                Ok(()) => n += 1,
                Err(e) => {
                    reqs.push(e.request);
                    first_err = Some(e.error);
                }
            }
        }
        if n > 0 {
            self.ring_sq_doorbell();
            return Ok(n);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(0),
        }
    }
}
