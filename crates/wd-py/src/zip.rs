//! Whole-buffer and streaming compression with the GIL released while the device works.
//!
//! The policy is the core's (`wd_core::zip::compress` and `decompress_into`): an input of
//! one request runs on an idle queue of the process's pool, the device reading the caller's
//! buffer in place where it can (the soft device; see `Queue::run_borrowed`); larger inputs
//! go through the core's `compress_stream`/`decompress_stream`, which spread pieces over
//! several queues (compress) and keep memory bounded (both). This module only lends the
//! Python buffer without the GIL and builds the `bytes` result.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wd_core::zip::{Decompressed, Format, ZipOptions};

use crate::domain::{parse_device, parse_format, parse_level};
use crate::errors::{bad_request, exception, guard, overflow, to_py, IntoPyResult};

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

/// `compress(data, format="gzip", level=-1) -> bytes`: one complete stream.
#[pyfunction]
#[pyo3(signature = (data, format = "gzip", level = -1))]
pub fn compress<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    format: &str,
    level: i32,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(py, || {
        let t = parse_format(py, format)?;
        let lvl = parse_level(py, level)?;
        // Checks WARPDRIVE_DEVICE up front: the core's pool follows it.
        parse_device(py, None)?;
        let out = with_input(py, data, |d| wd_core::zip::compress(d, t, lvl))?.py(py)?;
        Ok(PyBytes::new(py, &out))
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
/// pages in the middle of its heaps, not only at their top.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks the allocator's own free lists under
    // the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `decompress(data, format="gzip", max_length=None) -> bytes`. gzip input may have several
/// members. More than `max_length` bytes of output raise `OutputLimitError`.
#[pyfunction]
#[pyo3(signature = (data, format = "gzip", max_length = None))]
pub fn decompress<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    format: &str,
    max_length: Option<i64>,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(py, || {
        let t = parse_format(py, format)?;
        let max = parse_max_length(py, max_length)?;
        // Checks WARPDRIVE_DEVICE up front: the core's pool follows it.
        parse_device(py, None)?;
        let out = with_input(py, data, |d| {
            wd_core::zip::decompress_into(d, t, max, Pieces::default())
        })?
        .py(py)?;
        match out {
            Decompressed::One(v) => Ok(PyBytes::new(py, &v)),
            Decompressed::Streamed(p) => pieces_to_bytes(py, p),
        }
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

/// `_output_guess(data, format, max_length=None) -> int`: the output space a one-request
/// decompression of `data` starts with (the asyncio API's first request).
#[pyfunction]
#[pyo3(signature = (data, format, max_length = None))]
pub fn _output_guess(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    format: &str,
    max_length: Option<i64>,
) -> PyResult<usize> {
    let t = parse_format(py, format)?;
    let cap = parse_max_length(py, max_length)?.map_or(usize::MAX, |m| m.saturating_add(1));
    // Only the magic bytes and the trailer matter.
    let n = data.len()?;
    let head = bytes_part(data, 0, 2)?;
    let tail = bytes_part(data, n.saturating_sub(4), n)?;
    Ok(wd_core::zip::output_guess_from(n, &head, &tail, t).min(cap))
}

/// `_decode_error(head, format, status) -> Exception`: the exception for a stream that
/// began with `head` and that the device stopped with `status` (asyncio API).
#[pyfunction]
pub fn _decode_error(
    py: Python<'_>,
    head: &Bound<'_, PyAny>,
    format: &str,
    status: u8,
) -> PyResult<Py<PyAny>> {
    let t = parse_format(py, format)?;
    let v = bytes_part(head, 0, 4096)?;
    let e = match wd_core::abi::Status::from_wire(status) {
        Some(s) => wd_core::zip::stream_error(t, &v, s),
        None => wd_core::Error::DeviceStatus { status },
    };
    Ok(exception(py, e))
}

/// `_after_stream(rest, format) -> int | None`: after a complete stream, None if `rest`
/// (everything after it) is empty or zero padding; else the zero bytes to skip before the
/// next gzip member. Raises `TrailingGarbageError` for anything else (asyncio API).
#[pyfunction]
pub fn _after_stream(
    py: Python<'_>,
    rest: &Bound<'_, PyAny>,
    format: &str,
) -> PyResult<Option<usize>> {
    use wd_core::zip::After;
    let f = parse_format(py, format)?;
    // Zero padding can be long: count it window by window, then look at what follows.
    let n = rest.len()?;
    let mut zeros = 0usize;
    if f == Format::Gzip {
        while zeros < n {
            let w = bytes_part(rest, zeros, zeros + (64 << 10))?;
            let z = w.iter().take_while(|&&b| b == 0).count();
            zeros += z;
            if z < w.len() {
                break;
            }
        }
    }
    let mut probe = vec![0u8; zeros.min(1)];
    probe.extend(bytes_part(rest, zeros, zeros + 2)?);
    match wd_core::zip::after_stream(f, &probe) {
        After::End => Ok(None),
        After::Member { .. } => Ok(Some(zeros)),
        After::Garbage => Err(to_py(
            py,
            wd_core::Error::data(wd_core::error::DataErrorKind::TrailingGarbage, ""),
        )),
    }
}

/// `_output_limit_error(max_length) -> Exception` (asyncio API).
#[pyfunction]
pub fn _output_limit_error(py: Python<'_>, max_length: u64) -> Py<PyAny> {
    exception(py, wd_core::zip::output_limit(max_length))
}

/// `_retry_output_room(room, left, max_length) -> int | None`: the room of a one-request
/// decompression's next try after one of `room` bytes ran out, or None when the rest is to
/// be decoded as a stream (`wd_core::zip::retry_output_room`); raises `OutputLimitError`
/// when the output is already over `left` (asyncio API).
#[pyfunction]
#[pyo3(signature = (room, left, max_length))]
pub fn _retry_output_room(
    py: Python<'_>,
    room: usize,
    left: Option<usize>,
    max_length: Option<u64>,
) -> PyResult<Option<usize>> {
    // Without a limit (`left` None) there is no limit to name.
    wd_core::zip::retry_output_room(room, left, max_length.unwrap_or(0)).py(py)
}

/// Shared state of a stream between Python file objects and the core.
#[derive(Clone)]
struct Bridge {
    /// The first Python exception raised by a callback; the stream stops at the next I/O.
    err: Arc<Mutex<Option<PyErr>>>,
}

impl Bridge {
    fn new() -> Bridge {
        Bridge {
            err: Arc::new(Mutex::new(None)),
        }
    }

    fn failed(&self) -> bool {
        self.err.lock().map(|e| e.is_some()).unwrap_or(true)
    }

    /// Records `e` and returns the I/O error that stops the core.
    fn fail(&self, e: PyErr) -> io::Error {
        if let Ok(mut g) = self.err.lock() {
            g.get_or_insert(e);
        }
        stopped()
    }

    fn take(&self) -> Option<PyErr> {
        self.err.lock().ok().and_then(|mut g| g.take())
    }
}

fn stopped() -> io::Error {
    io::Error::other("stopped by a Python exception")
}

/// `io::Read` over a Python object with `read(n) -> bytes`.
struct PyReader {
    obj: Py<PyAny>,
    bridge: Bridge,
}

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.bridge.failed() {
            return Err(stopped());
        }
        Python::attach(|py| {
            let r = py.check_signals().and_then(|_| {
                let b = self.obj.bind(py).call_method1("read", (buf.len(),))?;
                let pb = PyBuffer::<u8>::get(&b)?;
                let n = pb.len_bytes();
                if n > buf.len() {
                    return Err(pyo3::exceptions::PyValueError::new_err(
                        "read(n) returned more than n bytes",
                    ));
                }
                pb.copy_to_slice(py, &mut buf[..n])?;
                Ok(n)
            });
            r.map_err(|e| self.bridge.fail(e))
        })
    }
}

/// `io::Write` over a Python object with `write(bytes)`.
struct PyWriter {
    obj: Py<PyAny>,
    bridge: Bridge,
}

impl Write for PyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.bridge.failed() {
            return Err(stopped());
        }
        Python::attach(|py| {
            let r = py.check_signals().and_then(|_| {
                let o = self.obj.bind(py);
                let mut off = 0;
                while off < buf.len() {
                    let chunk = PyBytes::new(py, &buf[off..]);
                    let n = o.call_method1("write", (chunk,))?;
                    // Raw files may write less; buffered ones return None or the length.
                    let left = buf.len() - off;
                    off += if n.is_none() {
                        left
                    } else {
                        match n.extract::<usize>()? {
                            // Nothing written (a non-blocking file): retrying could spin
                            // forever.
                            0 => {
                                return Err(pyo3::exceptions::PyBlockingIOError::new_err(
                                    "write() wrote nothing",
                                ))
                            }
                            k if k > left => {
                                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                                    "write() returned {k}, more than the {left} bytes given"
                                )))
                            }
                            k => k,
                        }
                    };
                }
                Ok(())
            });
            r.map_err(|e| self.bridge.fail(e))
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn progress_fn(cb: Option<Py<PyAny>>, bridge: Bridge) -> impl FnMut(u64, u64) + Send {
    move |i, o| {
        if let Some(cb) = &cb {
            if bridge.failed() {
                return;
            }
            Python::attach(|py| {
                if let Err(e) = cb.bind(py).call1((i, o)) {
                    bridge.fail(e);
                }
            });
        }
    }
}

fn finish(
    py: Python<'_>,
    bridge: &Bridge,
    r: wd_core::Result<wd_core::zip::StreamStats>,
) -> PyResult<(u64, u64)> {
    // A Python exception (Ctrl-C, a failing write) is the real cause of a stop.
    if let Some(e) = bridge.take() {
        return Err(e);
    }
    let st = r.py(py)?;
    Ok((st.bytes_in, st.bytes_out))
}

/// `compress_stream(src, dst, format="gzip", level=-1, progress=None, chunk_size=1 MiB,
/// queues=None) -> (bytes_in, bytes_out)`: compresses everything `src.read(n)` yields into
/// `dst.write(b)` as one stream, in bounded memory. `progress(bytes_in, bytes_out)` is
/// called after each piece. `queues`: how many queues the pieces are spread over (default:
/// one per core, at most 4). `name` and `mtime`: the gzip header's file name and
/// modification time (none by default). `input_size` (gzip, with `on_index`): the input's
/// size, for room in the header for its piece index; at the end `on_index(offset, data)` is
/// called with what to write at `offset` of the output, by a caller that can go back in it
/// (a regular file). See `wd_core::pieces`.
#[pyfunction]
#[pyo3(signature = (src, dst, format = "gzip", level = -1, progress = None, chunk_size = 1 << 20, queues = None, *, name = None, mtime = 0, input_size = None, on_index = None))]
#[allow(clippy::too_many_arguments)] // the Python signature
pub fn compress_stream(
    py: Python<'_>,
    src: Py<PyAny>,
    dst: Py<PyAny>,
    format: &str,
    level: i32,
    progress: Option<Py<PyAny>>,
    chunk_size: usize,
    queues: Option<usize>,
    name: Option<Vec<u8>>,
    mtime: u32,
    input_size: Option<u64>,
    on_index: Option<Py<PyAny>>,
) -> PyResult<(u64, u64)> {
    guard(py, || {
        let t = parse_format(py, format)?;
        let lvl = parse_level(py, level)?;
        if !(4096..=(64 << 20)).contains(&chunk_size) {
            return Err(bad_request(py, "chunk_size must be 4 KiB .. 64 MiB"));
        }
        let defaults = ZipOptions::default();
        let queues = match queues {
            None => defaults.queues,
            Some(n) if (1..=wd_core::zip::MAX_QUEUES).contains(&n) => n,
            Some(_) => {
                let most = wd_core::zip::MAX_QUEUES;
                return Err(bad_request(py, format!("queues must be 1 .. {most}")));
            }
        };
        // Checks WARPDRIVE_DEVICE up front: the core's opener follows it.
        parse_device(py, None)?;
        let (bridge, mut r, mut w, mut p) = stream_ends(src, dst, progress);
        let opts = defaults
            .format(t)
            .level(lvl)
            .chunk_size(chunk_size)
            .queues(queues)
            .gzip(wd_core::zip::GzipHeader { name, mtime })
            .index_pieces(match (&on_index, input_size) {
                (Some(_), Some(n)) => usize::try_from(n.div_ceil(chunk_size as u64)).unwrap_or(0),
                _ => 0,
            });
        let res = py.detach(|| {
            let open = wd_core::zip::default_opener;
            wd_core::zip::compress_stream_indexed(&mut r, &mut w, &opts, &open, &mut p)
        });
        let (res, index) = match res {
            Ok((st, ix)) => (Ok(st), ix),
            Err(e) => (Err(e), None),
        };
        let done = finish(py, &bridge, res)?;
        if let (Some(cb), Some(ix)) = (on_index, index) {
            cb.bind(py)
                .call1((ix.offset, PyBytes::new(py, &ix.bytes)))?;
        }
        Ok(done)
    })
}

/// `decompress_file_pieces(path, dst, progress=None, queues=None) -> (bytes_in, bytes_out)
/// | None`: a gzip file with a valid piece index (WarpDrive's own output) decoded piece by
/// piece on several queues at once, written in order to `dst.write(b)` in bounded memory.
/// `None` (before anything is written) when the file has no index; `None` also when its
/// pieces do not decode as the index says, after part of the output may have been
/// written: the caller discards it and decodes the file as one stream
/// (`decompress_stream`), which also reports any damage.
#[pyfunction]
#[pyo3(signature = (path, dst, progress = None, queues = None))]
pub fn decompress_file_pieces(
    py: Python<'_>,
    path: std::path::PathBuf,
    dst: Py<PyAny>,
    progress: Option<Py<PyAny>>,
    queues: Option<usize>,
) -> PyResult<Option<(u64, u64)>> {
    guard(py, || {
        parse_device(py, None)?;
        let queues = queues
            .unwrap_or(ZipOptions::default().queues)
            .clamp(1, wd_core::zip::MAX_QUEUES);
        let (f, t) = match py.detach(|| -> io::Result<_> {
            let f = std::fs::File::open(&path)?;
            let t = wd_core::pieces::read_file_index(&f)?;
            Ok((f, t))
        }) {
            Ok((f, Some(t))) => (f, t),
            Ok((_, None)) => return Ok(None),
            Err(e) => return Err(to_py(py, wd_core::Error::io("reading the input", e))),
        };
        let bridge = Bridge::new();
        let mut w = PyWriter {
            obj: dst,
            bridge: bridge.clone(),
        };
        let mut p = progress_fn(progress, bridge.clone());
        let total_in = f.metadata().map(|m| m.len()).unwrap_or(0);
        let res = py.detach(|| {
            let open = wd_core::zip::default_opener;
            wd_core::pieces::decode_file_pieces(&f, &t, &mut w, queues, &open, &mut p)
        });
        if let Some(e) = bridge.take() {
            return Err(e);
        }
        Ok(res.py(py)?.then_some((total_in, t.total)))
    })
}

/// The reader, writer and progress callback of a stream job over Python objects, all
/// reporting through one bridge.
fn stream_ends(
    src: Py<PyAny>,
    dst: Py<PyAny>,
    progress: Option<Py<PyAny>>,
) -> (Bridge, PyReader, PyWriter, impl FnMut(u64, u64) + Send) {
    let bridge = Bridge::new();
    let r = PyReader {
        obj: src,
        bridge: bridge.clone(),
    };
    let w = PyWriter {
        obj: dst,
        bridge: bridge.clone(),
    };
    let p = progress_fn(progress, bridge.clone());
    (bridge, r, w, p)
}

/// `decompress_stream(src, dst, format="gzip", progress=None, max_length=None) ->
/// (bytes_in, bytes_out)`: the inverse of `compress_stream`; gzip input may have several
/// members. At most `max_length` bytes are written: a stream that decodes to more raises
/// `OutputLimitError` after writing the first `max_length`.
#[pyfunction]
#[pyo3(signature = (src, dst, format = "gzip", progress = None, max_length = None))]
pub fn decompress_stream(
    py: Python<'_>,
    src: Py<PyAny>,
    dst: Py<PyAny>,
    format: &str,
    progress: Option<Py<PyAny>>,
    max_length: Option<i64>,
) -> PyResult<(u64, u64)> {
    guard(py, || {
        let t = parse_format(py, format)?;
        let max = parse_max_length(py, max_length)?;
        // Checks WARPDRIVE_DEVICE up front: the core's opener follows it.
        parse_device(py, None)?;
        let (bridge, mut r, mut w, mut p) = stream_ends(src, dst, progress);
        let res = py.detach(|| {
            let open = wd_core::zip::default_opener;
            wd_core::zip::decompress_stream_limited(
                &mut r,
                &mut w,
                t,
                max.map(|m| m as u64),
                &open,
                &mut p,
            )
        });
        finish(py, &bridge, res)
    })
}

/// The value in a Mutex held only for `Sync`, reached through `&mut` (no locking; a
/// poisoned lock still holds a usable value: the objects keep no invariant across a panic
/// that a later call could break, since a panic is reported and the call's output dropped).
fn get<T>(m: &mut Mutex<T>) -> &mut T {
    m.get_mut().unwrap_or_else(|e| e.into_inner())
}

/// A format argument of the incremental objects: a format name, or `"auto"` (gzip or zlib,
/// told by the first byte; decompression only).
pub(crate) fn parse_format_or_auto(py: Python<'_>, format: &str) -> PyResult<Option<Format>> {
    if format.eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        parse_format(py, format).map(Some)
    }
}

