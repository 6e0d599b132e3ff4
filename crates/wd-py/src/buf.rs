//! `DmaBuf`: device-shared memory owned by a Python object.
//!
//! Python reaches the bytes without copies through the buffer protocol
//! (`memoryview(buf)`). Ownership follows the core's rule that nobody may touch memory the
//! device may write:
//!
//! - while any memoryview of the buffer is alive, it cannot be sent (`BufferError`);
//! - sending *moves* the memory into the queue: the Python object becomes invalid and every
//!   later use raises `BufferMovedError`; the completion hands the memory back in a new
//!   `DmaBuf` object;
//! - in a fork child the memory is not mapped (`MADV_DONTFORK`), so a buffer made before
//!   the fork refuses every use there (`ForkedError`) and is leaked, not freed.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wd_core::dma::DmaBuf;

use crate::domain::generation;
use crate::errors::exc;
use crate::queue::PyQueue;

/// A buffer shared with the device (see the module documentation).
#[pyclass(module = "warpdrive._core", name = "DmaBuf")]
pub struct PyDmaBuf {
    inner: Option<DmaBuf>,
    /// Live buffer-protocol exports (memoryviews).
    exports: AtomicUsize,
    /// The fork generation the memory belongs to.
    gen: u64,
}

impl PyDmaBuf {
    /// Wraps a buffer of the current process.
    pub fn new(buf: DmaBuf) -> PyDmaBuf {
        PyDmaBuf {
            inner: Some(buf),
            exports: AtomicUsize::new(0),
            gen: generation(),
        }
    }

    fn usable(&self, _py: Python<'_>) -> PyResult<&DmaBuf> {
        if self.gen != generation() {
            return Err(exc::ForkedError::new_err(
                "this buffer belongs to the parent process (it is not mapped after fork)",
            ));
        }
        self.inner.as_ref().ok_or_else(|| {
            exc::BufferMovedError::new_err(
                "this DmaBuf was moved into a queue by send(); use the buffer the completion returns",
            )
        })
    }

    fn usable_mut(&mut self, py: Python<'_>) -> PyResult<&mut DmaBuf> {
        self.usable(py)?;
        Ok(self.inner.as_mut().expect("checked by usable"))
    }

    /// Moves the memory out (to send it). Fails while a memoryview of it is alive.
    pub fn take(&mut self, py: Python<'_>) -> PyResult<DmaBuf> {
        self.usable(py)?;
        if self.exports.load(Ordering::SeqCst) != 0 {
            return Err(PyBufferError::new_err(
                "a memoryview of this DmaBuf is still alive; release it (e.g. `with memoryview(buf) as m:`) before sending",
            ));
        }
        Ok(self.inner.take().expect("checked by usable"))
    }

    /// Puts memory back after a refused send.
    pub fn restore(&mut self, buf: DmaBuf) {
        self.inner = Some(buf);
    }

    /// The buffer's meaningful bytes (for Rust callers holding the GIL).
    pub fn bytes<'a>(&'a self, py: Python<'_>) -> PyResult<&'a [u8]> {
        Ok(self.usable(py)?.as_slice())
    }
}

impl Drop for PyDmaBuf {
    fn drop(&mut self) {
        let Some(b) = self.inner.take() else { return };
        if self.gen != generation() {
            // A fork child: the mapping and its registry belong to the parent.
            std::mem::forget(b);
            return;
        }
        // Unsharing can wait for the device to finish its current request (it holds the
        // share registry while it works): do not hold the GIL meanwhile.
        detach_unless_finalizing(move || drop(b));
    }
}

/// `_alloc_cached(queue, size) -> DmaBuf | None`: a buffer of `size` bytes (length `size`)
/// from the buffer cache of `queue`'s domain, or None if the cache has none of `size` to
/// twice `size` bytes. Never a new share, so never a system call: an event loop takes
/// buffers here and makes a new share ([`PyQueue`]'s `alloc`) only where it may wait.
#[pyfunction]
pub fn _alloc_cached(
    py: Python<'_>,
    queue: PyRef<'_, PyQueue>,
    size: usize,
) -> PyResult<Option<PyDmaBuf>> {
    let domain = queue.domain(py)?;
    if size > isize::MAX as usize {
        // No buffer is that large (`alloc` says why).
        return Ok(None);
    }
    Ok(domain.alloc_cached(size.max(1)).map(|mut b| {
        b.set_len(size);
        PyDmaBuf::new(b)
    }))
}

/// `_cache_buffer(buf) -> bool`: gives `buf` to its domain's buffer cache (no system call;
/// `buf` becomes invalid, as if sent) if the cache keeps it. False, with `buf` unchanged,
/// for a buffer the cache has no room for (dropping it then unshares it: system calls on a
/// device that pins pages), a sent one, one with a live memoryview, or one of the parent
/// process.
#[pyfunction]
pub fn _cache_buffer(mut buf: PyRefMut<'_, PyDmaBuf>) -> bool {
    if !buf.valid() || buf.exports.load(Ordering::SeqCst) != 0 {
        return false;
    }
    let b = buf.inner.take().expect("checked by valid");
    match b.into_cache() {
        Ok(()) => true,
        Err(b) => {
            buf.inner = Some(b);
            false
        }
    }
}

/// `_cached_buffers(queue) -> int`: how many buffers the cache of `queue`'s domain holds.
#[pyfunction]
pub fn _cached_buffers(py: Python<'_>, queue: PyRef<'_, PyQueue>) -> PyResult<usize> {
    Ok(queue.domain(py)?.cached_buffers())
}

