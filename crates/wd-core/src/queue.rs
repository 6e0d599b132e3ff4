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

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::Direction;
use crate::abi::{
    Answer, Csum, Dialect, ReqType, Status, ZipSqe, ARM_MODERATED, ARM_NOW, CAP_MODERATED_ARM,
    CMD_CQ, CMD_SQ, FLAG_CONTINUE, FLAG_CSUM_MASK, FLAG_PARTIAL, MAX_OUTSTANDING, REG_CAPS,
    REG_IDLE, REG_SOFT_ID, RING_DEPTH, SOFT_ID_MAGIC, V2_CARRY_WORDS, V2_CTX_SIZE,
};
use crate::backend::Backend;
use crate::dma::{DmaBuf, Domain, Lease};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::ring::{Mmio, Rings};
use crate::sys;

/// Bytes a request can own as its input instead of a [`DmaBuf`] ([`Request::with_input`]).
/// Where the device can reach process memory (the soft device) they are lent to it as they
/// are; otherwise `send` copies them into a buffer of the domain.
///
/// # Safety
/// `bytes` must return the same range on every call, and nobody may write or free that
/// memory while the value lives, wherever the value is moved.
pub unsafe trait InputBytes: Send + 'static {
    /// The input.
    fn bytes(&self) -> &[u8];
}

// SAFETY: the elements live on the heap, not in the `Vec`: moving it moves no byte, and the
// request owns it, so nobody writes or frees them meanwhile.
unsafe impl InputBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: as for `Vec<u8>`.
unsafe impl InputBytes for Box<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: the bytes live on the heap, are freed only with the last clone (the request holds
// one) and cannot be written through an `Arc` that is not unique.
unsafe impl InputBytes for Arc<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A request's owned input.
struct OwnedInput(Box<dyn InputBytes>);

impl std::fmt::Debug for OwnedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnedInput({} bytes)", self.0.bytes().len())
    }
}

/// One request: what to do and the buffers it works on.
#[derive(Debug)]
pub struct Request {
    req_type: ReqType,
    flags: u32,
    level: u32,
    tag: u64,
    src: Option<DmaBuf>,
    /// The input when it is not a buffer (then `src` is `None` until `send` copies it).
    input: Option<OwnedInput>,
    dst: Option<DmaBuf>,
}

impl Request {
    /// A request of `req_type` with nothing set and no memory.
    fn bare(req_type: ReqType) -> Request {
        Request {
            req_type,
            flags: 0,
            level: 0,
            tag: 0,
            src: None,
            input: None,
            dst: None,
        }
    }

    /// A request of `req_type` reading `src` (its `len()` bytes) and writing into `dst`
    /// (its whole capacity is the output space).
    pub fn new(req_type: ReqType, src: DmaBuf, dst: DmaBuf) -> Request {
        Request {
            src: Some(src),
            dst: Some(dst),
            ..Request::bare(req_type)
        }
    }

    /// A request of `req_type` reading `input`, owned by the request until its completion,
    /// and writing into `dst` (its whole capacity is the output space). The device reads
    /// `input` in place if it can reach process memory ([`Domain::lend`]): the
    /// completion's `src` is then `None`. Otherwise `send` copies it into a buffer of the
    /// domain, which the completion hands back as `src`.
    pub fn with_input(req_type: ReqType, input: impl InputBytes, dst: DmaBuf) -> Request {
        Request {
            input: Some(OwnedInput(Box::new(input))),
            dst: Some(dst),
            ..Request::bare(req_type)
        }
    }

    /// A request of `req_type` with no buffers yet: the description of the work for
    /// [`Queue::run_borrowed`], which supplies the memory. `send` refuses it.
    pub fn without_buffers(req_type: ReqType) -> Request {
        Request::bare(req_type)
    }

    /// A no-op request: measures the ring, touches no memory.
    pub fn nop() -> Request {
        Request::bare(ReqType::Nop)
    }

    /// Compression level 1..=9 (0 = default).
    pub fn level(mut self, level: u32) -> Request {
        self.level = level;
        self
    }

    /// Compress: more input of this stream follows (raw deflate only).
    pub fn partial(mut self) -> Request {
        self.flags |= FLAG_PARTIAL;
        self
    }

    /// Decompress: continue the stream the previous request left unfinished.
    pub fn continue_stream(mut self) -> Request {
        self.flags |= FLAG_CONTINUE;
        self
    }

    /// Which checksum the device returns.
    pub fn checksum(mut self, csum: Csum) -> Request {
        self.flags = (self.flags & !crate::abi::FLAG_CSUM_MASK) | csum.flag_bits();
        self
    }

    /// A caller's value, returned in the completion.
    pub fn tag(mut self, tag: u64) -> Request {
        self.tag = tag;
        self
    }

