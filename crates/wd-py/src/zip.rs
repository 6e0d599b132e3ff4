//! Whole-buffer and streaming compression with the GIL released while the device works.
//!
//! The policy is the core's (`wd_core::zip::compress_into` and `decompress_into`): an
//! input of one request runs on an idle queue of the process's pool, the device reading
//! the caller's buffer in place where it can (the soft device; see `Queue::run_borrowed`);
//! larger inputs go through the core's `compress_stream`/`decompress_stream`, which spread
//! pieces over several queues (compress) and keep memory bounded (both). This module only
//! lends the Python buffer without the GIL, keeps each thread's output buffer between
//! calls, and builds the `bytes` result.
//!
//! One-shot calls are here; the children are re-exported, so the paths stay `zip::NAME`:
//! `stream` (stream jobs over Python file objects), `incremental` (the `_Compressor` and
//! `_Decompressor` objects), `asyncio` (the helpers of `warpdrive.aio`) and `checksum`
//! (CRC-32 and Adler-32).

use std::io::{self, Write};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wd_core::zip::detect_format;

use crate::domain::{parse_format, parse_format_arg, parse_level, window_bits, FormatArg};
use crate::errors::{bad_request, guard, overflow, IntoPyResult};

mod asyncio;
mod checksum;
mod incremental;
mod stream;

pub use asyncio::*;
pub use checksum::*;
pub use incremental::*;
pub use stream::*;

/// Borrowed bytes of a Python buffer, usable without the GIL.
struct Input {
    ptr: usize,
    len: usize,
}

