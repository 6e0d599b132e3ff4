//! CRC-32 and Adler-32, as zlib's functions of the same names.

use pyo3::prelude::*;

use super::with_input;

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
