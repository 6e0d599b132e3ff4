//! `Stats` (a queue's counters) and `Completion` (a finished request, its buffers handed
//! back).

use pyo3::prelude::*;
use wd_core::Completion;
use wd_core::Stats;

use crate::buf::PyDmaBuf;
use crate::errors::IntoPyResult;

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
    pub(super) fn new(py: Python<'_>, mut c: Completion) -> PyResult<PyCompletion> {
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
