//! The compression engines of WarpDrive's soft device: one call compresses or decompresses
//! a request's bytes, with the engine chosen per level and direction. It knows nothing about
//! rings, requests or memory sharing; `wd-core`'s soft device maps its ring ABI onto
//! [`Engine`]. A separate crate so that the driver builds without any compression engine
//! (`wd-core` without its `soft` feature) and the engines' C and assembly builds stay here.
//!
//! Engines, chosen per level and direction by measurement (`docs/decisions/engines.md`,
//! `docs/decisions/decoder.md`): zlib-rs for all decompression (strict: it accepts exactly
//! what zlib accepts, which ISA-L and libdeflate do not); ISA-L for level-1 compression; for
//! levels 2..=9, where ISA-L has no equivalent ratio, libdeflate for a whole stream (faster
//! and smaller than zlib at every level, but it can only write complete streams) and
//! zlib-rs (through its C ABI, with tuned search limits at level 6 to come near zlib's
//! ratio, see `zlibrs.rs`) for pieces that end in a sync flush. ISA-L and zlib-rs provide
//! what the device contract needs: sync-flushed pieces for parallel compression; zlib-rs
//! resumable inflate with bounded output.
//!
//! ISA-L is the cargo feature `isal` (on by default; building it needs nasm on x86_64 and
//! autotools). Without it, level 1 follows the rule of the other levels: libdeflate for a
//! whole stream, zlib-rs for a piece; the formats, levels and decoding are the same.
//! [`ENGINES`] says which build this is.

#![warn(missing_docs)]

mod engine;
#[cfg(feature = "isal")]
pub mod isal;
mod joinable;
pub mod zlibrs;

#[cfg(test)]
mod block_tests;
#[cfg(test)]
mod level_tests;

pub use engine::{Decoded, Engine, NoStream};
pub use zlibrs::{DeflateResult, InflateStop, Wrapper};

/// The compression engines of this build, by name: `"isa-l"` (level-1 compression, only
/// with the `isal` feature), `"libdeflate"` (whole streams) and `"zlib-rs"` (sync-flushed
/// pieces and all decompression).
pub const ENGINES: &[&str] = if cfg!(feature = "isal") {
    &["isa-l", "libdeflate", "zlib-rs"]
} else {
    &["libdeflate", "zlib-rs"]
};

/// A checksum an engine computes over a request's uncompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// None (reported as 0).
    None,
    /// CRC-32 (gzip's).
    Crc32,
    /// Adler-32 (zlib's).
    Adler32,
}

impl Checksum {
    /// This checksum of `data` (0 for [`Checksum::None`]).
    pub fn of(self, data: &[u8]) -> u32 {
        match self {
            Checksum::Crc32 => crc32fast::hash(data),
            Checksum::Adler32 => {
                let mut a = simd_adler32::Adler32::new();
                a.write(data);
                a.finish()
            }
            Checksum::None => 0,
        }
    }

    /// This checksum as the trailer of `stream`, a complete stream of wrapper `w`, states
    /// it: a gzip member ends with the CRC-32 of its data, a zlib stream with the Adler-32.
    /// `None` where `w`'s trailer holds another checksum or none (raw deflate), or
    /// `stream` is too short to have a trailer. An engine that just wrote `stream` computed
    /// the value over the input: reading it back saves a second pass over the input.
    pub fn in_trailer(self, w: Wrapper, stream: &[u8]) -> Option<u32> {
        let word = |from_end: usize| {
            let at = stream.len().checked_sub(from_end)?;
            stream.get(at..at + 4)?.try_into().ok()
        };
        match (self, w) {
            (Checksum::Crc32, Wrapper::Gzip) => word(8).map(u32::from_le_bytes),
            (Checksum::Adler32, Wrapper::Zlib) => word(4).map(u32::from_be_bytes),
            _ => None,
        }
    }
}
