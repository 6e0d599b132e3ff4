//! # wd-py: the `warpdrive._core` Python extension module
//!
//! A thin, typed layer over `wd-core`. The Python package `warpdrive` (in `python/`) builds
//! its public API on these classes and functions:
//!
//! - [`buf::PyDmaBuf`] (`DmaBuf`): memory shared with the device, usable from Python through
//!   the buffer protocol while Python owns it. Sending it *moves* it into the queue: the Python
//!   object becomes invalid, and the completion hands back a new object.
//! - [`queue::PyQueue`] (`Queue`): one device queue, with non-blocking calls an event loop
//!   can drive (`try_recv`, `recv_many`, `arm_interrupt`, `fileno`) and a blocking `recv`
//!   that releases the GIL while it waits.
//! - [`zip`]: whole-buffer and streaming `compress`/`decompress`, with the GIL released while
//!   the device works.
//!
//! Errors come out as the exception classes of `warpdrive.errors` ([`errors`]).
//!
//! Fork: a queue, a buffer or a cached queue made before `fork()` is never touched by the
//! child (every object records the fork generation it was made in, see [`domain`]).

#![warn(missing_docs)]

use pyo3::prelude::*;

pub mod buf;
pub mod domain;
pub mod errors;
pub mod input;
pub mod queue;
pub mod zip;

/// The extension module `warpdrive._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_OUTSTANDING", wd_core::abi::MAX_OUTSTANDING)?;
    // The soft device's engines in this build (no "isa-l" in a wheel built without nasm).
    m.add(
        "ENGINES",
        pyo3::types::PyTuple::new(m.py(), wd_core::engine::ENGINES)?,
    )?;
    add_names(m)?;
    m.add_class::<buf::PyDmaBuf>()?;
    m.add_function(wrap_pyfunction!(buf::_alloc_cached, m)?)?;
    m.add_function(wrap_pyfunction!(buf::_cache_buffer, m)?)?;
    m.add_function(wrap_pyfunction!(buf::_cached_buffers, m)?)?;
    m.add_class::<queue::PyQueue>()?;
    m.add_class::<queue::PyCompletion>()?;
    m.add_class::<queue::PyStats>()?;
    m.add_function(wrap_pyfunction!(zip::compress, m)?)?;
    m.add_function(wrap_pyfunction!(zip::decompress, m)?)?;
    m.add_function(wrap_pyfunction!(zip::compress_stream, m)?)?;
    m.add_function(wrap_pyfunction!(zip::decompress_stream, m)?)?;
    m.add_function(wrap_pyfunction!(zip::decompress_file_pieces, m)?)?;
    m.add_function(wrap_pyfunction!(zip::compress_bound, m)?)?;
    m.add_function(wrap_pyfunction!(zip::_output_guess, m)?)?;
    m.add_function(wrap_pyfunction!(zip::_decode_error, m)?)?;
    m.add_function(wrap_pyfunction!(zip::_after_stream, m)?)?;
    m.add_function(wrap_pyfunction!(zip::_output_limit_error, m)?)?;
    m.add_function(wrap_pyfunction!(zip::_retry_room, m)?)?;
    m.add_function(wrap_pyfunction!(zip::memlock_fits, m)?)?;
    m.add_class::<zip::PyCompressor>()?;
    m.add_class::<zip::PyDecompressor>()?;
    m.add_function(wrap_pyfunction!(zip::crc32, m)?)?;
    m.add_function(wrap_pyfunction!(zip::adler32, m)?)?;
    m.add_function(wrap_pyfunction!(zip::crc32_combine, m)?)?;
    m.add_function(wrap_pyfunction!(zip::adler32_combine, m)?)?;
    m.add_function(wrap_pyfunction!(domain::fork_generation, m)?)?;
    m.add_function(wrap_pyfunction!(domain::_parse_device, m)?)?;
    m.add_function(wrap_pyfunction!(domain::_parse_format, m)?)?;
    m.add_function(wrap_pyfunction!(domain::_list_devices, m)?)?;
    m.add("SYSFS_CLASS_DIR", wd_core::sysfs::CLASS_DIR)?;
    m.add("DEVICE_API", wd_core::sysfs::DEVICE_API)?;
    Ok(())
}

/// The names and numbers the core decides, for `warpdrive.types` (which checks its typing
/// aliases against them): formats, directions, device choices and kinds, the default
/// level, and the device's status codes (`STATUS_<NAME>`).
fn add_names(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use wd_core::abi::{Direction, Status};
    use wd_core::{DeviceChoice, DeviceKind, Format, Level};
    m.add("FORMATS", Format::ALL.map(Format::name))?;
    m.add("DIRECTIONS", Direction::ALL.map(Direction::name))?;
    m.add("DEVICE_CHOICES", DeviceChoice::ALL.map(DeviceChoice::name))?;
    m.add("DEVICE_KINDS", DeviceKind::ALL.map(DeviceKind::name))?;
    m.add("DEFAULT_LEVEL", Level::DEFAULT.requested())?;
    m.add("DEFAULT_LEVEL_VALUE", Level::DEFAULT_VALUE)?;
    m.add("MIN_LEVEL", Level::MIN)?;
    m.add("MAX_LEVEL", Level::MAX)?;
    for s in Status::ALL {
        m.add(format!("STATUS_{}", status_name(s)), s as u8)?;
    }
    Ok(())
}

/// The Python constant name of a status (upper snake case of its Rust name).
fn status_name(s: wd_core::abi::Status) -> String {
    let mut out = String::new();
    for (i, ch) in format!("{s:?}").chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}