/// `_Compressor(format, level, name=None, mtime=0, queues=None)`: incremental compression
/// into one stream (`wd_core::codec::Deflater`), its pieces spread over up to `queues`
/// queues (default: as `compress_stream`); the base of `warpdrive.Compress` and of the file
/// object's writer.
#[pyclass(name = "_Compressor", module = "warpdrive._core")]
pub struct PyCompressor {
    // A Mutex only for `Sync` (pyclass); `&mut self` methods reach it with `get_mut`.
    inner: Mutex<wd_core::codec::Deflater>,
}

#[pymethods]
impl PyCompressor {
    #[new]
    #[pyo3(signature = (format = "gzip", level = -1, name = None, mtime = 0, queues = None))]
    fn new(
        py: Python<'_>,
        format: &str,
        level: i32,
        name: Option<Vec<u8>>,
        mtime: u32,
        queues: Option<usize>,
    ) -> PyResult<Self> {
        let t = parse_format(py, format)?;
        let lvl = parse_level(py, level)?;
        parse_device(py, None)?;
        let header = wd_core::zip::GzipHeader { name, mtime };
        let queues = queues.unwrap_or(ZipOptions::default().queues);
        let inner = wd_core::codec::Deflater::new(t, lvl, header, queues).py(py)?;
        Ok(PyCompressor {
            inner: Mutex::new(inner),
        })
    }

