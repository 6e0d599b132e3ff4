//! The words a caller uses to ask for a compression: the stream [`Format`] and the
//! compression [`Level`]. Each is parsed, checked and printed here, once; the whole-stream
//! functions, the Python binding and the command line take these types.

use std::fmt;
use std::str::FromStr;

use crate::abi::ReqType;
use crate::error::Error;

/// A compressed stream format.
///
/// Names, as [`FromStr`] reads them: `gzip` (or `gz`), `zlib`, `deflate` (or `raw`), in any
/// ASCII case (`GZIP` is `gzip`). [`fmt::Display`] writes the first, lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Raw deflate (RFC 1951).
    Deflate,
    /// zlib (RFC 1950).
    Zlib,
    /// gzip (RFC 1952).
    Gzip,
}

impl Format {
    /// Every format, gzip first.
    pub const ALL: [Format; 3] = [Format::Gzip, Format::Zlib, Format::Deflate];

    /// The format's name: `gzip`, `zlib` or `deflate`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Deflate => "deflate",
            Format::Zlib => "zlib",
            Format::Gzip => "gzip",
        }
    }

    /// Other names [`FromStr`] accepts for the format.
    const fn aliases(self) -> &'static [&'static str] {
        match self {
            Format::Deflate => &["raw"],
            Format::Zlib => &[],
            Format::Gzip => &["gz"],
        }
    }

    /// The request type that makes (or reads) one whole stream of this format.
    pub const fn req_type(self) -> ReqType {
        match self {
            Format::Deflate => ReqType::Deflate,
            Format::Zlib => ReqType::Zlib,
            Format::Gzip => ReqType::Gzip,
        }
    }

    /// The format whose whole streams requests of `t` make or read ([`Format::req_type`]
    /// read backwards); `None` for a request type of no format.
    pub fn from_req_type(t: ReqType) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.req_type() == t)
    }

    /// The format zlib's `wbits` value names, as zlib reads it for `decompress` (true) or
    /// for compression; `Ok(None)` is automatic detection (gzip or zlib, told by the first
    /// byte: [`crate::zip::detect_format`]).
    ///
    /// Decompression: 8..=15 and 0 (the window the header states) zlib, 24..=31 gzip,
    /// -15..=-8 raw deflate, 40..=47 automatic. Compression writes a 32 KiB window, so it
    /// takes only 15 (zlib), 31 (gzip) and -15 (raw deflate). Any other value is
    /// [`Error::BadRequest`].
    ///
    /// A zlib header whose window is larger than `wbits` allows is refused when the header
    /// is read: [`Format::window_bits_of`], [`crate::zip::check_window`].
    pub fn from_wbits(wbits: i64, decompress: bool) -> Result<Option<Format>, Error> {
        let named = match (wbits, decompress) {
            (40..=47, true) => return Ok(None),
            (0 | 8..=15, true) | (15, false) => Some(Format::Zlib),
            (24..=31, true) | (31, false) => Some(Format::Gzip),
            (-15..=-8, true) | (-15, false) => Some(Format::Deflate),
            _ => None,
        };
        named.map(Some).ok_or_else(|| {
            Error::BadRequest(format!(
                "invalid wbits {wbits} for {}: see warpdrive.zlibobj",
                if decompress {
                    "decompression"
                } else {
                    "compression"
                }
            ))
        })
    }

    /// The largest window, as a power of two, that a zlib header may state when zlib's
    /// `wbits` decodes it: `wbits` for 8..=15, `wbits - 32` for the detecting 40..=47, and 15
    /// (32 KiB, the most a header can state) for 0 (the header's own window) and every other
    /// value. zlib refuses a larger one ("invalid window size").
    pub fn window_bits_of(wbits: i64) -> u8 {
        match wbits {
            8..=15 => wbits as u8,
            40..=47 => (wbits - 32) as u8,
            _ => 15,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Reads a format name (see [`Format`]); anything else is [`Error::BadRequest`].
    fn from_str(s: &str) -> Result<Format, Error> {
        Format::ALL
            .into_iter()
            .find(|f| {
                f.name().eq_ignore_ascii_case(s)
                    || f.aliases().iter().any(|a| a.eq_ignore_ascii_case(s))
            })
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "format must be 'gzip', 'zlib' or 'deflate', not {s:?}"
                ))
            })
    }
}

/// A compression level, counted as zlib and gzip count them: 1 (fastest) ..= 9 (smallest),
/// or [`Level::DEFAULT`] (-1, zlib's `Z_DEFAULT_COMPRESSION`), which is level
/// [`Level::DEFAULT_VALUE`] (6). Level 0 (zlib's "store only") is not offered.
///
/// A `Level` is what the caller asked for; [`Level::get`] checks it, so a function taking
/// `impl Into<Level>` accepts a plain number and reports a bad one as
/// [`Error::BadRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Level(i64);

impl Level {
    /// The default level (-1): [`Level::DEFAULT_VALUE`].
    pub const DEFAULT: Level = Level(-1);
    /// What [`Level::DEFAULT`] compresses at.
    pub const DEFAULT_VALUE: u32 = 6;
    /// The fastest level.
    pub const MIN: u32 = 1;
    /// The smallest-output level.
    pub const MAX: u32 = 9;

    /// A level as asked for (checked by [`Level::get`]).
    pub const fn new(n: i64) -> Level {
        Level(n)
    }

