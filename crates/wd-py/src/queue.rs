//! `Queue`, `Completion` and `Stats`.
//!
//! The queue lives behind a mutex that is only ever held for short, non-blocking driver
//! calls, never while waiting: a blocking `recv` runs the core's wait loop
//! (`wd_core::wait::until`) without the GIL, takes the lock for each look at the ring and
//! each arming, sleeps on the readiness fd in slices, and checks for signals (with the
//! GIL) after each, so that Ctrl-C is seen promptly.
//!
//! `Stats` and `Completion` are in `completion`, the blocking `recv`'s wait loop in
//! `blocking`; both are re-exported.

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyList;
use wd_core::dma::DmaBuf;
use wd_core::wait::Policy;
use wd_core::{Completion, Request};
use wd_core::{Direction, Queue};

use crate::buf::{copy_in, PyDmaBuf};
use crate::domain::{generation, parse_device, parse_direction, parse_format, parse_level};
use crate::errors::{bad_request, to_py, IntoPyResult};

mod blocking;
mod completion;

use blocking::{Blocking, Stop, WAIT_SLICE};
pub use completion::{PyCompletion, PyStats};

/// One device queue (see the module documentation).
#[pyclass(module = "warpdrive._core", name = "Queue")]
pub struct PyQueue {
    inner: Mutex<Option<Queue>>,
    dir: Direction,
    fd: RawFd,
    device: String,
    kind: wd_core::DeviceKind,
    takes_level: bool,
    reads_in_place: bool,
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
            reads_in_place: q.reads_in_place(),
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

    /// True if the device reads process memory where it is (the soft device and uacce):
    /// `send_bytes` then reads a `bytes` object in place. False on VFIO, which copies.
    #[getter]
    fn reads_in_place(&self) -> bool {
        self.reads_in_place
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
    /// (`reads_in_place`: the soft device, uacce), read in place: the completion's `src` is
    /// then None. Anything else (and `bytes` on VFIO) is copied into a device buffer first, which the completion
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
