//! Framing of the three formats, the one place each is decided: gzip and zlib headers
//! and trailers, the checksums and their combination, checking a header as zlib does,
//! the error for a refused stream, and what may follow a finished stream.
//!
//! Everything a format decides about a stream the driver frames itself is here: the
//! [`Format`] methods below and [`Framer`], which the piece schedulers
//! (`zip/compress_stream.rs`, `codec/deflate.rs`) and the one-request compression
//! (`zip/oneshot.rs`) call without asking which format they make.

use crate::abi::{Csum, ReqType, Status};
use crate::error::{DataErrorKind, Error, Result};
use crate::format::Format;
use crate::queue::Request;

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
    /// in one place, [`gzip_header`]. False if a stream of one request may be the device's
    /// own request of the format ([`Format::req_type`]).
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

    /// `r`, a request of [`ReqType::Deflate`] for one piece, at the stream's level, asking
    /// for the checksum the trailer needs, and ending in a sync flush (`PARTIAL`) unless the
    /// piece is the `last`.
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

/// The OS byte of every gzip header WarpDrive writes (RFC 1952: 3 = Unix), whatever the
/// input, its size or the device.
pub const GZIP_OS: u8 = 3;

/// The optional fields of a gzip header: the original file name (FNAME, ISO 8859-1, no
/// zero byte) and the modification time (MTIME, seconds since the epoch; 0 = none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GzipHeader {
    /// The file name, without a terminating zero.
    pub name: Option<Vec<u8>>,
    /// Modification time in seconds since the epoch, 0 for none.
    pub mtime: u32,
}

impl GzipHeader {
    /// Checks the fields: a name may not contain a zero byte (it ends the field).
    pub fn check(&self) -> Result<()> {
        if self.name.as_ref().is_some_and(|n| n.contains(&0)) {
            return Err(Error::BadRequest(
                "a gzip file name may not contain a zero byte".into(),
            ));
        }
        Ok(())
    }
}

/// The gzip header of a stream compressed at `level` with the fields of `h`: the ONE place
/// every gzip header WarpDrive writes is made (whole-buffer, streamed and incremental
/// compression alike; the device's own gzip wrapper is never used).
pub fn gzip_header(level: u32, h: &GzipHeader) -> Vec<u8> {
    gzip_header_with_index(level, h, 0)
}

/// [`gzip_header`] with room for a piece index of `slots` pieces (none for 0 or more than
/// [`crate::pieces::MAX_PIECES`]).
pub fn gzip_header_with_index(level: u32, h: &GzipHeader, slots: usize) -> Vec<u8> {
    // XFL: 2 = best compression, 4 = fastest (RFC 1952).
    let xfl = match level {
        1 => 4,
        9 => 2,
        _ => 0,
    };
    let extra = crate::pieces::extra_field(slots);
    let flg = if h.name.is_some() { 0x08 } else { 0 } | if extra.is_some() { 0x04 } else { 0 };
    let mut v = vec![0x1f, 0x8b, 8, flg];
    v.extend_from_slice(&h.mtime.to_le_bytes());
    v.extend_from_slice(&[xfl, GZIP_OS]);
    v.extend(extra.unwrap_or_default());
    if let Some(n) = &h.name {
        v.extend(n.iter().copied().filter(|&b| b != 0));
        v.push(0);
    }
    v
}

/// The gzip trailer of a stream whose uncompressed data has CRC-32 `crc` and length `len`.
pub fn gzip_trailer(crc: u32, len: u64) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&crc.to_le_bytes());
    t[4..].copy_from_slice(&(len as u32).to_le_bytes());
    t
}

/// The name and mtime of the complete, valid gzip header at the start of `d`; `None` if
/// `d` does not start with one.
pub fn read_gzip_header(d: &[u8]) -> Option<GzipHeader> {
    let Header::Complete(_) = parse_header(Format::Gzip, d) else {
        return None;
    };
    let flg = d[3];
    let mtime = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
    let mut pos = 10usize;
    if flg & 0x04 != 0 {
        pos += 2 + usize::from(u16::from_le_bytes([d[10], d[11]]));
    }
    let name = if flg & 0x08 != 0 {
        let end = pos + d[pos..].iter().position(|&b| b == 0)?;
        Some(d[pos..end].to_vec())
    } else {
        None
    };
    Some(GzipHeader { name, mtime })
}

