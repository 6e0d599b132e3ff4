//! Shared by the fuzz targets: the format chosen by a byte, and zlib's verdict.

use flate2::{Decompress, FlushDecompress, Status};
use wd_core::zip::Format;

/// The format a fuzz input's first byte picks.
pub fn format_of(b: u8) -> Format {
    match b % 3 {
        0 => Format::Deflate,
        1 => Format::Zlib,
        _ => Format::Gzip,
    }
}

fn decoder(format: Format) -> Decompress {
    match format {
        Format::Deflate => Decompress::new(false),
        Format::Zlib => Decompress::new(true),
        Format::Gzip => Decompress::new_gzip(15),
    }
}

/// zlib's verdict on an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted, with this output.
    Accepted(Vec<u8>),
    /// Refused (invalid, incomplete, or trailing data).
    Refused,
    /// Decoded past [`LIMIT`] before any verdict.
    TooBig,
}

/// Output size past which both sides are stopped.
pub const LIMIT: usize = 8 << 20;

/// Decodes one stream of `format` from `data` with C zlib, appending to `out`: the bytes
/// it used, or the verdict if it is not an accepted stream.
fn zlib_one(format: Format, data: &[u8], out: &mut Vec<u8>) -> Result<usize, Verdict> {
    let mut d = decoder(format);
    loop {
        let before = (d.total_in(), d.total_out());
        let used = d.total_in() as usize;
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(1 << 16));
        }
        match d.decompress_vec(&data[used..], out, FlushDecompress::None) {
            Ok(Status::StreamEnd) => return Ok(d.total_in() as usize),
            Ok(_) if (d.total_in(), d.total_out()) == before => return Err(Verdict::Refused),
            Ok(_) => {}
            Err(_) => return Err(Verdict::Refused),
        }
        if out.len() > LIMIT {
            return Err(Verdict::TooBig);
        }
    }
}

/// zlib's verdict on a whole input of `format`, as the driver reads it: one stream (zlib,
/// raw) or gzip members one after another with zero padding between and after them.
pub fn zlib_verdict(format: Format, data: &[u8]) -> Verdict {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let used = match zlib_one(format, rest, &mut out) {
            Ok(n) => n,
            Err(v) => return v,
        };
        if out.len() > LIMIT {
            return Verdict::TooBig;
        }
        rest = &rest[used..];
        if format != Format::Gzip {
            return if rest.is_empty() {
                Verdict::Accepted(out)
            } else {
                Verdict::Refused
            };
        }
        let zeros = rest.iter().take_while(|&&b| b == 0).count();
        rest = &rest[zeros..];
        if rest.is_empty() {
            return Verdict::Accepted(out);
        }
    }
}

/// Checks our result against zlib's verdict (`what` names the call).
pub fn compare(format: Format, ours: Result<&[u8], &wd_core::Error>, theirs: &Verdict) {
    use wd_core::DataErrorKind;
    let limit = |e: &wd_core::Error| matches!(e, wd_core::Error::BadData(d) if d.kind() == DataErrorKind::OutputLimit);
    match (ours, theirs) {
        (Ok(a), Verdict::Accepted(b)) => assert!(a == &b[..], "{format:?}: outputs differ"),
        (Ok(_), v) => panic!("{format:?}: we accept, zlib says {v:?}"),
        (Err(e), Verdict::Accepted(_)) => panic!("{format:?}: we refuse what zlib accepts: {e}"),
        (Err(e), Verdict::Refused) if limit(e) => {
            // We stopped at the limit; zlib refused, perhaps later in the stream.
        }
        (Err(_), _) => {}
    }
}
