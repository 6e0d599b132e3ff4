//! Decoding accepts exactly what zlib accepts. Each raw deflate vector below was checked
//! against zlib (`zlib.decompress(v, -15)`); the wrapped forms add a correct header and
//! trailer, so the verdict is the deflate body's.

use wd_core::zip::{decompress, decompress_stream, default_opener, Format};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Dynamic blocks whose Huffman codes do not fill their code space, or that declare more
/// codes than deflate has: zlib refuses them.
const REFUSED: [(&str, &str); 5] = [
    (
        "HLIT 287 (more than 286 literal/length codes)",
        "f5c00104000000802000000000000000000000000001000000000000000000000000000000000000000100000009",
    ),
    (
        "HDIST 31 (more than 30 distance codes)",
        "05de0104000000802000000000000000000000000001000000000000000000000000000000000000000500000008",
    ),
    (
        "incomplete literal/length code",
        "05c001040000008020000000000000000000000000010000000000000000000000000000000000000027",
    ),
    (
        "incomplete distance code",
        "05c1010400000080200000000000000000000000000100000000000000000000000000000000000000bd",
    ),
    (
        "incomplete code-length code",
        "05c0010800000080200000000000000000000000000000000000000000000000000400000000000000\
         000000000000000000000000000000000000000000000000000000000000000015",
    ),
];

/// The incomplete codes zlib allows: one one-bit distance code, no distance code at all,
/// one one-bit literal/length code (end of block only). (name, hex, decoded)
const ACCEPTED: [(&str, &str, &[u8]); 3] = [
    (
        "single one-bit distance code",
        "05c001040000008020000000000000000000000000010000000000000000000000000000000000000025",
        b"a",
    ),
    (
        "no distance code",
        "05c001040000008020000000000000000000000000010000000000000000000000000000000000000011",
        b"a",
    ),
    (
        "single one-bit literal/length code",
        "05c001040000008020000000000000000000000000000000000000000000000000000000000000008002",
        b"",
    ),
];

/// `raw` (a deflate stream that decodes to `out`) in `format`, with a correct wrapper.
fn wrap(format: Format, raw: &[u8], out: &[u8]) -> Vec<u8> {
    match format {
        Format::Deflate => raw.to_vec(),
        Format::Zlib => {
            let mut a = simd_adler32::Adler32::new();
            a.write(out);
            [&[0x78, 0x9c][..], raw, &a.finish().to_be_bytes()].concat()
        }
        Format::Gzip => [
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..],
            raw,
            &crc32fast::hash(out).to_le_bytes(),
            &(out.len() as u32).to_le_bytes(),
        ]
        .concat(),
    }
}

const FORMATS: [Format; 3] = [Format::Deflate, Format::Zlib, Format::Gzip];

/// Decodes with the one-shot call and with the streaming call fed `step` bytes at a time.
fn both_ways(data: &[u8], format: Format, step: usize) -> [Result<Vec<u8>, String>; 2] {
    let one = decompress(data, format).map_err(|e| e.to_string());
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut out = Vec::new();
    let st = decompress_stream(
        &mut Trickle(data, step),
        &mut out,
        format,
        &default_opener,
        &mut |_, _| {},
    )
    .map(|_| out)
    .map_err(|e| e.to_string());
    [one, st]
}

#[test]
fn codes_that_do_not_fill_their_code_space_are_refused_in_every_format() {
    for (name, hex) in REFUSED {
        let raw = unhex(hex);
        for f in FORMATS {
            let data = wrap(f, &raw, b"a");
            for r in both_ways(&data, f, usize::MAX) {
                let e = r.expect_err(&format!("{name}, {f:?}: accepted"));
                assert!(e.contains("corrupt"), "{name}, {f:?}: {e}");
            }
        }
    }
}

#[test]
fn the_incomplete_codes_zlib_allows_are_accepted() {
    for (name, hex, want) in ACCEPTED {
        let raw = unhex(hex);
        for f in FORMATS {
            let data = wrap(f, &raw, want);
            for r in both_ways(&data, f, 3) {
                assert_eq!(r.as_deref(), Ok(want), "{name}, {f:?}");
            }
        }
    }
}

