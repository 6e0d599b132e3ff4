//! `Queue`, `Completion` and `Stats`.
//!
//! The queue lives behind a mutex that is only ever held for short, non-blocking driver
//! calls, never while waiting: a blocking `recv` runs the core's wait loop
//! (`wd_core::wait::until`) without the GIL, takes the lock for each look at the ring and
//! each arming, sleeps on the readiness fd in slices, and checks for signals (with the
//! GIL) after each, so that Ctrl-C is seen promptly.

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyList;
use wd_core::dma::DmaBuf;
use wd_core::queue::{Completion, Request};
use wd_core::wait::{Policy, Waiter};
use wd_core::{Direction, Queue, Stats};

use crate::buf::{copy_in, PyDmaBuf};
use crate::domain::{generation, parse_device, parse_direction, parse_format, parse_level};
use crate::errors::{bad_request, to_py, IntoPyResult};

/// Longest sleep of a blocking `recv` between checks for signals.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Counters of a queue.
#[pyclass(module = "warpdrive._core", name = "Stats", frozen, get_all)]
#[derive(Clone)]
pub struct PyStats {
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
    /// Submission doorbells rung.
    pub doorbells: u64,
    /// Times a sleeping device had to be woken (system calls).
    pub wakeups: u64,
    /// Blocking waits (system calls).
    pub waits: u64,
}

impl From<Stats> for PyStats {
    fn from(s: Stats) -> PyStats {
        PyStats {
            submitted: s.submitted,
            completed: s.completed,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            full_retries: s.full_retries,
            faults: s.faults,
            doorbells: s.doorbells,
            wakeups: s.wakeups,
            waits: s.waits,
        }
    }
}

#[pymethods]
impl PyStats {
    fn __repr__(&self) -> String {
        format!(
            "Stats(submitted={}, completed={}, bytes_in={}, bytes_out={}, full_retries={}, faults={}, doorbells={}, wakeups={}, waits={})",
            self.submitted,
            self.completed,
            self.bytes_in,
            self.bytes_out,
            self.full_retries,
            self.faults,
            self.doorbells,
            self.wakeups,
            self.waits
        )
    }
}

/// A finished request: the device's answer and the request's buffers, handed back.
#[pyclass(module = "warpdrive._core", name = "Completion", frozen)]
pub struct PyCompletion {
    tag: u64,
    status: u8,
    consumed: usize,
    produced: usize,
    checksum: u32,
    src: Option<Py<PyDmaBuf>>,
    dst: Option<Py<PyDmaBuf>>,
    /// What the request's buffers pin on a kernel device (for the memlock error).
    pinned: u64,
}

impl PyCompletion {
    fn new(py: Python<'_>, mut c: Completion) -> PyResult<PyCompletion> {
        let pinned = c.pinned_bytes();
        let src = c
            .src
            .take()
            .map(|b| Py::new(py, PyDmaBuf::new(b)))
            .transpose()?;
        let dst = c
            .dst
            .take()
            .map(|b| Py::new(py, PyDmaBuf::new(b)))
            .transpose()?;
        Ok(PyCompletion {
            tag: c.tag,
            status: c.status_raw,
            consumed: c.consumed,
            produced: c.produced,
            checksum: c.checksum,
            src,
            dst,
            pinned,
        })
    }

    fn core(&self) -> Completion {
        Completion {
            tag: self.tag,
            status_raw: self.status,
            consumed: self.consumed,
            produced: self.produced,
            checksum: self.checksum,
            src: None,
            dst: None,
        }
    }
}