impl Input {
    fn slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr..ptr + len` is the contiguous memory of a Python buffer export
        // (`PyBuffer`) that the caller keeps alive until this `Input` is gone; an export
        // pins the object's memory (bytearray cannot resize while exported). Another Python
        // thread may still write the bytes of a mutable buffer concurrently, exactly as with
        // CPython's zlib module, which also reads without the GIL: that can change what is
        // compressed, never free or move the memory.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

/// Runs `f` on the bytes of `data` with the GIL released.
fn with_input<R: Send>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    f: impl FnOnce(&[u8]) -> R + Send,
) -> PyResult<R> {
    let pb = crate::buf::byte_buffer(data)?;
    if pb.is_c_contiguous() {
        let inp = Input {
            ptr: pb.buf_ptr() as usize,
            len: pb.len_bytes(),
        };
        let r = py.detach(|| f(inp.slice()));
        drop(pb);
        Ok(r)
    } else {
        let v = pb.to_vec(py)?;
        Ok(py.detach(|| f(&v)))
    }
}

/// The largest output buffer a thread keeps between one-shot calls (see
/// [`with_output_buffer`]): the room a decompression of inputs up to 64 KiB starts with
/// (`wd_core::zip::output_guess`), and the bound of a compression of up to 256 KiB less a
/// little.
const KEPT_OUTPUT_MAX: usize = 256 << 10;

thread_local! {
    /// This thread's output buffer between one-shot calls (empty, with capacity).
    static OUTPUT: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's output buffer, empty: a one-shot call's output is copied
/// into a new `bytes` object anyway, so the buffer the device writes into is kept for the
/// thread's next call (up to [`KEPT_OUTPUT_MAX`] bytes of it) instead of being allocated
/// and freed each time, which costs a small call more than the copy.
fn with_output_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    // Taken, not borrowed: a call that came back here (it cannot: `f` runs no Python code)
    // would only find no buffer kept.
    let mut buf = OUTPUT.take();
    let r = f(&mut buf);
    if buf.capacity() <= KEPT_OUTPUT_MAX {
        buf.clear();
        OUTPUT.set(buf);
    }
    r
}

/// Compresses any bytes-like object into one complete stream of ``format``.
///
/// ``level`` is 1 (fastest) .. 9 (smallest), or -1 for the default (6). An int second
/// argument is the level, in the order of ``zlib.compress`` and ``gzip.compress``:
/// ``compress(data, 9)`` is gzip at level 9. The GIL is released while the device works.
/// The output decodes with ``zlib.decompress`` (zlib; raw deflate with ``wbits=-15``) and
/// ``gzip.decompress``.
#[pyfunction]
#[pyo3(signature = (data, format = FormatArg::Name("gzip"), level = -1))]
#[pyo3(text_signature = "(data, format='gzip', level=-1)")]
pub fn compress<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    format: FormatArg<'_>,
    level: i32,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(py, || {
        let (t, level) = match format {
            FormatArg::Name(name) => (parse_format(py, name)?, level),
            FormatArg::Int(_) if level != -1 => {
                return Err(PyTypeError::new_err(
                    "compress() got the level twice (an int second argument is it)",
                ))
            }
            // zlib's and gzip's order: the level second (out of range: a bad level).
            FormatArg::Int(l) => (wd_core::Format::Gzip, i32::try_from(l).unwrap_or(i32::MAX)),
        };
        let lvl = parse_level(py, level)?;
        // WARPDRIVE_DEVICE is read (and a bad value refused) where the core takes a queue.
        with_output_buffer(|out| {
            with_input(py, data, |d| wd_core::zip::compress_into(d, t, lvl, out))?.py(py)?;
            Ok(PyBytes::new(py, out))
        })
    })
}

/// Checks a Python `max_length` (None: no limit).
pub fn parse_max_length(py: Python<'_>, max_length: Option<i64>) -> PyResult<Option<usize>> {
    match max_length {
        None => Ok(None),
        Some(n) if n < 0 => Err(bad_request(
            py,
            format!("max_length must be >= 0 (or None: no limit), not {n}"),
        )),
        Some(n) => Ok(Some(
            usize::try_from(n).map_err(|_| overflow("max_length is too large"))?,
        )),
    }
}

/// An `io::Write` that keeps what it is given as pieces, so that the final `bytes` object
/// can be filled piece by piece while the pieces are freed (the peak is the output plus
/// one piece, not twice the output).
#[derive(Default)]
struct Pieces {
    parts: Vec<Vec<u8>>,
    len: usize,
}

impl Write for Pieces {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.parts.push(buf.to_vec());
        self.len += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `bytes` object of the pieces' concatenation, freeing each piece once copied.
fn pieces_to_bytes(py: Python<'_>, p: Pieces) -> PyResult<Bound<'_, PyBytes>> {
    let len = isize::try_from(p.len).map_err(|_| overflow("output too large for bytes"))?;
    // SAFETY: a null source asks CPython for an uninitialised bytes object of `len` bytes
    // (its pages are not touched until written, unlike `PyBytes::new_with`, which zeroes
    // them); the GIL is held. A null result is an exception, fetched below.
    let obj = unsafe { pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `obj` is a new, owned reference to a bytes object.
    let b = unsafe { Bound::from_owned_ptr(py, obj) }.cast_into::<PyBytes>()?;
    // SAFETY: the object is new and not yet visible to any other code, so writing its
    // `len` bytes of storage (`PyBytes_AsString` points at them) is the initialisation
    // CPython expects of a bytes object made from a null source.
    let dst = unsafe { pyo3::ffi::PyBytes_AsString(b.as_ptr()) }.cast::<u8>();
    // Last piece first: the allocator gets memory back from the top of its heap as the
    // pieces are freed (freed from the bottom, it could keep all of them until the end).
    // Other allocations may sit above the pieces, so every 8 MiB the freed pages are also
    // handed back explicitly: the peak stays about the output, not twice it.
    let mut end = p.len;
    let mut freed = 0;
    for part in p.parts.into_iter().rev() {
        end -= part.len();
        // SAFETY: the parts add up to `len` bytes, so `end..end + part.len()` lies inside
        // the object's storage, which does not overlap `part`.
        unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), dst.add(end), part.len()) };
        freed += part.len();
        drop(part);
        if freed >= 8 << 20 {
            freed = 0;
            release_free_heap();
        }
    }
    Ok(b)
}

/// Returns the heap's free pages to the system: glibc's `malloc_trim` also releases free
/// pages in the middle of its heaps, not only at their top. (A glibc function, not a system
/// call: rustix has no wrapper for it, so libc it is.)
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks the allocator's own free lists under
    // the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Decompresses one stream of ``format`` (gzip: one or more members, with zero padding
/// allowed between and after them). ``format="auto"`` tells gzip from zlib by the first
/// byte; an int is zlib's ``wbits`` (15 zlib, 31 gzip, -15 raw deflate, 47 automatic; a
/// smaller zlib window refuses a header that states a larger one, as zlib does).
///
/// Decoding accepts exactly what zlib accepts. Invalid input raises a subclass of
/// :class:`BadDataError` (a ``ValueError`` and a ``zlib.error``) that says what is wrong:
/// :class:`NotCompressedError`, :class:`BadHeaderError`, :class:`TruncatedDataError` (also
/// an ``EOFError``), :class:`CorruptDataError`, :class:`ChecksumError`,
/// :class:`TrailingGarbageError` (those the ``gzip`` module calls a bad file are also
/// ``gzip.BadGzipFile``).
///
/// ``max_length``: the most bytes of output to accept (None: no limit). An input that
/// decodes to more raises :class:`OutputLimitError` (a ``ValueError``), and memory stays
/// within about ``max_length`` plus a few MiB, so untrusted input cannot exhaust memory.
/// The GIL is released while the device works.
#[pyfunction]
#[pyo3(signature = (data, format = FormatArg::Name("gzip"), max_length = None))]
#[pyo3(text_signature = "(data, format='gzip', max_length=None)")]
pub fn decompress<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    format: FormatArg<'_>,
    max_length: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(py, || {
        let window = window_bits(&format);
        let t = parse_format_arg(py, format, true)?;
        let max = parse_max_length(py, max_length)?;
        // WARPDRIVE_DEVICE is read (and a bad value refused) where the core takes a queue.
        with_output_buffer(|out| {
            let streamed = with_input(py, data, |d| {
                let t = t.unwrap_or_else(|| detect_format(d));
                wd_core::zip::check_window(t, window, d)?;
                wd_core::zip::decompress_into(d, t, max, out, Pieces::default())
            })?
            .py(py)?;
            match streamed {
                None => Ok(PyBytes::new(py, out)),
                Some(p) => pieces_to_bytes(py, p),
            }
        })
    })
}

/// `memlock_fits(kind, input_len, space) -> bool`: whether one request of `input_len`
/// bytes into a buffer of `space` bytes may run as it is on a queue of device `kind`
/// (`Queue.kind`: `soft` or `vfio`), under the process's locked-memory limit (see
/// `wd_core::memlock::single_request_fits`).
#[pyfunction]
pub fn memlock_fits(py: Python<'_>, kind: &str, input_len: usize, space: usize) -> PyResult<bool> {
    let kind = kind.parse().py(py)?;
    Ok(wd_core::memlock::single_request_fits(
        kind, input_len, space,
    ))
}

/// `compress_bound(n) -> int`: the largest compressed size of `n` bytes (any format).
/// `OverflowError` if that does not fit the platform's size type.
#[pyfunction]
pub fn compress_bound(n: usize) -> PyResult<usize> {
    wd_core::zip::checked_compress_bound(n)
        .ok_or_else(|| overflow(format!("compress_bound({n}) does not fit a size")))
}

/// Bytes `start..end` of a sequence of bytes (a memoryview, `bytes`, ...), clamped to its
/// length, copied: only that part is read.
fn bytes_part(data: &Bound<'_, PyAny>, start: usize, end: usize) -> PyResult<Vec<u8>> {
    let n = data.len()?;
    let (start, end) = (start.min(n), end.min(n).max(start.min(n)));
    let part = data.get_item(pyo3::types::PySlice::new(
        data.py(),
        start as isize,
        end as isize,
        1,
    ))?;
    crate::buf::byte_buffer(&part)?.to_vec(data.py())
}
