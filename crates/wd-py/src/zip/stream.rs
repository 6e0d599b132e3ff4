//! Stream jobs over Python file objects (`read(n)`, `write(b)`), with the GIL released
//! while the core works and taken back only to call them.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use wd_core::zip::ZipOptions;

use super::parse_max_length;
use crate::domain::{parse_device, parse_format, parse_format_or_auto, parse_level};
use crate::errors::{bad_request, guard, to_py, IntoPyResult};

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
/// members; `"auto"` decodes gzip or zlib, told by the first byte. At most `max_length`
/// bytes are written: a stream that decodes to more raises `OutputLimitError` after
/// writing the first `max_length`.
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
        let t = parse_format_or_auto(py, format)?;
        let max = parse_max_length(py, max_length)?;
        // Checks WARPDRIVE_DEVICE up front: the core's opener follows it.
        parse_device(py, None)?;
        let (bridge, mut r, mut w, mut p) = stream_ends(src, dst, progress);
        let res = py.detach(|| {
            let open = wd_core::zip::default_opener;
            let max = max.map(|m| m as u64);
            match t {
                Some(t) => {
                    wd_core::zip::decompress_stream_limited(&mut r, &mut w, t, max, &open, &mut p)
                }
                None => {
                    let (t, mut all) = wd_core::zip::detect_stream_format(&mut r)?;
                    wd_core::zip::decompress_stream_limited(&mut all, &mut w, t, max, &open, &mut p)
                }
            }
        });
        finish(py, &bridge, res)
    })
}
