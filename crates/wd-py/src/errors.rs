//! Maps `wd_core::Error` to the exception classes of `warpdrive.errors`.
//!
//! The classes are defined in Python (so that, e.g., `BadDataError` can also be a
//! `ValueError`) and imported once, as typed exceptions (`import_exception!`): raising one
//! looks nothing up by name.

use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::PyTypeInfo;
use wd_core::DataErrorKind;
use wd_core::Error;

/// The exception classes of `warpdrive.errors`, as Rust types.
pub mod exc {
    use pyo3::import_exception;

    import_exception!(warpdrive.errors, QueueFullError);
    import_exception!(warpdrive.errors, WarpDriveTimeoutError);
    import_exception!(warpdrive.errors, DmaFaultError);
    import_exception!(warpdrive.errors, OutputTooSmallError);
    import_exception!(warpdrive.errors, NotCompressedError);
    import_exception!(warpdrive.errors, BadHeaderError);
    import_exception!(warpdrive.errors, TruncatedDataError);
    import_exception!(warpdrive.errors, CorruptDataError);
    import_exception!(warpdrive.errors, ChecksumError);
    import_exception!(warpdrive.errors, TrailingGarbageError);
    import_exception!(warpdrive.errors, OutputLimitError);
    import_exception!(warpdrive.errors, InternalError);
    import_exception!(warpdrive.errors, BadRequestError);
    import_exception!(warpdrive.errors, DeviceStatusError);
    import_exception!(warpdrive.errors, NoDeviceError);
    import_exception!(warpdrive.errors, PermissionDeniedError);
    import_exception!(warpdrive.errors, ShareError);
    import_exception!(warpdrive.errors, MemlockLimitError);
    import_exception!(warpdrive.errors, ForkedError);
    import_exception!(warpdrive.errors, QueueClosedError);
    import_exception!(warpdrive.errors, ProtocolError);
    import_exception!(warpdrive.errors, DeviceIOError);
    import_exception!(warpdrive.errors, BufferMovedError);
}

/// The `warpdrive.errors` class of an error.
fn class_of<'py>(py: Python<'py>, e: &Error) -> Bound<'py, PyType> {
    match e {
        Error::QueueFull => exc::QueueFullError::type_object(py),
        Error::Timeout => exc::WarpDriveTimeoutError::type_object(py),
        Error::DmaFault => exc::DmaFaultError::type_object(py),
        Error::OutputTooSmall => exc::OutputTooSmallError::type_object(py),
        Error::BadData(d) => data_class(py, d.kind()),
        Error::BadRequest(_) => exc::BadRequestError::type_object(py),
        Error::DeviceStatus { .. } => exc::DeviceStatusError::type_object(py),
        Error::NoDevice(_) => exc::NoDeviceError::type_object(py),
        Error::Permission(_) => exc::PermissionDeniedError::type_object(py),
        Error::MemlockLimit { .. } => exc::MemlockLimitError::type_object(py),
        Error::Share(_) => exc::ShareError::type_object(py),
        Error::Forked => exc::ForkedError::type_object(py),
        Error::Closed => exc::QueueClosedError::type_object(py),
        Error::Protocol(_) => exc::ProtocolError::type_object(py),
        Error::Io { .. } => exc::DeviceIOError::type_object(py),
        // A kind of error newer than this binding: a bug here, reported as one.
        _ => exc::InternalError::type_object(py),
    }
}

/// The `warpdrive.errors` class of a decoding error.
pub fn data_class(py: Python<'_>, kind: DataErrorKind) -> Bound<'_, PyType> {
    match kind {
        DataErrorKind::NotCompressed => exc::NotCompressedError::type_object(py),
        DataErrorKind::BadHeader => exc::BadHeaderError::type_object(py),
        DataErrorKind::Truncated => exc::TruncatedDataError::type_object(py),
        DataErrorKind::Corrupt => exc::CorruptDataError::type_object(py),
        DataErrorKind::Checksum => exc::ChecksumError::type_object(py),
        DataErrorKind::TrailingGarbage => exc::TrailingGarbageError::type_object(py),
        DataErrorKind::OutputLimit => exc::OutputLimitError::type_object(py),
        // A kind newer than this binding: a bug here, reported as one.
        _ => exc::InternalError::type_object(py),
    }
}

/// Runs `f`, turning a Rust panic into `warpdrive.errors.InternalError` (a `RuntimeError`)
/// instead of pyo3's `PanicException`, a `BaseException` that `except Exception` misses.
/// The last line of defence: arguments are validated before they reach code that can
/// panic.
pub fn guard<R>(_py: Python<'_>, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(exc::InternalError::new_err(format!(
                "internal error in warpdrive (a bug; please report it): {what}"
            )))
        }
    }
}

/// `OverflowError(msg)`.
pub fn overflow(msg: impl Into<String>) -> PyErr {
    pyo3::exceptions::PyOverflowError::new_err(msg.into())
}

/// The Python exception for a driver error.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let class = class_of(py, &e);
    let msg = e.to_string();
    match &e {
        Error::Io { source, .. } => match source.raw_os_error() {
            // OSError(errno, strerror) fills in `.errno`.
            Some(errno) => PyErr::from_type(class, (errno, msg)),
            None => PyErr::from_type(class, (msg,)),
        },
        Error::DeviceStatus { status } => PyErr::from_type(class, (msg, *status)),
        Error::MemlockLimit { needed, limit } => PyErr::from_type(class, (msg, *needed, *limit)),
        _ => PyErr::from_type(class, (msg,)),
    }
}

/// The Python exception object of a driver error, returned for Python code to raise (the
/// asyncio layer's and the incremental objects' errors are made here too, not raised).
pub fn exception(py: Python<'_>, e: Error) -> Py<PyAny> {
    to_py(py, e).into_value(py).into_any()
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
pub fn bad_request(_py: Python<'_>, msg: impl Into<String>) -> PyErr {
    exc::BadRequestError::new_err(msg.into())
}
