//! Set-up shared by the integration tests.

use wd_core::zip::{Format, ZipOptions};

/// Two queues, two pieces in flight each, pieces of `chunk` bytes: small pieces make split
/// boundaries cheap to test.
pub fn piece_options(format: Format, level: u32, chunk: usize) -> ZipOptions {
    ZipOptions::default()
        .format(format)
        .level(level)
        .queues(2)
        .chunk_size(chunk)
        .depth(2)
}