    /// The caller's tag.
    pub fn user_tag(&self) -> u64 {
        self.tag
    }

    /// The ring entry of this request in `dialect`, reading `input_len` bytes at `src` and
    /// writing at most `space` bytes at `dst` (the driver's tag is filled in by `place`).
    fn entry(&self, dialect: Dialect, src: u64, input_len: u32, dst: u64, space: u32) -> ZipSqe {
        dialect.encode(
            self.req_type,
            self.flags,
            self.level,
            0,
            src,
            input_len,
            dst,
            space,
        )
    }

    /// Gives the buffers back (e.g. after a refused send). An owned input is dropped.
    pub fn into_buffers(self) -> (Option<DmaBuf>, Option<DmaBuf>) {
        (self.src, self.dst)
    }
}

/// A finished request: the device's answer and the request's buffers.
#[derive(Debug)]
pub struct Completion {
    /// The request's tag.
    pub tag: u64,
    /// Raw status byte (see [`Completion::status`]).
    pub status_raw: u8,
    /// Input bytes consumed.
    pub consumed: usize,
    /// Output bytes produced (also the destination buffer's `len()`).
    pub produced: usize,
    /// Checksum word (docs/abi.md).
    pub checksum: u32,
    /// The source buffer (`None` for an owned input the device read in place).
    pub src: Option<DmaBuf>,
    /// The destination buffer, its length set to what the device produced.
    pub dst: Option<DmaBuf>,
}

impl Completion {
    /// The status, if the driver knows it.
    pub fn status(&self) -> Option<Status> {
        Status::from_wire(self.status_raw)
    }

    /// `Ok(())` on success, else the typed error for the status.
    pub fn check(&self) -> Result<()> {
        match self.status() {
            Some(s) => s.check().map_err(|e| e.with_pinned(self.pinned_bytes())),
            None => Err(Error::DeviceStatus {
                status: self.status_raw,
            }),
        }
    }
}

impl Completion {
    /// What the request's ranges pin on a kernel device (source: its input; destination:
    /// the whole buffer), page-rounded; 0 when the completion carries no buffers.
    pub fn pinned_bytes(&self) -> u64 {
        let src = self
            .src
            .as_ref()
            .map_or(0, |b| crate::memlock::pinned_span(b.iova(), b.len() as u64));
        let dst = self.dst.as_ref().map_or(0, |b| {
            crate::memlock::pinned_span(b.iova(), b.capacity() as u64)
        });
        src + dst
    }
}

/// A send the queue could not take; the request comes back so nothing is lost.
#[derive(Debug)]
pub struct SendError {
    /// Why.
    pub error: Error,
    /// The request, untouched.
    pub request: Request,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

/// Counters of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests submitted.
    pub submitted: u64,
    /// Requests completed.
    pub completed: u64,
    /// Input bytes the device consumed.
    pub bytes_in: u64,
    /// Output bytes the device produced.
    pub bytes_out: u64,
    /// Sends refused because the ring was full.
    pub full_retries: u64,
    /// Completions with the DMA-fault status.
    pub faults: u64,
    /// SQ doorbells rung.
    pub doorbells: u64,
    /// Times a sleeping device had to be woken (each one a system call).
    pub wakeups: u64,
    /// Blocking waits on the interrupt (each one a system call).
    pub waits: u64,
}

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

/// What the driver does around the device for one request, on a dialect whose device
/// neither writes nor reads zlib/gzip headers (docs/abi.md section 9.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Framing {
    /// Header bytes skipped before the device's input (decompress).
    hdr_in: usize,
    /// Header bytes the driver wrote before the device's output (compress).
    hdr_out: usize,
    /// The answer, decided by the driver: the device gets an empty request (so that every
    /// request still has its completion) and its answer is ignored.
    forced: Option<Status>,
    /// The checksum the request chose, computed by the driver over the input (a dialect
    /// whose device does not: [`Dialect::device_checksums`]).
    checksum: Option<u32>,
    /// A decompression that continues the device's open stream (no header to skip).
    cont: bool,
    /// A compression piece that ends in a sync flush.
    partial: bool,
}

