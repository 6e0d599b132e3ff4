//! The incremental objects `_Compressor` and `_Decompressor` (the bases of
//! `warpdrive.Compress`, `warpdrive.Decompress` and the file objects).

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wd_core::zip::{Format, ZipOptions};

use super::{parse_max_length, with_input};
use crate::domain::{
    parse_device, parse_format, parse_format_arg, parse_level, window_bits, FormatArg,
};
use crate::errors::{exception, guard, IntoPyResult};

/// The value in a Mutex held only for `Sync`, reached through `&mut` (no locking; a
/// poisoned lock still holds a usable value: the objects keep no invariant across a panic
/// that a later call could break, since a panic is reported and the call's output dropped).
fn get<T>(m: &mut Mutex<T>) -> &mut T {
    m.get_mut().unwrap_or_else(|e| e.into_inner())
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
/// (`wd_core::codec::Inflater`); `format` is a format name, `"auto"` (gzip or zlib by the
/// first byte) or zlib's `wbits`, whose window limit is kept too.
#[pyclass(name = "_Decompressor", module = "warpdrive._core")]
pub struct PyDecompressor {
    // A Mutex only for `Sync` (pyclass); `&mut self` methods reach it with `get_mut`.
    inner: Mutex<wd_core::codec::Inflater>,
}

#[pymethods]
impl PyDecompressor {
    #[new]
    #[pyo3(signature = (format = FormatArg::Name("gzip")))]
    fn new(py: Python<'_>, format: FormatArg<'_>) -> PyResult<Self> {
        let window = window_bits(&format);
        let t = parse_format_arg(py, format, true)?;
        parse_device(py, None)?;
        let inner = wd_core::codec::Inflater::new(t).with_window_bits(window);
        Ok(PyDecompressor {
            inner: Mutex::new(inner),
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
