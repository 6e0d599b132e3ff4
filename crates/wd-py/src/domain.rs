//! Opening queues, and what a fork child may touch.
//!
//! The core keeps one soft-device address space per process (a fork child gets its own)
//! and marks buffers and queues of a parent as foreign in the child. This module adds the
//! Python-facing parsing of directions and device choices.

use pyo3::prelude::*;
use wd_core::{DeviceChoice, Direction, Format, Level, Queue};

use crate::errors::IntoPyResult;

/// The current fork generation (0 in the process that imported the module, different in
/// every fork child).
pub fn generation() -> u64 {
    wd_core::sys::fork_generation()
}

/// `fork_generation() -> int`: changes in a child after every fork.
#[pyfunction]
pub fn fork_generation() -> u64 {
    generation()
}

/// Parses a direction name (the core's [`Direction`] parser and message).
pub fn parse_direction(py: Python<'_>, s: &str) -> PyResult<Direction> {
    s.parse().py(py)
}

/// Parses a format name (the core's [`Format`] parser and message).
pub fn parse_format(py: Python<'_>, s: &str) -> PyResult<Format> {
    s.parse().py(py)
}

/// Checks a Python compression level (the core's [`Level`]: 1..=9, or -1 for the default).
pub fn parse_level(py: Python<'_>, level: i32) -> PyResult<Level> {
    let l = Level::from(level);
    l.get().py(py)?;
    Ok(l)
}

/// Parses a device choice: `None` follows `WARPDRIVE_DEVICE` (default `auto`); else the
/// core's [`DeviceChoice`] parser.
pub fn parse_device(py: Python<'_>, s: Option<&str>) -> PyResult<DeviceChoice> {
    match s {
        None => DeviceChoice::from_env().py(py),
        Some(s) => s.parse().py(py),
    }
}

/// `_parse_device(device) -> str | None`: checks a `device=` argument the way opening a
/// queue does, without opening anything.
#[pyfunction]
#[pyo3(signature = (device))]
pub fn _parse_device(py: Python<'_>, device: Option<&str>) -> PyResult<Option<&'static str>> {
    match device {
        None => Ok(None),
        Some(s) => Ok(Some(parse_device(py, Some(s))?.name())),
    }
}

/// Opens a queue of `dir` on the chosen device (called without the GIL).
///
/// A missing VFIO device node means there is no device to open: the core reports that as
/// an I/O error (ENOENT); Python users get `NoDeviceError`, which is what it means to them.
pub fn open(
    choice: DeviceChoice,
    dir: Direction,
    opts: wd_core::QueueOptions,
) -> wd_core::Result<Queue> {
    wd_core::open_queue_with(choice, dir, opts).map_err(|e| match e {
        wd_core::Error::Io { context, source } if source.kind() == std::io::ErrorKind::NotFound => {
            wd_core::Error::NoDevice(format!("{context}: {source}"))
        }
        e => e,
    })
}
