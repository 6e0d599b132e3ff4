//! Framing of the three formats around a stream's pieces: the checksums and their
//! combination, which checksum a format's trailer carries, and [`Framer`], the header,
//! pieces, running checksum and trailer of a stream the driver frames itself. The header
//! and trailer bytes themselves, and reading and checking a header, are in
//! `zip/headers.rs`.
//!
//! Everything a format decides about a stream the driver frames itself is in these two
//! files, the one place each is decided: the [`Format`] methods below and [`Framer`], which
//! the piece schedulers (`zip/compress_stream.rs`, `codec/deflate.rs`) and the one-request
//! compression (`zip/oneshot.rs`) call without asking which format they make.

use crate::abi::Csum;
use crate::format::Format;
use crate::queue::Request;

use super::headers::{gzip_header_with_index, gzip_trailer, named_level, zlib_header, GzipHeader};

/// Worst-case size of a deflate stream of `n` bytes (zlib's bound, plus room for a sync
/// flush and a gzip/zlib wrapper); `usize::MAX` where that does not fit a `usize`.
pub fn compress_bound(n: usize) -> usize {
    checked_compress_bound(n).unwrap_or(usize::MAX)
}

/// [`compress_bound`], or `None` if it does not fit a `usize`.
pub fn checked_compress_bound(n: usize) -> Option<usize> {
    n.checked_add((n >> 12) + (n >> 14) + (n >> 25) + 64)
}

/// CRC-32 of `data`, continuing from `crc` (0 to start), as zlib's `crc32`.
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(crc);
    h.update(data);
    h.finalize()
}

/// Adler-32 of `data`, continuing from `adler` (1 to start), as zlib's `adler32`.
pub fn adler32(adler: u32, data: &[u8]) -> u32 {
    let mut h = simd_adler32::Adler32::from_checksum(adler);
    h.write(data);
    h.finish()
}

/// Adler-32 of the concatenation of two pieces, from their checksums (`len2` = length of
/// the second). Ours: no crate wd-core depends on without the soft device's engines offers
/// it (docs/decisions/dependencies.md).
pub fn adler32_combine(a1: u32, a2: u32, len2: u64) -> u32 {
    const BASE: u64 = 65521;
    let rem = len2 % BASE;
    let (s1a, s2a) = ((a1 & 0xffff) as u64, (a1 >> 16) as u64);
    let (s1b, s2b) = ((a2 & 0xffff) as u64, (a2 >> 16) as u64);
    // s1 = s1a + s1b - 1; s2 = s2a + s2b + rem*(s1a - 1), all mod BASE.
    let s1 = (s1a + s1b + BASE - 1) % BASE;
    let s2 = (s2a + s2b + rem * s1a % BASE + BASE - rem) % BASE;
    (s2 << 16 | s1) as u32
}

/// CRC-32 of the concatenation of two pieces, from their checksums.
pub fn crc32_combine(c1: u32, c2: u32, len2: u64) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial_len(c1, 0);
    h.combine(&crc32fast::Hasher::new_with_initial_len(c2, len2));
    h.finalize()
}

/// The checksum of the uncompressed data a format's trailer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checksum {
    /// CRC-32 (gzip).
    Crc32,
    /// Adler-32 (zlib).
    Adler32,
    /// None (raw deflate has no trailer).
    Absent,
}

impl Checksum {
    /// The checksum of no data, where a running checksum starts.
    const fn start(self) -> u32 {
        match self {
            Checksum::Adler32 => 1,
            Checksum::Crc32 | Checksum::Absent => 0,
        }
    }

    /// The selector a raw deflate piece sends so that the device returns this checksum of
    /// its input (raw deflate's implied checksum is none).
    const fn selector(self) -> Csum {
        match self {
            Checksum::Crc32 => Csum::Crc32,
            Checksum::Adler32 => Csum::Adler32,
            Checksum::Absent => Csum::Implied,
        }
    }

    /// The checksum of `sum`'s data followed by a piece of `len` bytes whose checksum is
    /// `piece`.
    fn combine(self, sum: u32, piece: u32, len: u64) -> u32 {
        match self {
            Checksum::Crc32 => crc32_combine(sum, piece, len),
            Checksum::Adler32 => adler32_combine(sum, piece, len),
            Checksum::Absent => 0,
        }
    }
}

impl Format {
    /// The checksum this format's trailer carries.
    const fn checksum(self) -> Checksum {
        match self {
            Format::Gzip => Checksum::Crc32,
            Format::Zlib => Checksum::Adler32,
            Format::Deflate => Checksum::Absent,
        }
    }

    /// True if the driver frames every stream of this format, even one of a single
    /// request: gzip, whose header (with the caller's fields and the piece index) is made
    /// in one place, [`gzip_header`](super::gzip_header). False if a stream of one request
    /// may be the device's own request of the format ([`Format::req_type`]).
    pub(crate) const fn framed_by_driver(self) -> bool {
        matches!(self, Format::Gzip)
    }

    /// True if a stream of this format can carry a piece index in its header
    /// ([`crate::pieces`]): gzip, in an extra field.
    pub(crate) const fn carries_piece_index(self) -> bool {
        matches!(self, Format::Gzip)
    }

    /// The room for a piece index a split compression asked to reserve for `pieces`
    /// pieces: `pieces` if the format carries one and that many fit
    /// ([`crate::pieces::MAX_PIECES`]), else 0.
    pub(crate) fn index_slots(self, pieces: usize) -> usize {
        if self.carries_piece_index() && pieces <= crate::pieces::MAX_PIECES {
            pieces
        } else {
            0
        }
    }