    /// `compress(data) -> bytes`: takes `data`; returns the output of every whole piece it
    /// completed (often empty).
    fn compress<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        guard(py, || {
            let inner = get(&mut self.inner);
            let out = with_input(py, data, |d| {
                let mut out = Vec::new();
                inner.compress(d, &mut out).map(|_| out)
            })?
            .py(py)?;
            Ok(PyBytes::new(py, &out))
        })
    }

    /// `flush(finish) -> bytes`: everything taken so far as decodable output; `finish` also
    /// ends the stream (last block and trailer).
    fn flush<'py>(&mut self, py: Python<'py>, finish: bool) -> PyResult<Bound<'py, PyBytes>> {
        use wd_core::codec::Flush;
        guard(py, || {
            let mode = if finish { Flush::Finish } else { Flush::Sync };
            let inner = get(&mut self.inner);
            let out = py
                .detach(|| {
                    let mut out = Vec::new();
                    inner.flush(mode, &mut out).map(|_| out)
                })
                .py(py)?;
            Ok(PyBytes::new(py, &out))
        })
    }

    /// True once `flush(True)` has ended the stream.
    #[getter]
    fn finished(&mut self) -> bool {
        get(&mut self.inner).is_finished()
    }
}

impl Drop for PyCompressor {
    fn drop(&mut self) {
        let inner = get(&mut self.inner);
        crate::buf::detach_unless_finalizing(|| inner.close());
    }
}