#[test]
fn a_multi_member_gzip_with_a_refused_member_is_refused() {
    let good = wrap(Format::Gzip, &unhex(ACCEPTED[0].1), b"a");
    let bad = wrap(Format::Gzip, &unhex(REFUSED[0].1), b"a");
    let data = [good.clone(), good.clone(), bad, good].concat();
    for r in both_ways(&data, Format::Gzip, 5) {
        assert!(r.is_err(), "{r:?}");
    }
}

#[test]
fn a_zlib_window_field_above_7_is_refused() {
    // CMF 0x88: deflate with a 64 KiB window (CINFO 8), which RFC 1950 forbids.
    let data = unhex("881ccb48cdc9c90700062c0215");
    for r in both_ways(&data, Format::Zlib, usize::MAX) {
        let e = r.expect_err("accepted");
        assert!(e.contains("header"), "{e}");
    }
    // The same stream with a 32 KiB window decodes.
    let mut ok = data.clone();
    ok[0] = 0x78;
    ok[1] = 0x9c;
    assert_eq!(decompress(&ok, Format::Zlib).unwrap(), b"hello");
}

use wd_core::zip::{compress, decompress_limited, decompress_stream_limited};
use wd_core::{DataErrorKind as Kind, Error};

fn kind_of(r: Result<Vec<u8>, Error>) -> (Kind, String) {
    match r {
        Err(Error::BadData(e)) => (e.kind(), e.to_string()),
        other => panic!("expected bad data, got {other:?}"),
    }
}

/// The error kind of both the one-shot and the streaming call (which must agree).
fn kinds(data: &[u8], format: Format) -> Kind {
    let (k1, m1) = kind_of(decompress(data, format));
    let mut sink = Vec::new();
    let r = decompress_stream(
        &mut &data[..],
        &mut sink,
        format,
        &default_opener,
        &mut |_, _| {},
    );
    let (k2, _) = kind_of(r.map(|_| sink));
    assert_eq!(k1, k2, "one-shot and stream disagree on {m1}");
    k1
}

#[test]
fn errors_say_what_is_wrong() {
    let text = b"this is not compressed at all, just text".repeat(20);
    let gz = compress(&text, Format::Gzip, 6).unwrap();
    let zl = compress(&text, Format::Zlib, 6).unwrap();
    assert_eq!(kinds(&text, Format::Gzip), Kind::NotCompressed);
    assert_eq!(kinds(&text, Format::Zlib), Kind::NotCompressed);
    assert!(decompress(&text, Format::Gzip)
        .unwrap_err()
        .to_string()
        .contains("not gzip data"));
    assert_eq!(kinds(b"", Format::Deflate), Kind::NotCompressed);
    // A member followed by junk.
    let junk = [&gz[..], b"junk"].concat();
    assert_eq!(kinds(&junk, Format::Gzip), Kind::TrailingGarbage);
    let junk = [&zl[..], b"junk"].concat();
    assert_eq!(kinds(&junk, Format::Zlib), Kind::TrailingGarbage);
    // A zlib header whose check fails is not zlib; a bad method is a bad header.
    let mut h = zl.clone();
    h[1] ^= 1;
    assert_eq!(kinds(&h, Format::Zlib), Kind::NotCompressed);
    let mut m = gz.clone();
    m[2] = 7;
    assert_eq!(kinds(&m, Format::Gzip), Kind::BadHeader);
    let mut r = gz.clone();
    r[3] = 0x80;
    assert_eq!(kinds(&r, Format::Gzip), Kind::BadHeader);
    // Truncated, corrupt, checksum.
    assert_eq!(kinds(&gz[..gz.len() - 3], Format::Gzip), Kind::Truncated);
    assert_eq!(kinds(&gz[..5], Format::Gzip), Kind::Truncated);
    let mut c = gz.clone();
    c[10] = 0xff; // BTYPE 3, reserved
    assert_eq!(kinds(&c, Format::Gzip), Kind::Corrupt);
    let mut s = zl.clone();
    let n = s.len();
    s[n - 1] ^= 1;
    assert_eq!(kinds(&s, Format::Zlib), Kind::Checksum);
}

/// A gzip member with FHCRC set: the header's CRC-16 is the low half of its CRC-32.
fn with_header_crc(gz: &[u8], good: bool) -> Vec<u8> {
    let mut h = gz[..10].to_vec();
    h[3] |= 0x02;
    let crc = (crc32fast::hash(&h) as u16) ^ u16::from(!good);
    [&h[..], &crc.to_le_bytes(), &gz[10..]].concat()
}