#[pymethods]
impl PyCompletion {
    /// The tag given to `send`.
    #[getter]
    fn tag(&self) -> u64 {
        self.tag
    }
    /// The raw device status (0 = OK; see docs/abi.md).
    #[getter]
    fn status(&self) -> u8 {
        self.status
    }
    /// Input bytes consumed.
    #[getter]
    fn consumed(&self) -> usize {
        self.consumed
    }
    /// Output bytes produced (also `len(dst)`).
    #[getter]
    fn produced(&self) -> usize {
        self.produced
    }
    /// Checksum of the uncompressed data (CRC-32 for gzip, Adler-32 for zlib).
    #[getter]
    fn checksum(&self) -> u32 {
        self.checksum
    }
    /// The source buffer, back in Python's hands.
    #[getter]
    fn src(&self, py: Python<'_>) -> Option<Py<PyDmaBuf>> {
        self.src.as_ref().map(|b| b.clone_ref(py))
    }
    /// The destination buffer, its length set to what the device produced.
    #[getter]
    fn dst(&self, py: Python<'_>) -> Option<Py<PyDmaBuf>> {
        self.dst.as_ref().map(|b| b.clone_ref(py))
    }
    /// True for the success statuses.
    #[getter]
    fn ok(&self) -> bool {
        self.core().check().is_ok()
    }
    /// True if a decompression stopped for lack of output space or input and can be
    /// continued (`continue_stream=True`).
    #[getter]
    fn resumable(&self) -> bool {
        matches!(
            self.core().status(),
            Some(wd_core::abi::Status::OutputTooSmall | wd_core::abi::Status::NeedInput)
        )
    }
    /// Raises the matching `WarpDriveError` unless the status is a success.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        self.core()
            .check()
            .map_err(|e| e.with_pinned(self.pinned))
            .py(py)
    }
    fn __repr__(&self) -> String {
        format!(
            "<Completion tag={} status={:#04x} consumed={} produced={}>",
            self.tag, self.status, self.consumed, self.produced
        )
    }
}

/// One device queue (see the module documentation).
#[pyclass(module = "warpdrive._core", name = "Queue")]
pub struct PyQueue {
    inner: Mutex<Option<Queue>>,
    dir: Direction,
    fd: RawFd,
    device: String,
    kind: wd_core::DeviceKind,
    takes_level: bool,
    gen: u64,
}

impl Drop for PyQueue {
    fn drop(&mut self) {
        let q = self
            .inner
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(q) = q {
            if self.gen != generation() {
                // A fork child: the device thread is the parent's; dropping the queue would
                // try to stop (join) it. Leave everything alone.
                std::mem::forget(q);
            }
            // Else the core drains in-flight requests (bounded) and stops the device before
            // freeing any buffer; closing the device and removing its mdev may then wait on
            // the kernel, so other threads get the GIL meanwhile (not while the interpreter
            // is finalizing, when only this thread may run).
            else {
                crate::buf::detach_unless_finalizing(move || drop(q));
            }
        }
    }
}

impl PyQueue {
    /// The open queue's DMA domain (its buffer cache: `buf.rs`).
    pub(crate) fn domain(&self, py: Python<'_>) -> PyResult<std::sync::Arc<wd_core::dma::Domain>> {
        self.with(py, |q| Ok(q.domain().clone()))
    }

    /// Runs `f` on the open queue.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut Queue) -> PyResult<R>) -> PyResult<R> {
        if self.gen != generation() {
            return Err(to_py(py, wd_core::Error::Forked));
        }
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(q) => crate::errors::guard(py, || f(q)),
            None => Err(to_py(py, wd_core::Error::Closed)),
        }
    }

    /// The caller's tag and stream flag, and the level where this queue's direction has one.
    fn finish_request(&self, req: Request, level: u32, tag: u64, continue_stream: bool) -> Request {
        let mut req = req.tag(tag);
        if self.dir == Direction::Compress {
            req = req.level(level);
        }
        if continue_stream {
            req = req.continue_stream();
        }
        req
    }

    fn take_completions(py: Python<'_>, v: Vec<Completion>) -> PyResult<Vec<PyCompletion>> {
        v.into_iter().map(|c| PyCompletion::new(py, c)).collect()
    }
}

/// A blocking `recv` as the core's [`Waiter`]: it runs without the GIL, takes the queue's
/// lock only for each short driver call (never while sleeping), and checks for signals,
/// with the GIL, after each sleep.
struct Blocking<'a>(&'a PyQueue);

/// Why a blocking `recv` ended without a completion.
enum Stop {
    /// The driver's error (a timeout among them).
    Core(wd_core::Error),
    /// The exception a signal handler raised.
    Signal(PyErr),
}

impl From<wd_core::Error> for Stop {
    fn from(e: wd_core::Error) -> Stop {
        Stop::Core(e)
    }
}

impl Blocking<'_> {
    /// Runs `f` on the open queue, under its lock.
    fn locked<R>(&self, f: impl FnOnce(&mut Queue) -> wd_core::Result<R>) -> Result<R, Stop> {
        if self.0.gen != generation() {
            return Err(Stop::Core(wd_core::Error::Forked));
        }
        let mut g = self.0.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(q) => Ok(f(q)?),
            None => Err(Stop::Core(wd_core::Error::Closed)),
        }
    }
}