impl Drop for PyDecompressor {
    fn drop(&mut self) {
        let inner = get(&mut self.inner);
        crate::buf::detach_unless_finalizing(|| inner.close());
    }
}

/// `_Decompressor(format)`: incremental decompression of one stream
/// (`wd_core::codec::Inflater`); `format` may be `"auto"` (gzip or zlib by the first byte).
#[pyclass(name = "_Decompressor", module = "warpdrive._core")]
pub struct PyDecompressor {
    // A Mutex only for `Sync` (pyclass); `&mut self` methods reach it with `get_mut`.
    inner: Mutex<wd_core::codec::Inflater>,
}

#[pymethods]
impl PyDecompressor {
    #[new]
    #[pyo3(signature = (format = "gzip"))]
    fn new(py: Python<'_>, format: &str) -> PyResult<Self> {
        let t = parse_format_or_auto(py, format)?;
        parse_device(py, None)?;
        Ok(PyDecompressor {
            inner: Mutex::new(wd_core::codec::Inflater::new(t)),
        })
    }

    /// `decompress(data, max_length=None) -> (bytes, consumed)`: decodes from `data`,
    /// returning at most `max_length` bytes (None: no limit) and how many input bytes were
    /// used. Stops at the end of the stream.
    #[pyo3(signature = (data, max_length = None))]
    fn decompress<'py>(
        &mut self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        max_length: Option<i64>,
    ) -> PyResult<(Bound<'py, PyBytes>, usize)> {
        guard(py, || {
            let max = parse_max_length(py, max_length)?;
            let inner = get(&mut self.inner);
            let (out, r) = with_input(py, data, |d| {
                let mut out = Vec::new();
                inner.inflate(d, &mut out, max).map(|r| (out, r))
            })?
            .py(py)?;
            Ok((PyBytes::new(py, &out), r.consumed))
        })
    }

    /// True once the stream has ended.
    #[getter]
    fn finished(&mut self) -> bool {
        get(&mut self.inner).is_finished()
    }

    /// True when output that did not fit `max_length` waits in the decoder.
    #[getter]
    fn pending(&mut self) -> bool {
        get(&mut self.inner).has_pending_output()
    }

    /// The stream's format (None while `"auto"` has seen no byte).
    #[getter]
    fn format(&mut self) -> Option<&'static str> {
        get(&mut self.inner).format().map(Format::name)
    }

    /// `(name, mtime)` of the gzip header once read (`name` None when absent), else None.
    #[getter]
    fn gzip_header(&mut self) -> Option<(Option<Vec<u8>>, u32)> {
        get(&mut self.inner)
            .gzip_header()
            .map(|h| (h.name, h.mtime))
    }

    /// `truncated_error() -> Exception | None`: the error for a stream that ends here
    /// unfinished (`TruncatedDataError`), None if it ended or nothing was given.
    fn truncated_error(&mut self, py: Python<'_>) -> Option<Py<PyAny>> {
        get(&mut self.inner).truncated().map(|e| exception(py, e))
    }
}