/// Runs `f`, which frees device resources (buffers, queues) and may wait for the device or
/// the kernel, with the GIL released so that other threads run meanwhile; with the GIL
/// held while the interpreter is finalizing, when only this thread may run.
pub fn detach_unless_finalizing(f: impl FnOnce() + Send) {
    Python::attach(|py| {
        let finalizing = py
            .import("sys")
            .and_then(|m| m.getattr("is_finalizing")?.call0()?.extract::<bool>())
            .unwrap_or(true);
        if finalizing {
            f();
        } else {
            py.detach(f);
        }
    });
}

/// The bytes of any bytes-like object as a `PyBuffer<u8>`. Objects whose buffer is not
/// contiguous (e.g. `memoryview(b)[::2]`) or not made of bytes (e.g. `array('I')`) are
/// read through `memoryview(data).cast('B')` or, failing that, a `tobytes()` copy.
pub fn byte_buffer(data: &Bound<'_, PyAny>) -> PyResult<PyBuffer<u8>> {
    match PyBuffer::<u8>::get(data) {
        Ok(b) => Ok(b),
        Err(first) => {
            let py = data.py();
            let mv = py.import("builtins")?.getattr("memoryview")?.call1((data,));
            let Ok(mv) = mv else { return Err(first) };
            if let Ok(b) = mv
                .call_method1("cast", ("B",))
                .and_then(|c| PyBuffer::get(&c))
            {
                return Ok(b);
            }
            PyBuffer::get(&mv.call_method0("tobytes")?)
        }
    }
}

/// Copies a bytes-like object into a DMA buffer of at least its size.
pub fn copy_in(py: Python<'_>, buf: &mut DmaBuf, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let pb = byte_buffer(data)?;
    let n = pb.len_bytes();
    if n > buf.capacity() {
        return Err(PyValueError::new_err(format!(
            "{n} bytes do not fit a buffer of capacity {}",
            buf.capacity()
        )));
    }
    pb.copy_to_slice(py, &mut buf.as_full_mut_slice()[..n])?;
    buf.set_len(n);
    Ok(())
}

#[pymethods]
impl PyDmaBuf {
    /// Meaningful bytes (what a memoryview shows; a request's input length).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.usable(py)?.len())
    }

    /// Bytes available (whole pages).
    #[getter]
    fn capacity(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(self.usable(py)?.capacity())
    }

    /// False once the buffer was sent (moved into a queue) or in a fork child.
    #[getter]
    fn valid(&self) -> bool {
        self.inner.is_some() && self.gen == generation()
    }

    /// Sets the meaningful length (0..=capacity). Existing memoryviews keep their size.
    fn resize(&mut self, py: Python<'_>, length: usize) -> PyResult<()> {
        let b = self.usable_mut(py)?;
        if length > b.capacity() {
            return Err(PyValueError::new_err(format!(
                "length {length} exceeds the capacity {}",
                b.capacity()
            )));
        }
        b.set_len(length);
        Ok(())
    }

    /// Copies a bytes-like object in and sets the length to its size.
    fn fill(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = self.usable_mut(py)?;
        copy_in(py, b, data)
    }

    /// A copy of the meaningful bytes.
    fn tobytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, self.usable(py)?.as_slice()))
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.tobytes(py)
    }

    fn __repr__(&self) -> String {
        match &self.inner {
            _ if self.gen != generation() => "<DmaBuf of the parent process>".into(),
            Some(b) => format!("<DmaBuf len={} capacity={}>", b.len(), b.capacity()),
            None => "<DmaBuf moved>".into(),
        }
    }

    /// The buffer protocol: a writable, one-dimensional view of the meaningful bytes.
    ///
    /// # Safety
    /// Called by Python with a valid `view` to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("null Py_buffer"));
        }
        let py = slf.py();
        let (ptr, len) = {
            let mut me = slf.borrow_mut();
            let b = me.usable_mut(py)?;
            let len = b.len();
            let ptr = b.as_full_mut_slice().as_mut_ptr();
            me.exports.fetch_add(1, Ordering::SeqCst);
            (ptr, len)
        };
        // SAFETY: `view` is a valid, writable Py_buffer (checked non-null; CPython passes
        // one it owns). `ptr..ptr + len` is inside the buffer's live mapping: the view holds
        // a strong reference to this object (`obj`), so the object and its DmaBuf outlive
        // the view, and `take` refuses to move the DmaBuf out while `exports > 0`, so the
        // device never receives memory a view can reach. `len` is at most the capacity.
        // `shape`/`strides` point into the view itself, as CPython's own objects do, and
        // the format string is a static C string that CPython never frees.
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = ptr.cast::<c_void>();
            (*view).len = len as isize;
            (*view).readonly = 0;
            (*view).itemsize = 1;
            (*view).format = if flags & ffi::PyBUF_FORMAT == ffi::PyBUF_FORMAT {
                c"B".as_ptr().cast_mut()
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if flags & ffi::PyBUF_ND == ffi::PyBUF_ND {
                &mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if flags & ffi::PyBUF_STRIDES == ffi::PyBUF_STRIDES {
                &mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// Ends one export started by `__getbuffer__`.
    ///
    /// # Safety
    /// Called by Python with a view this object filled.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.exports.fetch_sub(1, Ordering::SeqCst);
    }
}
