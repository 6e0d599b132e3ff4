//! Opening queues, and what a fork child may touch.
//!
//! The core keeps one soft-device address space per process (a fork child gets its own)
//! and marks buffers and queues of a parent as foreign in the child. This module adds the
//! Python-facing parsing of directions and device choices.

use pyo3::prelude::*;
use wd_core::{DeviceChoice, Direction, Queue};

use crate::errors::{bad_request, IntoPyResult};

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

/// Parses `"compress"` / `"decompress"`.
pub fn parse_direction(py: Python<'_>, s: &str) -> PyResult<Direction> {
    match s {
        "compress" => Ok(Direction::Compress),
        "decompress" => Ok(Direction::Decompress),
        _ => Err(bad_request(
            py,
            format!("direction must be 'compress' or 'decompress', not {s:?}"),
        )),
    }
}

/// The name of a direction.
pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Compress => "compress",
        Direction::Decompress => "decompress",
    }
}

/// Parses a device choice: `None` follows `WARPDRIVE_DEVICE` (default `auto`); else
/// `"auto"`, `"soft"` or `"vfio"`.
pub fn parse_device(py: Python<'_>, s: Option<&str>) -> PyResult<DeviceChoice> {
    match s {
        None => DeviceChoice::from_env().py(py),
        Some(s) => DeviceChoice::parse(s).ok_or_else(|| {
            bad_request(
                py,
                format!("device must be 'auto', 'soft' or 'vfio', not {s:?}"),
            )
        }),
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
