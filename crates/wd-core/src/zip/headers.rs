//! The bytes of the gzip and zlib headers and trailers, and reading them: making a
//! header (the one place each is made, [`gzip_header`], `zlib_header`), checking a header
//! as zlib does ([`check_header`]), the error for a refused stream ([`stream_error`]) and
//! what may follow a finished stream ([`after_stream`]). The level a header names is
//! decided here too (`named_level`), with the header a queue's driver writes for a device
//! that writes none (`request_header`).
//!
//! The per-format framing of a stream around its pieces (checksums, [`Framer`]) is in
//! `zip/framing.rs`.
//!
//! [`Framer`]: super::Framer

use std::io::{self, Read};

use crate::abi::{ReqType, Status};
use crate::error::{DataErrorKind, Error, Result};
use crate::format::Format;

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

/// The format of a zlib or gzip stream that starts with `data`, told by its first byte
/// (gzip's magic starts with 0x1f, which no valid zlib header does): what `format="auto"`
/// decodes as. Empty data counts as gzip, the default format (any format refuses it alike).
pub fn detect_format(data: &[u8]) -> Format {
    match data.first() {
        Some(&b) if b != 0x1f => Format::Zlib,
        _ => Format::Gzip,
    }
}

/// [`detect_format`] for a stream read from `input`: reads its first byte and returns the
/// format with a reader that yields the whole stream, that byte included.
pub fn detect_stream_format(input: &mut dyn Read) -> Result<(Format, impl Read + '_)> {
    let mut first = [0u8; 1];
    let n = super::stream::read_full(input, &mut first).map_err(super::stream::read_error)?;
    let format = detect_format(&first[..n]);
    Ok((format, io::Cursor::new(first).take(n as u64).chain(input)))
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

/// The zlib header of a stream compressed at `level`, naming it in FLEVEL.
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

/// zlib's window check: refuses ([`DataErrorKind::BadHeader`], "invalid window size") a
/// zlib header at the start of `head` that states a window larger than `2^window_bits` bytes
/// (see [`Format::window_bits_of`]). Anything else passes: a `window_bits` of 15 or more
/// (every window a header can state) without reading `head`, another format, a header not
/// yet whole, or one refused for another reason, which the decoder reports as usual.
pub fn check_window(format: Format, window_bits: u8, head: &[u8]) -> Result<()> {
    if window_bits >= 15 {
        return Ok(());
    }
    match (format, parse_header(format, head)) {
        (Format::Zlib, Header::Complete(_)) if (head[0] >> 4) + 8 > window_bits => {
            Err(Error::data(
                DataErrorKind::BadHeader,
                &format!(
                    "invalid window size: the header states {} bytes, wbits {window_bits} allows {}",
                    1u32 << ((head[0] >> 4) + 8),
                    1u32 << window_bits
                ),
            ))
        }
        _ => Ok(()),
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
    fn auto_tells_gzip_by_its_first_byte_and_takes_empty_input_as_gzip() {
        assert_eq!(detect_format(&[0x1f, 0x8b, 8]), Format::Gzip);
        assert_eq!(detect_format(&[0x1f]), Format::Gzip);
        assert_eq!(detect_format(&[0x78, 0x9c]), Format::Zlib);
        // Not a stream of either: zlib's header check names what is wrong.
        assert_eq!(detect_format(b"hello"), Format::Zlib);
        assert_eq!(detect_format(&[]), Format::Gzip);
    }

    #[test]
    fn a_stream_s_format_is_told_by_its_first_byte_which_it_still_yields() {
        for (stream, want) in [
            (&[0x1f, 0x8b, 8, 0][..], Format::Gzip),
            (&[0x78, 0x9c, 3, 0][..], Format::Zlib),
            (&[][..], Format::Gzip),
        ] {
            // A reader that gives one byte per call, as a pipe may.
            struct Trickle<'a>(&'a [u8]);
            impl Read for Trickle<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    let n = self.0.len().min(buf.len()).min(1);
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let mut src = Trickle(stream);
            let (format, mut all) = detect_stream_format(&mut src).unwrap();
            assert_eq!(format, want);
            let mut back = Vec::new();
            all.read_to_end(&mut back).unwrap();
            assert_eq!(back, stream);
        }
    }

    #[test]
    fn a_zlib_window_larger_than_allowed_is_refused_once_the_header_is_whole() {
        for cinfo in 0..8u8 {
            let cmf = cinfo << 4 | 8;
            let flg = 31 - ((u16::from(cmf) << 8) % 31) as u8;
            let head = [cmf, flg];
            for bits in 8..=15u8 {
                let r = check_window(Format::Zlib, bits, &head);
                if cinfo + 8 > bits {
                    let e = r.unwrap_err();
                    assert!(
                        matches!(&e, Error::BadData(d) if d.kind() == DataErrorKind::BadHeader),
                        "{e}"
                    );
                    assert!(e.to_string().contains("invalid window size"), "{e}");
                } else {
                    r.unwrap();
                }
                // Half a header, another format, or a header refused for another reason
                // (here its check bits) pass: the decoder reports those.
                check_window(Format::Zlib, bits, &head[..1]).unwrap();
                check_window(Format::Deflate, bits, &head).unwrap();
                check_window(Format::Zlib, bits, &[cmf, flg ^ 1]).unwrap();
            }
        }
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
    fn zlib_header_is_valid_for_every_level() {
        for l in 0..=9 {
            let h = zlib_header(l);
            assert_eq!(h[0], 0x78);
            assert_eq!(u16::from_be_bytes(h) % 31, 0);
        }
    }
}