impl Framing {
    /// The device's part of a request reading `len` bytes at `src` and writing at most
    /// `space` bytes at `dst`.
    fn device_part(&self, src: u64, len: usize, dst: u64, space: usize) -> (u64, u32, u64, u32) {
        if self.forced.is_some() {
            return (src, 0, dst, 0);
        }
        (
            src + self.hdr_in as u64,
            (len - self.hdr_in) as u32,
            dst + self.hdr_out as u64,
            (space - self.hdr_out) as u32,
        )
    }
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
    fn check_request_shape(&self, r: &Request) -> Result<()> {
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
    /// checksum it computes.
    fn framing(&self, r: &Request, input: &[u8], out_space: usize) -> Framing {
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
                    let h = crate::zip::request_header(t, r.level).len();
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
                let format = match t {
                    ReqType::Gzip => Format::Gzip,
                    _ => Format::Zlib,
                };
                match crate::zip::check_header(format, input) {
                    Ok(Some(n)) => f.hdr_in = n,
                    Ok(None) => f.forced = Some(Status::NeedInput),
                    Err(_) => f.forced = Some(Status::DataError),
                }
            }
            Direction::Decompress => {}
        }
        f
    }

    /// The entry of request `r` framed by `f`, for the device's part of it; on v2/v3 with
    /// its stream fields.
    fn entry(
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
    fn write_header(f: &Framing, r: &Request, out: &mut [std::mem::MaybeUninit<u8>]) {
        if f.hdr_out > 0 {
            let h = crate::zip::request_header(r.req_type, r.level);
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
            self.framing(&req, input, space)
        };
        if let (Some(d), true) = (req.dst.as_mut(), framing.hdr_out > 0) {
            let h = crate::zip::request_header(req.req_type, req.level);
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
    fn place(&mut self, sqe: ZipSqe, req: Request, lease: Option<Lease>, framing: Framing) {
        self.place_entry(sqe, req, lease, framing, false)
    }

    /// `place`, for an entry the driver made (`raw` false) or a caller's hand-made one.
    fn place_entry(
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

    fn ring_sq_doorbell(&mut self) {
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
        // Clearing the flag as we kick means a device that is still waking up is not
        // kicked again by the next sends. A device that sleeps again sets it again.
        if r.load32(REG_IDLE, Ordering::SeqCst) == 1 && r.swap32(REG_IDLE, 0, Ordering::SeqCst) == 1
        {
            self.stats.wakeups += 1;
            self.backend.kick();
        }
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

    /// Submits a hand-made entry, addresses and all (for device bring-up and fault tests).
    /// The entry's tag word is replaced by the driver's own; `tag` comes back in the
    /// completion, which carries no buffers.
    ///
    /// # Safety
    /// Every address range in `sqe` must be either not shared with the device (it will then
    /// answer `DMA_FAULT` and touch nothing) or memory that nobody reads or writes until the
    /// completion arrives and that stays alive until then.
    pub unsafe fn send_raw(&mut self, sqe: ZipSqe, tag: u64) -> Result<()> {
        // SAFETY: the caller keeps this function's contract, which is `submit_entry`'s.
        unsafe { self.submit_entry(sqe, Request::nop().tag(tag), Framing::default(), true) }
    }

    /// Submits `sqe`, whose addresses the caller vouches for, keeping `req` (its buffers, if
    /// any, dropped) as the request the completion answers: its type, level and tag.
    ///
    /// # Safety
    /// As for [`Queue::send_raw`]: every address range in `sqe` is either not shared with
    /// the device or memory that nobody else reads or writes, and that stays alive, until
    /// the completion arrives.
    /// `raw`: `sqe` is a caller's hand-made entry ([`Queue::send_raw`]), read back as its
    /// own type says rather than as `req`'s.
    unsafe fn submit_entry(
        &mut self,
        sqe: ZipSqe,
        req: Request,
        framing: Framing,
        raw: bool,
    ) -> Result<()> {
        self.alive()?;
        if self.is_full() {
            self.stats.full_retries += 1;
            return Err(Error::QueueFull);
        }
        let req = Request {
            src: None,
            input: None,
            dst: None,
            ..req
        };
        self.place_entry(sqe, req, None, framing, raw);
        self.ring_sq_doorbell();
        Ok(())
    }

    /// Runs one request on the caller's memory and waits for it: the device reads `input`
    /// and appends at most `out_space` bytes to `out`. `req` gives the work
    /// ([`Request::without_buffers`] with its level and flags); its buffers, if any, are
    /// ignored. Nothing else may be in flight on the queue.
    ///
    /// Where the device can reach the caller's memory directly (the soft device:
    /// [`Domain::lend`]) nothing is copied; otherwise (VFIO, where sharing user memory costs
    /// system calls and pins pages) the data goes through buffers of the domain's cache.
    /// The completion carries no buffers; `produced` bytes were appended to `out` whatever
    /// the status. If waiting fails, the queue is stopped (it is unusable afterwards) so that
    /// no device touches the caller's memory once this returns.
    pub fn run_borrowed(
        &mut self,
        req: Request,
        input: &[u8],
        out: &mut Vec<u8>,
        out_space: usize,
    ) -> Result<Completion> {
        self.alive()?;
        if self.outstanding > 0 {
            return Err(Error::BadRequest(
                "run_borrowed needs a queue with nothing in flight".into(),
            ));
        }
        if input.len() > u32::MAX as usize || out_space > u32::MAX as usize {
            return Err(Error::BadRequest("buffer larger than 4 GiB - 1".into()));
        }
        self.check_request_shape(&req)?;
        out.reserve(out_space);
        let domain = Arc::clone(self.domain());
        let framing = self.framing(&req, input, out_space);
        let spare = &mut out.spare_capacity_mut()[..out_space];
        Self::write_header(&framing, &req, spare);
        let lent_in = domain.lend(input.as_ptr(), input.len());
        let lent_out = domain.lend(spare.as_ptr().cast(), spare.len());
        let (Some(src), Some(dst)) = (
            lent_in
                .as_ref()
                .map(|l| l.iova())
                .or(input.is_empty().then_some(0)),
            lent_out.as_ref().map(|l| l.iova()),
        ) else {
            return self.run_copied(req, input, out, out_space, framing);
        };
        let sqe = self.entry(
            &req,
            &framing,
            framing.device_part(src, input.len(), dst, out_space),
        )?;
        // SAFETY: both ranges are lent to the domain until the leases drop at the end of
        // this function; `input` is borrowed shared and `out`'s spare capacity exclusively
        // for all of it, so nobody else reads or writes them. The request either completes
        // below, or the queue is stopped first (which, for a domain that lends memory, ends
        // every access of its device).
        unsafe { self.submit_entry(sqe, req, framing, false)? };
        let c = match self.recv_timeout(None) {
            Ok(c) => c,
            Err(e) => {
                let _ = self.stop_device();
                return Err(e);
            }
        };
        // SAFETY: the driver's header and then the device filled `c.produced` bytes at the
        // start of the spare capacity (a completion claiming more than the space offered
        // breaks the queue instead), and its completion was read with acquire ordering.
        unsafe { out.set_len(out.len() + c.produced) };
        drop((lent_in, lent_out));
        Ok(c)
    }

    /// `run_borrowed` through the domain's buffers: copy in, run, copy out.
    fn run_copied(
        &mut self,
        req: Request,
        input: &[u8],
        out: &mut Vec<u8>,
        out_space: usize,
        framing: Framing,
    ) -> Result<Completion> {
        let mut src = self.alloc(input.len().max(1))?;
        src.fill(input);
        let mut dst = self.alloc(out_space.max(1))?;
        if framing.hdr_out > 0 {
            let h = crate::zip::request_header(req.req_type, req.level);
            dst.as_full_mut_slice()[..h.len()].copy_from_slice(&h);
        }
        // The device is offered exactly `out_space`, not the buffer's whole pages, so both
        // ways of running stop at the same point.
        let sqe = self.entry(
            &req,
            &framing,
            framing.device_part(src.iova(), input.len(), dst.iova(), out_space),
        )?;
        let req = Request {
            src: Some(src),
            dst: Some(dst),
            ..req
        };
        self.place(sqe, req, None, framing);
        self.ring_sq_doorbell();
        let mut c = self.recv_timeout(None)?;
        if let Some(d) = c.dst.take() {
            out.extend_from_slice(d.as_slice());
        }
        c.src = None;
        Ok(c)
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
            Some(s) => (s as u8, 0, 0),
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
        let start = Instant::now();
        let budget = self.poll_budget();
        self.alive()?;
        // A long request: sleep through three quarters of it (its interrupt still ends the
        // nap if it finishes sooner), then poll for its end, so that no wake-up lies on its
        // critical path and the core is free meanwhile.
        let next = self.expected_next();
        let mut nap = (next >= NAP_FROM).then(|| next * 3 / 4);
        let mut polling_since = start;
        loop {
            // Looking at the ring is cheaper than a receive that finds nothing.
            if self.completion_ready() {
                if let Some(c) = self.recv()? {
                    return Ok(c);
                }
            }
            if self.outstanding == 0 {
                return Err(Error::BadRequest(
                    "nothing in flight: receiving would wait forever".into(),
                ));
            }
            let elapsed = start.elapsed();
            let left = match timeout {
                Some(t) if elapsed >= t => return Err(Error::Timeout),
                Some(t) => Some(t - elapsed),
                None => None,
            };
            if let Some(nap) = nap.take() {
                if self.arm_interrupt()? {
                    self.stats.waits += 1;
                    self.backend.wait(Some(left.map_or(nap, |l| l.min(nap))))?;
                    self.backend.check_alive()?;
                }
                polling_since = Instant::now();
                continue;
            }
            if polling_since.elapsed() < budget {
                std::hint::spin_loop();
                continue;
            }
            if self.arm_interrupt()? {
                self.stats.waits += 1;
                // Sleep in slices, so a device that died is noticed instead of waited on.
                let slice = left.map_or(DEVICE_CHECK, |l| l.min(DEVICE_CHECK));
                self.backend.wait(Some(slice))?;
                self.backend.check_alive()?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::soft::{SoftBackend, SoftOptions};

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