    /// The number as asked for (-1 for [`Level::DEFAULT`]), unchecked.
    pub const fn requested(self) -> i64 {
        self.0
    }

    /// The level to run at, 1..=9 (the default is 6); [`Error::BadRequest`] for any number
    /// but -1 and 1..=9.
    pub fn get(self) -> Result<u32, Error> {
        match self.0 {
            -1 => Ok(Level::DEFAULT_VALUE),
            n @ 1..=9 => Ok(n as u32),
            n => Err(Error::BadRequest(format!(
                "level must be 1..9 (or -1 for the default), not {n}"
            ))),
        }
    }
}

impl Default for Level {
    fn default() -> Level {
        Level::DEFAULT
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Level {
    type Err = Error;

    /// Reads a checked level: `-1` or `1` ..= `9`.
    fn from_str(s: &str) -> Result<Level, Error> {
        let n: i64 = s.trim().parse().map_err(|_| {
            Error::BadRequest(format!(
                "level must be 1..9 (or -1 for the default), not {s:?}"
            ))
        })?;
        let l = Level(n);
        l.get()?;
        Ok(l)
    }
}

macro_rules! level_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Level {
            fn from(n: $t) -> Level {
                Level(i64::from(n))
            }
        }
    )*};
}
level_from!(i8, i16, i32, i64, u8, u16, u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_read_back_and_aliases_ignore_case() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
            assert_eq!(f.name().to_uppercase().parse::<Format>().unwrap(), f);
        }
        assert_eq!("gz".parse::<Format>().unwrap(), Format::Gzip);
        assert_eq!("RAW".parse::<Format>().unwrap(), Format::Deflate);
        for bad in ["", "lz4", "gzip ", "zlib1"] {
            let e = bad.parse::<Format>().unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{bad:?}: {e}");
            assert!(e.to_string().contains("format"), "{e}");
        }
    }

    #[test]
    fn wbits_name_formats_as_zlib_reads_them() {
        for w in [40, 47] {
            assert_eq!(Format::from_wbits(w, true).unwrap(), None, "{w}");
        }
        for (w, f) in [
            // 0: zlib's "the window the header states", of the zlib format only.
            (0, Format::Zlib),
            (8, Format::Zlib),
            (15, Format::Zlib),
            (24, Format::Gzip),
            (31, Format::Gzip),
            (-8, Format::Deflate),
            (-15, Format::Deflate),
        ] {
            assert_eq!(Format::from_wbits(w, true).unwrap(), Some(f), "{w}");
        }
        for (w, f) in [
            (15, Format::Zlib),
            (31, Format::Gzip),
            (-15, Format::Deflate),
        ] {
            assert_eq!(Format::from_wbits(w, false).unwrap(), Some(f), "{w}");
        }
        for w in [1, 7, 16, 23, 32, 39, 48, -7, -16, i64::MAX, i64::MIN] {
            let e = Format::from_wbits(w, true).unwrap_err();
            assert!(e.to_string().contains(&format!("invalid wbits {w}")), "{e}");
        }
        // Compression writes the largest window only: no smaller one, no detection.
        for w in [0, 9, 14, 25, 30, -9, -14, 47] {
            let e = Format::from_wbits(w, false).unwrap_err();
            assert!(matches!(e, Error::BadRequest(_)), "{w}: {e}");
        }
    }

    #[test]
    fn wbits_limit_the_zlib_window_as_zlib_reads_them() {
        for (w, bits) in [
            (8, 8),
            (9, 9),
            (14, 14),
            (15, 15),
            (40, 8),
            (46, 14),
            (47, 15),
        ] {
            assert_eq!(Format::window_bits_of(w), bits, "{w}");
        }
        // 0 takes the header's window; gzip and raw deflate have no header window.
        for w in [0, 24, 31, -8, -15] {
            assert_eq!(Format::window_bits_of(w), 15, "{w}");
        }
    }

    #[test]
    fn request_types_read_back() {
        for f in Format::ALL {
            assert_eq!(Format::from_req_type(f.req_type()), Some(f));
        }
        assert_eq!(Format::from_req_type(ReqType::Nop), None);
    }

    #[test]
    fn levels_follow_zlib_with_minus_one_the_default() {
        assert_eq!(Level::default().get().unwrap(), 6);
        assert_eq!(Level::from(-1).get().unwrap(), 6);
        for n in 1..=9u32 {
            assert_eq!(Level::from(n).get().unwrap(), n);
            assert_eq!(n.to_string().parse::<Level>().unwrap().get().unwrap(), n);
        }
        for bad in [0i64, 10, -2, i64::MAX, i64::MIN] {
            let e = Level::new(bad).get().unwrap_err();
            assert!(e.to_string().contains("level must be 1..9"), "{e}");
        }
        assert!("0".parse::<Level>().is_err());
        assert!("six".parse::<Level>().is_err());
    }

    #[test]
    fn directions_read_back() {
        use crate::abi::Direction;
        for d in Direction::ALL {
            assert_eq!(d.to_string().parse::<Direction>().unwrap(), d);
            assert_eq!(Direction::ALL[d.index()], d);
        }
        let e = "sideways".parse::<Direction>().unwrap_err();
        assert!(e.to_string().contains("direction"), "{e}");
    }
}