/// `crc32(data, value=0) -> int`: CRC-32 of `data`, continuing from `value` (as zlib's).
#[pyfunction]
#[pyo3(signature = (data, value = 0))]
pub fn crc32(py: Python<'_>, data: &Bound<'_, PyAny>, value: u32) -> PyResult<u32> {
    with_input(py, data, |d| wd_core::zip::crc32(value, d))
}

/// `adler32(data, value=1) -> int`: Adler-32 of `data`, continuing from `value` (as zlib's).
#[pyfunction]
#[pyo3(signature = (data, value = 1))]
pub fn adler32(py: Python<'_>, data: &Bound<'_, PyAny>, value: u32) -> PyResult<u32> {
    with_input(py, data, |d| wd_core::zip::adler32(value, d))
}

/// `crc32_combine(crc1, crc2, len2) -> int`: CRC-32 of two pieces joined, from theirs.
#[pyfunction]
pub fn crc32_combine(crc1: u32, crc2: u32, len2: u64) -> u32 {
    wd_core::zip::crc32_combine(crc1, crc2, len2)
}

/// `adler32_combine(adler1, adler2, len2) -> int`: Adler-32 of two pieces joined.
#[pyfunction]
pub fn adler32_combine(adler1: u32, adler2: u32, len2: u64) -> u32 {
    wd_core::zip::adler32_combine(adler1, adler2, len2)
}

/// `_detect_format(data) -> str`: the format `"auto"` decodes `data` as.
#[pyfunction]
pub fn _detect_format(data: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    let head = bytes_part(data, 0, 1)?;
    Ok(head
        .first()
        .map_or(Format::Gzip, |&b| wd_core::zip::detect_format(b))
        .name())
}