/// The format of a zlib or gzip stream from its first byte (gzip's magic starts with
/// 0x1f, which no valid zlib header does): what `format="auto"` decodes as.
pub fn detect_format(first: u8) -> Format {
    if first == 0x1f {
        Format::Gzip
    } else {
        Format::Zlib
    }
}

/// The level a stream's header names when it was compressed at `level` on a device
/// that does (`takes_level`) or does not take a level: the engine of a device that takes
/// none compresses at its own, so its header names none (level 0 here: gzip's XFL 0,
/// zlib's FLEVEL 2, its default). The one place this is decided.
pub(crate) fn named_level(level: u32, takes_level: bool) -> u32 {
    if takes_level {
        level
    } else {
        0
    }
}

/// The zlib or gzip header (no gzip fields) a queue's driver writes in front of a
/// request of `t` for a device that writes none (`Dialect::writes_header`): the same bytes
/// as every other stream WarpDrive writes, naming no level (such a device takes none:
/// [`named_level`]). Empty for other types.
pub(crate) fn request_header(t: ReqType) -> Vec<u8> {
    let level = named_level(0, false);
    match t {
        ReqType::Gzip => gzip_header(level, &GzipHeader::default()),
        ReqType::Zlib => zlib_header(level).to_vec(),
        _ => Vec::new(),
    }
}

pub(crate) fn zlib_header(level: u32) -> [u8; 2] {
    let flevel: u16 = match level {
        1 => 0,
        2..=5 => 1,
        0 | 6 => 2,
        _ => 3,
    };
    let mut h: u16 = 0x78 << 8 | flevel << 6;
    h += 31 - h % 31;
    h.to_be_bytes()
}

/// What the start of a stream says about its header.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// A valid header of this many bytes (0 for raw deflate).
    Complete(usize),
    /// Valid so far, but the header goes on past the bytes given.
    Incomplete,
    /// A header zlib refuses: the error kind and what is wrong.
    Refused(DataErrorKind, String),
}

/// Checks the header at the start of `d` as zlib's inflate does (RFC 1950, 1952).
fn parse_header(format: Format, d: &[u8]) -> Header {
    let bad = |what: &str| Header::Refused(DataErrorKind::BadHeader, what.to_string());
    match format {
        Format::Deflate => Header::Complete(0),
        Format::Zlib => {
            let [cmf, flg, ..] = *d else {
                return Header::Incomplete;
            };
            if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Header::Refused(
                    DataErrorKind::NotCompressed,
                    "not zlib data (the header check fails)".into(),
                );
            }
            if cmf & 0x0f != 8 {
                return bad(&format!("unknown compression method {}", cmf & 0x0f));
            }
            if cmf >> 4 > 7 {
                return bad(&format!("window size field {} is above 7", cmf >> 4));
            }
            if flg & 0x20 != 0 {
                return bad("the stream needs a preset dictionary");
            }
            Header::Complete(2)
        }
        Format::Gzip => {
            if d.first().is_some_and(|&b| b != 0x1f) || d.get(1).is_some_and(|&b| b != 0x8b) {
                return Header::Refused(
                    DataErrorKind::NotCompressed,
                    "not gzip data (bad magic bytes)".into(),
                );
            }
            // Method and flags are checked as soon as they are there, as zlib does.
            if let Some(&m) = d.get(2).filter(|&&m| m != 8) {
                return bad(&format!("unknown compression method {m}"));
            }
            if d.get(3).is_some_and(|&f| f & 0xe0 != 0) {
                return bad("reserved flag bits are set");
            }
            if d.len() < 10 {
                return Header::Incomplete;
            }
            let flg = d[3];
            let mut pos = 10usize;
            if flg & 0x04 != 0 {
                let Some(x) = d.get(pos..pos + 2) else {
                    return Header::Incomplete;
                };
                pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
            }
            for bit in [0x08, 0x10] {
                if flg & bit != 0 {
                    match d.get(pos..).and_then(|r| r.iter().position(|&b| b == 0)) {
                        Some(i) => pos += i + 1,
                        None => return Header::Incomplete,
                    }
                }
            }
            if flg & 0x02 != 0 {
                let Some(x) = d.get(pos..pos + 2) else {
                    return Header::Incomplete;
                };
                if u16::from_le_bytes([x[0], x[1]]) != crc32fast::hash(&d[..pos]) as u16 {
                    return bad("header CRC mismatch");
                }
                pos += 2;
            }
            if pos > d.len() {
                return Header::Incomplete;
            }
            Header::Complete(pos)
        }
    }
}