impl Waiter for Blocking<'_> {
    type Ready = Completion;
    type Error = Stop;

    fn poll(&mut self) -> Result<Option<Completion>, Stop> {
        self.locked(|q| q.recv_in_flight())
    }

    fn arm(&mut self) -> Result<bool, Stop> {
        self.locked(|q| q.arm_interrupt())
    }

    fn sleep(&mut self, timeout: Duration) -> Result<(), Stop> {
        wd_core::wait::readable(&[self.0.fd], Some(timeout))?;
        self.locked(|q| {
            q.clear_readiness();
            Ok(())
        })
    }

    fn after_sleep(&mut self) -> Result<(), Stop> {
        Python::attach(|py| py.check_signals()).map_err(Stop::Signal)
    }
}

/// Refuses a buffer size that cannot be rounded up to pages (no memory has that much).
fn check_size(size: usize) -> PyResult<()> {
    if size > isize::MAX as usize {
        return Err(crate::errors::overflow(format!(
            "a buffer of {size} bytes is larger than any address space"
        )));
    }
    Ok(())
}

/// A new buffer of `q`'s domain holding the bytes of `pb` (no Python code runs).
fn copy_into_new(py: Python<'_>, q: &Queue, pb: &PyBuffer<u8>) -> PyResult<DmaBuf> {
    let n = pb.len_bytes();
    if n > u32::MAX as usize {
        return Err(bad_request(py, "input larger than 4 GiB - 1"));
    }
    let mut b = q.alloc(n.max(1)).py(py)?;
    pb.copy_to_slice(py, &mut b.as_full_mut_slice()[..n])?;
    b.set_len(n);
    Ok(b)
}

#[pymethods]
impl PyQueue {
    /// Opens a queue of `direction` (`"compress"` or `"decompress"`). `device`: `"auto"`
    /// (an sdmdev device through VFIO when one is free, else the soft device), `"soft"`,
    /// `"vfio"`, or None to follow `WARPDRIVE_DEVICE` (default `auto`). `background`: on
    /// the soft device, its thread runs at idle priority (see `warpdrive.open_queue`).
    #[new]
    #[pyo3(signature = (direction, device = None, *, background = false))]
    fn new(
        py: Python<'_>,
        direction: &str,
        device: Option<&str>,
        background: bool,
    ) -> PyResult<PyQueue> {
        let dir = parse_direction(py, direction)?;
        let choice = parse_device(py, device)?;
        let opts = wd_core::QueueOptions::default().background(background);
        let q = py
            .detach(|| wd_core::open_queue_with(choice, dir, opts))
            .py(py)?;
        Ok(PyQueue {
            fd: q.readiness_fd(),
            device: q.describe(),
            kind: q.kind(),
            takes_level: q.takes_level(),
            inner: Mutex::new(Some(q)),
            dir,
            gen: generation(),
        })
    }