    /// The uncompressed size a whole stream of `len` bytes claims in its trailer, from its
    /// first two bytes and last four, as a size hint: gzip's ISIZE (mod 2^32) if `head`
    /// is gzip's magic; `None` for formats that claim none.
    pub(crate) fn claimed_size(self, len: usize, head: &[u8], tail: &[u8]) -> Option<usize> {
        match (self, head, tail) {
            (Format::Gzip, [0x1f, 0x8b], &[a, b, c, d]) if len >= 18 => {
                Some(u32::from_le_bytes([a, b, c, d]) as usize)
            }
            _ => None,
        }
    }
}

/// One stream the driver frames itself around raw deflate pieces (the pieces of a split
/// compression, of the incremental compressor, or a one-request gzip): the format's header,
/// the request each piece is sent as, the running checksum and length of the pieces'
/// input, and the trailer made from them.
#[derive(Debug, Clone)]
pub(crate) struct Framer {
    format: Format,
    level: u32,
    sum: u32,
    len: u64,
}

impl Framer {
    /// The framing of a stream of `format` compressed at `level`, before any piece.
    pub(crate) fn new(format: Format, level: u32) -> Framer {
        Framer {
            format,
            level,
            sum: format.checksum().start(),
            len: 0,
        }
    }

    /// The header, with the gzip fields of `gzip` and room for a piece index of `slots`
    /// pieces (see [`Format::index_slots`]), naming the level where the device compresses
    /// at it (`takes_level`: [`named_level`]); empty for raw deflate.
    pub(crate) fn header(&self, gzip: &GzipHeader, slots: usize, takes_level: bool) -> Vec<u8> {
        let level = named_level(self.level, takes_level);
        match self.format {
            Format::Gzip => gzip_header_with_index(level, gzip, slots),
            Format::Zlib => zlib_header(level).to_vec(),
            Format::Deflate => Vec::new(),
        }
    }

    /// `r`, a request of [`ReqType::Deflate`](crate::abi::ReqType::Deflate) for one piece,
    /// at the stream's level, asking for the checksum the trailer needs, and ending in a
    /// sync flush (`PARTIAL`) unless the piece is the `last`.
    pub(crate) fn piece(&self, r: Request, last: bool) -> Request {
        let r = r
            .checksum(self.format.checksum().selector())
            .level(self.level);
        if last {
            r
        } else {
            r.partial()
        }
    }

    /// Counts a piece written to the output: `len` bytes of input whose checksum (as the
    /// device returned it) is `checksum`.
    pub(crate) fn add(&mut self, checksum: u32, len: u64) {
        self.sum = self.format.checksum().combine(self.sum, checksum, len);
        self.len += len;
    }

    /// The input bytes of the pieces counted so far.
    pub(crate) fn total_in(&self) -> u64 {
        self.len
    }

    /// The trailer of the pieces counted so far; empty for raw deflate.
    pub(crate) fn trailer(&self) -> Vec<u8> {
        match self.format {
            Format::Gzip => gzip_trailer(self.sum, self.len).to_vec(),
            Format::Zlib => self.sum.to_be_bytes().to_vec(),
            Format::Deflate => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_combination_matches_direct_computation() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let b: Vec<u8> = (0..70_001u32).map(|i| (i * 13 % 251) as u8).collect();
        let whole = [a.clone(), b.clone()].concat();
        let ad = |d: &[u8]| {
            let mut h = simd_adler32::Adler32::new();
            h.write(d);
            h.finish()
        };
        assert_eq!(adler32_combine(ad(&a), ad(&b), b.len() as u64), ad(&whole));
        assert_eq!(adler32_combine(ad(&a), 1, 0), ad(&a));
        assert_eq!(adler32_combine(1, ad(&b), b.len() as u64), ad(&b));
        assert_eq!(
            crc32_combine(crc32fast::hash(&a), crc32fast::hash(&b), b.len() as u64),
            crc32fast::hash(&whole)
        );
        assert_eq!(
            crc32_combine(0, crc32fast::hash(&b), b.len() as u64),
            crc32fast::hash(&b)
        );
    }

    #[test]
    fn a_framer_frames_pieces_as_the_whole_stream_would_be() {
        let a = b"piece one, ".repeat(1000);
        let b = b"and two".repeat(777);
        let whole = [a.clone(), b.clone()].concat();
        let named = GzipHeader {
            name: Some(b"f.txt".to_vec()),
            mtime: 7,
        };
        for format in Format::ALL {
            let sum = |d: &[u8]| match format.checksum() {
                Checksum::Crc32 => crc32(0, d),
                Checksum::Adler32 => adler32(1, d),
                Checksum::Absent => 0,
            };
            let mut f = Framer::new(format, 9);
            f.add(sum(&a), a.len() as u64);
            f.add(sum(&b), b.len() as u64);
            assert_eq!(f.total_in(), whole.len() as u64);
            let (header, trailer) = match format {
                Format::Gzip => (
                    gzip_header_with_index(9, &named, 3),
                    gzip_trailer(crc32(0, &whole), whole.len() as u64).to_vec(),
                ),
                Format::Zlib => (
                    zlib_header(9).to_vec(),
                    adler32(1, &whole).to_be_bytes().to_vec(),
                ),
                Format::Deflate => (Vec::new(), Vec::new()),
            };
            assert_eq!(f.header(&named, 3, true), header, "{format}");
            // A device without a level: the header names none.
            if format != Format::Deflate {
                assert_ne!(f.header(&named, 3, false), header, "{format}");
            }
            assert_eq!(f.trailer(), trailer, "{format}");
            // No piece: the checksum of nothing.
            let empty = Framer::new(format, 9).trailer();
            assert_eq!(empty.len(), trailer.len(), "{format}");
            if format == Format::Zlib {
                assert_eq!(empty, 1u32.to_be_bytes());
            }
        }
    }
}