/// Checks the header at the start of `d` as zlib does: `Ok(Some(n))` for a valid header of
/// `n` bytes (0 for raw deflate), `Ok(None)` if `d` ends inside a header that is valid so
/// far, and the error ([`DataErrorKind::NotCompressed`] or [`DataErrorKind::BadHeader`])
/// for a header zlib refuses.
pub fn check_header(format: Format, d: &[u8]) -> Result<Option<usize>> {
    match parse_header(format, d) {
        Header::Complete(n) => Ok(Some(n)),
        Header::Incomplete => Ok(None),
        Header::Refused(kind, what) => Err(Error::data(kind, &what)),
    }
}

/// The error for a stream of `format` that began with `head` (its first bytes, as many as
/// are at hand) and that the device stopped with `status`. The device only says "invalid",
/// "checksum" or "needs input"; the header tells a stream that is not of the format at all,
/// or has a refused header, from corrupt compressed data.
pub fn stream_error(format: Format, head: &[u8], status: Status) -> Error {
    if head.is_empty() {
        return Error::data(DataErrorKind::NotCompressed, "the input is empty");
    }
    if let Header::Refused(kind, what) = parse_header(format, head) {
        return Error::data(kind, &what);
    }
    match status {
        Status::NeedInput => Error::data(DataErrorKind::Truncated, ""),
        Status::ChecksumError => Error::data(DataErrorKind::Checksum, ""),
        Status::DataError => Error::data(DataErrorKind::Corrupt, ""),
        s => match s.check() {
            Err(e) => e,
            Ok(()) => Error::Protocol(format!("stream_error called with status {s:?}")),
        },
    }
}

/// What comes after the end of a stream of `format`, in `rest` (gzip: after any zero
/// padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing more (the input ends here).
    End,
    /// Another gzip member starts `skip` bytes on (after zero padding).
    Member {
        /// Zero bytes before it.
        skip: usize,
    },
    /// Anything else: an error ([`DataErrorKind::TrailingGarbage`]).
    Garbage,
}

/// Classifies `rest`, the input after a complete stream, when nothing follows `rest`.
/// gzip members may be separated and followed by zero bytes, as gzip(1) and Python's gzip
/// accept; zlib and raw deflate streams must end the input.
pub fn after_stream(format: Format, rest: &[u8]) -> After {
    let skip = match format {
        Format::Gzip => rest.iter().take_while(|&&b| b == 0).count(),
        _ => 0,
    };
    match &rest[skip..] {
        [] => After::End,
        [0x1f] | [0x1f, 0x8b, ..] if format == Format::Gzip => After::Member { skip },
        _ => After::Garbage,
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
    fn header_fields_are_judged_as_soon_as_they_are_there() {
        let g = Format::Gzip;
        assert_eq!(parse_header(g, &[0x1f]), Header::Incomplete);
        assert!(matches!(
            parse_header(g, &[0x1f, 0x8c]),
            Header::Refused(DataErrorKind::NotCompressed, _)
        ));
        // A wrong method is refused with 3 bytes, reserved flags with 4 (fuzz regression:
        // zlib refuses `1f 8b 00 00 00 00 00` at once; it is not "incomplete").
        for d in [
            &[0x1f, 0x8b, 0][..],
            &[0x1f, 0x8b, 8, 0x20],
            &[0x1f, 0x8b, 0, 0, 0, 0, 0],
        ] {
            assert!(
                matches!(
                    parse_header(g, d),
                    Header::Refused(DataErrorKind::BadHeader, _)
                ),
                "{d:?}"
            );
        }
        assert_eq!(parse_header(g, &[0x1f, 0x8b, 8, 0, 0]), Header::Incomplete);
        let mut h = vec![0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3, 2, 0, b'x', b'y'];
        h.extend_from_slice(b"name\0comment\0");
        assert_eq!(parse_header(g, &h), Header::Incomplete);
        let crc = crc32fast::hash(&h) as u16;
        h.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_header(g, &h), Header::Complete(h.len()));
        assert_eq!(parse_header(Format::Zlib, &[0x78]), Header::Incomplete);
        assert_eq!(
            parse_header(Format::Zlib, &[0x78, 0x9c]),
            Header::Complete(2)
        );
        assert_eq!(parse_header(Format::Deflate, &[]), Header::Complete(0));
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

    #[test]
    fn zlib_header_is_valid_for_every_level() {
        for l in 0..=9 {
            let h = zlib_header(l);
            assert_eq!(h[0], 0x78);
            assert_eq!(u16::from_be_bytes(h) % 31, 0);
        }
    }
}