    /// `"compress"` or `"decompress"`, fixed at open.
    #[getter]
    fn direction(&self) -> &'static str {
        self.dir.name()
    }

    /// The device serving this queue (e.g. `soft:compress`).
    #[getter]
    fn device(&self) -> String {
        self.device.clone()
    }

    /// The kind of device serving this queue: `soft`, `vfio` or `uacce`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    /// True if the device pins request memory (`DeviceKind::pins_pages`: a VFIO device), so
    /// that work on it must fit the process's locked-memory limit.
    #[getter]
    fn pins_pages(&self) -> bool {
        self.kind.pins_pages()
    }

    /// True if the device honours the level a compression asks for; False where its ring
    /// has no place for one (uacce's QM v2/v3 engines compress at their own level).
    #[getter]
    fn takes_level(&self) -> bool {
        self.takes_level
    }

    /// The fd that becomes readable when an armed interrupt fired (for event loops).
    fn fileno(&self, py: Python<'_>) -> PyResult<RawFd> {
        self.with(py, |_| Ok(self.fd))
    }

    /// True once `close()` ran.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().map(|g| g.is_none()).unwrap_or(true)
    }

    /// Allocates a device-shared buffer of `size` bytes (its length is `size`; its capacity
    /// is `size` rounded up to pages). The GIL is released meanwhile: sharing memory can
    /// wait for the device to finish the request it is working on.
    fn alloc(&self, py: Python<'_>, size: usize) -> PyResult<PyDmaBuf> {
        check_size(size)?;
        let domain = self.with(py, |q| Ok(q.domain().clone()))?;
        let mut b = py.detach(|| domain.alloc(size.max(1))).py(py)?;
        b.set_len(size);
        Ok(PyDmaBuf::new(b))
    }

    /// Allocates a device-shared buffer holding a copy of a bytes-like object.
    fn alloc_from(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyDmaBuf> {
        let pb = crate::buf::byte_buffer(data)?;
        let n = pb.len_bytes();
        drop(pb);
        let domain = self.with(py, |q| Ok(q.domain().clone()))?;
        let mut b = py.detach(|| domain.alloc(n.max(1))).py(py)?;
        copy_in(py, &mut b, data)?;
        Ok(PyDmaBuf::new(b))
    }

    /// Submits a request reading `len(src)` bytes of `src` and writing into `dst` (its
    /// whole capacity is the output space). Both buffers are moved into the queue: the
    /// Python objects become invalid, and the completion returns the memory. A refused
    /// send (`QueueFullError`, bad request) leaves both buffers valid.
    #[pyo3(signature = (src, dst, *, format = "gzip", level = -1, tag = 0, continue_stream = false))]
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        py: Python<'_>,
        src: &Bound<'_, PyDmaBuf>,
        dst: &Bound<'_, PyDmaBuf>,
        format: &str,
        level: i32,
        tag: u64,
        continue_stream: bool,
    ) -> PyResult<()> {
        let t = parse_format(py, format)?.req_type();
        let lvl = parse_level(py, level)?.get().py(py)?;
        if src.is(dst) {
            return Err(bad_request(py, "src and dst must be two different buffers"));
        }
        self.with(py, |q| {
            let mut s = src.try_borrow_mut()?;
            let mut d = dst.try_borrow_mut()?;
            let sb = s.take(py)?;
            let db = match d.take(py) {
                Ok(b) => b,
                Err(e) => {
                    s.restore(sb);
                    return Err(e);
                }
            };
            let req = self.finish_request(Request::new(t, sb, db), lvl, tag, continue_stream);
            match q.send(req) {
                Ok(()) => Ok(()),
                Err(e) => {
                    let (sb, db) = e.request.into_buffers();
                    s.restore(sb.expect("the request had a source"));
                    d.restore(db.expect("the request had a destination"));
                    Err(to_py(py, e.error))
                }
            }
        })
    }

    /// Submits a request reading the bytes-like `data` and writing into `dst`, which moves
    /// into the queue as for `send`. A `bytes` object (or a contiguous memoryview of one) is
    /// kept by the queue until the completion and, where the device reaches process memory
    /// (the soft device), read in place: the completion's `src` is then None. Anything else
    /// (and `bytes` on VFIO) is copied into a device buffer first, which the completion
    /// returns as `src`. A refused send leaves `dst` valid.
    #[pyo3(signature = (data, dst, *, format = "gzip", level = -1, tag = 0, continue_stream = false))]
    #[allow(clippy::too_many_arguments)]
    fn send_bytes(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        dst: &Bound<'_, PyDmaBuf>,
        format: &str,
        level: i32,
        tag: u64,
        continue_stream: bool,
    ) -> PyResult<()> {
        let t = parse_format(py, format)?.req_type();
        let lvl = parse_level(py, level)?.get().py(py)?;
        // Everything that may run Python code (a class's buffer export) happens before the
        // queue's lock is taken and after it is dropped, never under it.
        let lent = crate::input::lendable(data);
        let copy = match lent {
            Some(_) => None,
            None => Some(crate::buf::byte_buffer(data)?),
        };
        let sent = self.with(py, |q| {
            let mut d = dst.try_borrow_mut()?;
            let db = d.take(py)?;
            let req = match (lent, &copy) {
                (Some(input), _) => Request::with_input(t, input, db),
                (None, Some(pb)) => match copy_into_new(py, q, pb) {
                    Ok(sb) => Request::new(t, sb, db),
                    Err(e) => {
                        d.restore(db);
                        return Err(e);
                    }
                },
                (None, None) => unreachable!("no input staged"),
            };
            let req = self.finish_request(req, lvl, tag, continue_stream);
            q.send(req).map_err(|e| {
                let (_, db) = e.request.into_buffers();
                d.restore(db.expect("the request had a destination"));
                to_py(py, e.error)
            })
        });
        drop(copy);
        sent
    }

    /// Submits a no-op request (measures the ring; touches no memory).
    #[pyo3(signature = (tag = 0))]
    fn send_nop(&self, py: Python<'_>, tag: u64) -> PyResult<()> {
        self.with(py, |q| {
            q.send(Request::nop().tag(tag))
                .map_err(|e| to_py(py, e.error))
        })
    }

    /// The next completion if one is ready, else None. Never blocks.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Option<PyCompletion>> {
        let c = self.with(py, |q| q.recv().py(py))?;
        c.map(|c| PyCompletion::new(py, c)).transpose()
    }

    /// Up to `max` ready completions (possibly none). Never blocks.
    #[pyo3(signature = (max = 1024))]
    fn recv_many<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let v = self.with(py, |q| {
            let mut v = Vec::new();
            q.recv_many(&mut v, max).py(py)?;
            Ok(v)
        })?;
        PyList::new(py, Self::take_completions(py, v)?)
    }

    /// Waits for the next completion, at most `timeout` seconds (None: forever), with the
    /// GIL released. Raises `WarpDriveTimeoutError` on timeout and `BadRequestError` if
    /// nothing is in flight.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<PyCompletion> {
        let limit = match timeout {
            Some(t) if !(t >= 0.0 && t.is_finite()) => {
                return Err(bad_request(py, "timeout must be a finite number >= 0"))
            }
            Some(t) => Some(
                Duration::try_from_secs_f64(t)
                    .map_err(|_| crate::errors::overflow("timeout value is too large"))?,
            ),
            None => None,
        };
        // The core's wait loop, without polling (a Python caller is not worth a core), in
        // slices so that signal handlers run (Ctrl-C ends the wait with their exception).
        let policy = Policy {
            budget: Duration::ZERO,
            nap: None,
            slice: WAIT_SLICE,
            deadline: limit.and_then(|l| Instant::now().checked_add(l)),
        };
        let got = crate::errors::guard(py, || {
            Ok(py.detach(|| wd_core::wait::until(&mut Blocking(self), &policy)))
        })?;
        match got {
            Ok(c) => PyCompletion::new(py, c),
            Err(Stop::Core(e)) => Err(to_py(py, e)),
            Err(Stop::Signal(e)) => Err(e),
        }
    }

    /// Arms the interrupt: `fileno()` becomes readable at the next completion. Returns
    /// False if a completion is already ready (receive it instead of waiting). With
    /// `moderated`, the device may wait for a few more of the queue's small requests in hand
    /// before it signals (one wake-up for several completions; devices that cannot moderate
    /// are armed the ordinary way).
    #[pyo3(signature = (moderated = false))]
    fn arm_interrupt(&self, py: Python<'_>, moderated: bool) -> PyResult<bool> {
        self.with(py, |q| {
            if moderated {
                q.arm_interrupt_moderated().py(py)
            } else {
                q.arm_interrupt().py(py)
            }
        })
    }

    /// Consumes the readiness signal of `fileno()`.
    fn clear_readiness(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |q| {
            q.clear_readiness();
            Ok(())
        })
    }

    /// Requests sent and not yet received (0 once closed).
    #[getter]
    fn outstanding(&self, py: Python<'_>) -> PyResult<usize> {
        if self.closed() && self.gen == generation() {
            return Ok(0);
        }
        self.with(py, |q| Ok(q.outstanding()))
    }

    /// True when a send would be refused for lack of room.
    #[getter]
    fn is_full(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |q| Ok(q.is_full()))
    }

    /// The queue's counters.
    #[getter]
    fn stats(&self, py: Python<'_>) -> PyResult<PyStats> {
        self.with(py, |q| Ok(q.stats().into()))
    }

    /// Waits for everything in flight (completions are discarded), then stops the device.
    /// Idempotent. A broken queue (after a ProtocolError) is stopped at once. In a fork child
    /// it only forgets the parent's queue.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.gen != generation() {
            let q = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
            std::mem::forget(q);
            return Ok(());
        }
        loop {
            // A broken queue answers nothing more: the core's close stops it as it is.
            let n = self.inner.lock().map_or(0, |g| {
                g.as_ref()
                    .map_or(0, |q| if q.is_broken() { 0 } else { q.outstanding() })
            });
            if n == 0 {
                break;
            }
            drop(self.recv(py, None)?);
        }
        let q = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(q) = q {
            py.detach(|| q.close()).py(py)?;
        }
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!("<Queue {} {}>", self.device, state)
    }
}
