//! Python `bytes` as a request's owned input (`Queue.send_bytes`): the queue keeps a
//! reference to the object until the completion, and the soft device reads the object's
//! own memory instead of a copy.

use pyo3::buffer::PyBuffer;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};
use wd_core::InputBytes;

/// A `bytes` object, or a contiguous part of one, held for the life of a request.
pub struct BytesInput {
    /// Keeps the memory alive: a `bytes` object's data lies inside the object.
    _owner: Py<PyBytes>,
    addr: usize,
    len: usize,
}

// SAFETY: `addr..addr + len` lies inside the data of the `bytes` object `_owner` refers to
// (checked in `lendable`). That object is immutable and never moves, and it lives at least
// as long as this value holds its reference. Only the exact `bytes` type is accepted, so
// dropping the reference runs no Python code, and the GIL is not needed to read the bytes.
unsafe impl InputBytes for BytesInput {
    fn bytes(&self) -> &[u8] {
        // SAFETY: see the impl: a live, immutable range of `len` bytes.
        unsafe { std::slice::from_raw_parts(self.addr as *const u8, self.len) }
    }
}

/// `data` as a request's owned input, if it is a `bytes` object or a C-contiguous
/// memoryview of one (such as `memoryview(b)[i:j]` or `memoryview(b).cast('B')`). Any other
/// object (`bytearray`, a `DmaBuf`, a strided view) can change or vanish while the device
/// reads it, so it is copied instead (`None`). Runs no Python code.
pub fn lendable(data: &Bound<'_, PyAny>) -> Option<BytesInput> {
    if let Ok(b) = data.cast_exact::<PyBytes>() {
        let s = b.as_bytes();
        return Some(BytesInput {
            addr: s.as_ptr() as usize,
            len: s.len(),
            _owner: b.clone().unbind(),
        });
    }
    let mv = data.cast_exact::<PyMemoryView>().ok()?;
    // Fails for a released view, which the copying path then reports.
    let base = mv.getattr(intern!(data.py(), "obj")).ok()?;
    let owner = base.cast_exact::<PyBytes>().ok()?;
    let view = PyBuffer::<u8>::get(mv).ok()?;
    if !view.is_c_contiguous() {
        return None;
    }
    let whole = owner.as_bytes();
    let start = whole.as_ptr() as usize;
    let end = start + whole.len();
    let (addr, len) = (view.buf_ptr() as usize, view.len_bytes());
    (addr >= start && addr + len <= end).then(|| BytesInput {
        _owner: owner.clone().unbind(),
        addr,
        len,
    })
}
