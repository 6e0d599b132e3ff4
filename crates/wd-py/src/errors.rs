//! Maps `wd_core::Error` to the exception classes of `warpdrive.errors`.
//!
//! The classes are defined in Python (so that, e.g., `BadDataError` can also be a
//! `ValueError`) and looked up when an error is raised.

use pyo3::prelude::*;
use wd_core::error::DataErrorKind;
use wd_core::Error;

/// The `warpdrive.errors` class name for an error.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::QueueFull => "QueueFullError",
        Error::Timeout => "WarpDriveTimeoutError",
        Error::DmaFault => "DmaFaultError",
        Error::OutputTooSmall => "OutputTooSmallError",
        Error::BadData(d) => data_class_name(d.kind()),
        Error::BadRequest(_) => "BadRequestError",
        Error::DeviceStatus { .. } => "DeviceStatusError",
        Error::NoDevice(_) => "NoDeviceError",
        Error::Permission(_) => "PermissionDeniedError",
        Error::MemlockLimit { .. } => "MemlockLimitError",
        Error::Share(_) => "ShareError",
        Error::Forked => "ForkedError",
        Error::Closed => "QueueClosedError",
        Error::Protocol(_) => "ProtocolError",
        Error::Io { .. } => "DeviceIOError",
    }
}

/// The `warpdrive.errors` class of a decoding error.
pub fn data_class_name(kind: DataErrorKind) -> &'static str {
    match kind {
        DataErrorKind::NotCompressed => "NotCompressedError",
        DataErrorKind::BadHeader => "BadHeaderError",
        DataErrorKind::Truncated => "TruncatedDataError",
        DataErrorKind::Corrupt => "CorruptDataError",
        DataErrorKind::Checksum => "ChecksumError",
        DataErrorKind::TrailingGarbage => "TrailingGarbageError",
        DataErrorKind::OutputLimit => "OutputLimitError",
    }
}

/// Runs `f`, turning a Rust panic into `warpdrive.errors.InternalError` (a `RuntimeError`)
/// instead of pyo3's `PanicException`, a `BaseException` that `except Exception` misses.
/// The last line of defence: arguments are validated before they reach code that can
/// panic.
pub fn guard<R>(py: Python<'_>, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(new_error(
                py,
                "InternalError",
                (format!(
                    "internal error in warpdrive (a bug; please report it): {what}"
                ),),
            ))
        }
    }
}

/// `OverflowError(msg)`.
pub fn overflow(msg: impl Into<String>) -> PyErr {
    pyo3::exceptions::PyOverflowError::new_err(msg.into())
}

/// Builds an exception of class `name` from `warpdrive.errors` with `args`.
pub fn new_error<'py, A>(py: Python<'py>, name: &str, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let made = py
        .import("warpdrive.errors")
        .and_then(|m| m.getattr(name))
        .and_then(|cls| cls.call1(args));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The Python exception for a driver error.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let name = class_name(&e);
    let msg = e.to_string();
    match &e {
        Error::Io { source, .. } => match source.raw_os_error() {
            // OSError(errno, strerror) fills in `.errno`.
            Some(errno) => new_error(py, name, (errno, msg)),
            None => new_error(py, name, (msg,)),
        },
        Error::DeviceStatus { status } => new_error(py, name, (msg, *status)),
        Error::MemlockLimit { needed, limit } => new_error(py, name, (msg, *needed, *limit)),
        _ => new_error(py, name, (msg,)),
    }
}

/// Extension: `result.map_err(|e| to_py(py, e))` in short.
pub trait IntoPyResult<T> {
    /// Converts the error into its Python exception.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for wd_core::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// `BadRequestError(msg)`.
pub fn bad_request(py: Python<'_>, msg: impl Into<String>) -> PyErr {
    new_error(py, "BadRequestError", (msg.into(),))
}
