//! The helpers of the asyncio API (`warpdrive.aio`): the decisions it takes between the
//! requests it submits itself, made by the core.

use pyo3::prelude::*;
use wd_core::zip::Format;

use super::{bytes_part, parse_max_length};
use crate::domain::parse_format;
use crate::errors::{exception, to_py, IntoPyResult};

/// `_output_guess(data, format, max_length=None) -> int`: the output space a one-request
/// decompression of `data` starts with (the asyncio API's first request), never more than
/// `max_length` allows (`wd_core::zip::room_cap`).
#[pyfunction]
#[pyo3(signature = (data, format, max_length = None))]
pub fn _output_guess(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    format: &str,
    max_length: Option<i64>,
) -> PyResult<usize> {
    let t = parse_format(py, format)?;
    let cap = wd_core::zip::room_cap(parse_max_length(py, max_length)?);
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
            wd_core::Error::data(wd_core::DataErrorKind::TrailingGarbage, ""),
        )),
    }
}

/// `_output_limit_error(max_length) -> Exception` (asyncio API).
#[pyfunction]
pub fn _output_limit_error(py: Python<'_>, max_length: u64) -> Py<PyAny> {
    exception(py, wd_core::zip::output_limit(max_length))
}

/// `_retry_room(room, left, max_length) -> int | None`: the room of a one-request
/// decompression's next try after one of `room` bytes ran out of it or produced more than
/// `left` (the output still allowed), never more than `left` allows; None when the rest is
/// to be decoded as a stream (`wd_core::zip::retry_room`). Raises `OutputLimitError` when
/// the output is already over `left` (asyncio API).
#[pyfunction]
#[pyo3(signature = (room, left, max_length))]
pub fn _retry_room(
    py: Python<'_>,
    room: usize,
    left: Option<usize>,
    max_length: Option<u64>,
) -> PyResult<Option<usize>> {
    // Without a limit (`left` None) there is no limit to name.
    wd_core::zip::retry_room(room, left, max_length.unwrap_or(0)).py(py)
}
