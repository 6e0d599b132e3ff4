//! Opening queues, and what a fork child may touch.
//!
//! The core keeps one soft-device address space per process (a fork child gets its own)
//! and marks buffers and queues of a parent as foreign in the child. This module adds the
//! Python-facing parsing of directions, formats and device choices.

use pyo3::prelude::*;
use wd_core::{DeviceChoice, Direction, Format, Level};

use crate::errors::IntoPyResult;

/// The current fork generation (0 in the process that imported the module, different in
/// every fork child).
pub fn generation() -> u64 {
    wd_core::fork_generation()
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

/// A format argument of the incremental objects: a format name, or `"auto"` (gzip or zlib,
/// told by the first byte; decompression only).
pub fn parse_format_or_auto(py: Python<'_>, format: &str) -> PyResult<Option<Format>> {
    if format.eq_ignore_ascii_case("auto") {
        Ok(None)
    } else {
        parse_format(py, format).map(Some)
    }
}

/// A format argument as Python passes it: a format name, or an int (zlib's `wbits`, or
/// the level where `compress` takes one in the format's place).
pub enum FormatArg<'a> {
    /// A format name.
    Name(&'a str),
    /// An int.
    Int(i64),
}

impl<'a> FromPyObject<'a, '_> for FormatArg<'a> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, '_, PyAny>) -> PyResult<Self> {
        use pyo3::types::{PyInt, PyString};
        if obj.is_instance_of::<PyString>() {
            return <&'a str>::extract(obj).map(FormatArg::Name);
        }
        if let Ok(n) = obj.cast::<PyInt>() {
            return n.extract().map(FormatArg::Int).map_err(|_| {
                crate::errors::bad_request(obj.py(), format!("{} is out of range", n.as_any()))
            });
        }
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "format must be a format name (str) or an int, not {}",
            obj.get_type().name()?
        )))
    }
}

/// The format of a format name (with `auto`, the decompressors' choice, also `"auto"`) or
/// of zlib's `wbits` ([`Format::from_wbits`], read for decompression with `auto`). `None` is
/// automatic detection (gzip or zlib, by the first byte).
pub fn parse_format_arg(
    py: Python<'_>,
    format: FormatArg<'_>,
    auto: bool,
) -> PyResult<Option<Format>> {
    match format {
        FormatArg::Name(name) if auto => parse_format_or_auto(py, name),
        FormatArg::Name(name) => parse_format(py, name).map(Some),
        FormatArg::Int(wbits) => Format::from_wbits(wbits, auto).py(py),
    }
}

/// The largest window a zlib header may state for this format argument: zlib's `wbits`
/// limit for an int ([`Format::window_bits_of`]), any window for a name.
pub fn window_bits(format: &FormatArg<'_>) -> u8 {
    match *format {
        FormatArg::Int(wbits) => Format::window_bits_of(wbits),
        FormatArg::Name(_) => 15,
    }
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

/// `_parse_format(name, auto=False) -> str`: the canonical name (`gzip`, `zlib`,
/// `deflate`) of a format name the core accepts (any case, aliases such as `gz` and `raw`)
/// or of zlib's `wbits`, so that Python branches on what the core would decode, never on
/// the caller's spelling; with `auto` (decompression), also `"auto"` for `"auto"` in any
/// case and for the detecting `wbits`. Anything else raises the core's `BadRequestError`.
#[pyfunction]
#[pyo3(signature = (name, auto = false))]
pub fn _parse_format(py: Python<'_>, name: FormatArg<'_>, auto: bool) -> PyResult<&'static str> {
    Ok(parse_format_arg(py, name, auto)?.map_or("auto", Format::name))
}

/// `_list_devices(class_dir=None, uacce_dir=None) -> list[dict]`: the devices the core's
/// `sysfs` finds, one dict per device with the fields of `warpdrive.DeviceInfo`. With
/// neither directory: every hardware kind where the environment says (the core's
/// `list_devices`); else the uacce devices under `uacce_dir` and the sdmdev types under
/// `class_dir`, each only if given.
#[pyfunction]
#[pyo3(signature = (class_dir = None, uacce_dir = None))]
pub fn _list_devices<'py>(
    py: Python<'py>,
    class_dir: Option<std::path::PathBuf>,
    uacce_dir: Option<std::path::PathBuf>,
) -> PyResult<Vec<Bound<'py, pyo3::types::PyDict>>> {
    use pyo3::types::PyDict;
    let found = py.detach(|| {
        if class_dir.is_none() && uacce_dir.is_none() {
            return wd_core::list_devices();
        }
        let mut v = uacce_dir.map_or_else(Vec::new, |d| wd_core::sysfs::list_uacce_devices(&d));
        v.extend(class_dir.map_or_else(Vec::new, |d| wd_core::sysfs::list_sdmdev_devices(&d)));
        v
    });
    found
        .into_iter()
        .map(|e| {
            let d = PyDict::new(py);
            d.set_item("name", e.name)?;
            d.set_item("device_api", e.device_api)?;
            // A uacce queue's direction is chosen when it opens: the device serves both.
            let any = if e.kind.serves_both_directions() {
                "both"
            } else {
                "unknown"
            };
            d.set_item("direction", e.direction.map_or(any, Direction::name))?;
            d.set_item("available_instances", e.available_instances)?;
            d.set_item("description", e.description)?;
            d.set_item("path", e.path.to_string_lossy().into_owned())?;
            d.set_item("iommu_type", e.iommu_type)?;
            d.set_item("dma_flag", e.dma_flag)?;
            d.set_item("usable", e.usable)?;
            d.set_item("note", e.note)?;
            d.set_item("kind", e.kind.class_name())?;
            d.set_item("numa_node", e.numa_node)?;
            d.set_item("isolated", e.isolated)?;
            Ok(d)
        })
        .collect()
}