#[test]
fn the_gzip_header_crc_is_checked_as_zlib_does() {
    let gz = compress(b"header crc", Format::Gzip, 6).unwrap();
    assert_eq!(
        decompress(&with_header_crc(&gz, true), Format::Gzip).unwrap(),
        b"header crc"
    );
    assert_eq!(
        kinds(&with_header_crc(&gz, false), Format::Gzip),
        Kind::BadHeader
    );
}

#[test]
fn zero_padding_is_accepted_between_and_after_gzip_members() {
    let a = compress(b"first", Format::Gzip, 6).unwrap();
    let b = compress(b"second", Format::Gzip, 1).unwrap();
    let data = [&a[..], &[0; 7], &b[..], &[0; 3], &a[..], &[0; 1000]].concat();
    for r in both_ways(&data, Format::Gzip, 4) {
        assert_eq!(r.unwrap(), b"firstsecondfirst");
    }
    // But not after a zlib stream.
    let z = compress(b"z", Format::Zlib, 6).unwrap();
    assert_eq!(
        kinds(&[&z[..], &[0; 4]].concat(), Format::Zlib),
        Kind::TrailingGarbage
    );
}

/// A counting sink: bombs decode without keeping their output.
struct Count(u64);
impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A gzip of `members` x 16 MiB of zeros (members of about 16 KiB each).
fn zero_bomb(members: usize) -> Vec<u8> {
    let one = compress(&vec![0u8; 16 << 20], Format::Gzip, 6).unwrap();
    one.repeat(members)
}

#[test]
fn a_gigabyte_bomb_stops_at_the_limit() {
    let bomb = zero_bomb(64); // 1 GiB
    for limit in [0usize, 1000, 5 << 20] {
        let (k, m) = kind_of(decompress_limited(&bomb, Format::Gzip, Some(limit)));
        assert_eq!(k, Kind::OutputLimit, "{m}");
        let mut sink = Count(0);
        let r = decompress_stream_limited(
            &mut &bomb[..],
            &mut sink,
            Format::Gzip,
            Some(limit as u64),
            &default_opener,
            &mut |_, _| {},
        );
        assert!(matches!(r, Err(Error::BadData(ref e)) if e.kind() == Kind::OutputLimit));
        assert_eq!(sink.0, limit as u64, "writes exactly up to the limit");
    }
    // One member of 16 MiB, small enough for one request: the limit holds there too.
    let (k, _) = kind_of(decompress_limited(
        &bomb[..bomb.len() / 64],
        Format::Gzip,
        Some(1 << 20),
    ));
    assert_eq!(k, Kind::OutputLimit);
    // Exactly at the limit is fine.
    let small = compress(&[7u8; 5000], Format::Gzip, 6).unwrap();
    assert_eq!(
        decompress_limited(&small, Format::Gzip, Some(5000))
            .unwrap()
            .len(),
        5000
    );
    assert!(decompress_limited(&small, Format::Gzip, Some(4999)).is_err());
}

#[test]
fn a_gigabyte_bomb_streams_through_in_bounded_buffers() {
    let bomb = zero_bomb(64);
    let mut sink = Count(0);
    let st = decompress_stream(
        &mut &bomb[..],
        &mut sink,
        Format::Gzip,
        &default_opener,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(sink.0, 1 << 30);
    assert_eq!(st.bytes_out, 1 << 30);
}

#[test]
fn a_claimed_size_does_not_size_the_first_allocation() {
    // 20 bytes of gzip whose trailer claims 16 MiB - 2: the guess is bounded by what 20
    // bytes can decode to.
    let mut g = compress(b"", Format::Gzip, 6).unwrap();
    let n = g.len();
    g[n - 4..].copy_from_slice(&((16u32 << 20) - 2).to_le_bytes());
    assert!(wd_core::zip::output_guess(&g, Format::Gzip) <= wd_core::zip::max_inflated(g.len()));
    assert!(wd_core::zip::max_inflated(g.len()) < 64 << 10);
    assert_eq!(kinds(&g, Format::Gzip), Kind::Checksum);
}
