//! Incremental compression and decompression over device queues, with zlib's
//! `compressobj`/`decompressobj` semantics: data is fed piece by piece, output comes back as
//! it is made, and decompression stops at a caller's output bound and at the end of the
//! stream, saying how much input it used. It runs on any device (it takes queues from the
//! pool), so it needs no compression engine of its own.
//!
//! [`Deflater`] (`codec/deflate.rs`) sends raw deflate pieces that end in a sync flush
//! (`PARTIAL`) and wraps them itself: the gzip header is [`crate::zip::gzip_header`]'s, the
//! trailer combines the pieces' checksums. [`Inflater`] (`codec/inflate.rs`) continues the
//! device's decoder state between requests (`CONTINUE`) and stops after one stream (one gzip
//! member), as zlib does. [`Encoder`] and [`Decoder`] (`codec/io_adapters.rs`) are their `Write` and
//! `Read` adapters.

use std::io;

use crate::abi::{Direction, Status};
use crate::error::{DataErrorKind, Error, Result};
use crate::memlock::{self, Reservation};
use crate::queue::{Queue, Request};

mod deflate;
mod inflate;
mod io_adapters;

pub use deflate::{Deflater, Flush};
pub use inflate::{Inflated, Inflater};
pub use io_adapters::{Decoder, Encoder, EncoderBuilder};

/// The most input bytes one request of a [`Deflater`] or [`Inflater`] takes (what one
/// request of the whole-buffer calls takes).
pub const PIECE: usize = crate::zip::ONE_REQUEST_MAX;

/// The most output bytes one decompression request is offered.
const OUT_STEP: usize = 1 << 20;

/// How many bytes of a stream's start are kept to name what is wrong with its header and to
/// read a gzip header's fields.
const HEAD_KEPT: usize = 4096;

/// A queue of the process's pool, given back when dropped.
struct Pooled(Option<Queue>);

impl Pooled {
    fn get(&mut self, dir: Direction) -> Result<&mut Queue> {
        if self.0.is_none() {
            self.0 = Some(crate::pool::take(dir)?);
        }
        self.0.as_mut().ok_or(Error::Closed)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(q) = self.0.take() {
            // A queue that cannot go back is closed by give_back; nothing to report here.
            let _ = crate::pool::give_back(q);
        }
    }
}

/// Runs one request reading `input` and appending at most `space` bytes to `out`, with the
/// pins it needs reserved under the locked-memory limit on a device that pins. Returns the
/// completion's status, `consumed` and `checksum`.
fn run(
    q: &mut Queue,
    req: Request,
    input: &[u8],
    out: &mut Vec<u8>,
    space: usize,
) -> Result<(Option<Status>, usize, usize, u32)> {
    let (space, _pins) = if memlock::pins_pages(q) {
        memlock::reserve_request(input.len(), space, space.min(64 << 10))?
    } else {
        (space, Reservation::none())
    };
    let before = out.len();
    let c = q.run_borrowed(req, input, out, space)?;
    let produced = out.len() - before;
    let pinned = memlock::request_pins(input.len(), space);
    match c.status() {
        Some(s @ (Status::Ok | Status::OutputTooSmall | Status::NeedInput))
        | Some(s @ (Status::DataError | Status::ChecksumError)) => {
            Ok((Some(s), c.consumed, produced, c.checksum))
        }
        _ => {
            c.check().map_err(|e| e.with_pinned(pinned))?;
            Ok((c.status(), c.consumed, produced, c.checksum))
        }
    }
}

/// The `io::Error` of a core error: bad data is `InvalidData`, truncation `UnexpectedEof`,
/// an I/O error keeps its kind; the core error is the source.
fn io_error(e: Error) -> io::Error {
    let kind = match &e {
        Error::BadData(d) if d.kind() == DataErrorKind::Truncated => io::ErrorKind::UnexpectedEof,
        Error::BadData(_) => io::ErrorKind::InvalidData,
        Error::BadRequest(_) => io::ErrorKind::InvalidInput,
        Error::Io { source, .. } => source.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

// They run on the soft device.
#[cfg(all(test, feature = "soft"))]
mod tests;
