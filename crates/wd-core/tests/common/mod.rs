//! Set-up shared by the integration tests.

use wd_core::zip::{Format, ZipOptions};

/// Two queues, two pieces in flight each, pieces of `chunk` bytes: small pieces make split
/// boundaries cheap to test.
#[allow(dead_code)] // not every test binary uses it
pub fn piece_options(format: Format, level: u32, chunk: usize) -> ZipOptions {
    ZipOptions {
        format,
        level: level.into(),
        queues: 2,
        chunk_size: chunk,
        depth: 2,
        ..Default::default()
    }
}

/// True when the queues come from a device that takes whole, stateless requests only (a
/// uacce device): jobs split into pieces, or continued across requests, are refused there.
#[allow(dead_code)] // not every test binary uses it
pub fn stateless_device() -> bool {
    wd_core::default_device() == wd_core::DeviceKind::Uacce
}

/// Asserts that `r` is the refusal a stateless device gives a job it cannot do whole.
#[allow(dead_code)]
pub fn assert_stateless_refusal<T: std::fmt::Debug>(r: wd_core::Result<T>) {
    match r {
        Err(wd_core::Error::BadRequest(m)) if m.contains("stateless") => {}
        other => panic!("want the stateless device's refusal, got {other:?}"),
    }
}
