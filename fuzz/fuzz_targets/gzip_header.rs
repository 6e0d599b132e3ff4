//! The driver's header check (`check_header`, which names what is wrong with a stream)
//! against C zlib's: a header we refuse, zlib refuses; a header zlib refuses as a header,
//! we refuse; never a panic.

#![no_main]

use flate2::{Decompress, FlushDecompress};
use libfuzzer_sys::fuzz_target;
use wd_core::zip::{check_header, Format};

/// zlib's messages for a refused header.
const HEADER_ERRORS: [&str; 5] = [
    "incorrect header check",
    "unknown compression method",
    "unknown header flags set",
    "header crc mismatch",
    "invalid window size",
];

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    // Mostly gzip: that header has the optional fields.
    let format = if sel % 4 == 0 {
        Format::Zlib
    } else {
        Format::Gzip
    };
    let ours = check_header(format, data);
    // zlib on the input as it is, and followed by zeros (a refusal is decided by a prefix,
    // so whatever we refuse from these bytes zlib refuses however the input goes on).
    let zlib = |d: &[u8]| {
        let mut z = match format {
            Format::Gzip => Decompress::new_gzip(15),
            _ => Decompress::new(true),
        };
        let mut out = vec![0u8; 1 << 16];
        match z.decompress(d, &mut out, FlushDecompress::None) {
            Err(e) => Some(e.message().is_some_and(|m| HEADER_ERRORS.contains(&m))),
            Ok(_) => None,
        }
    };
    let padded = [data, &[0u8; 70_000][..]].concat();
    let (as_is, extended) = (zlib(data), zlib(&padded));
    match ours {
        Err(e) => assert!(
            extended.is_some(),
            "{format:?}: we refuse a header zlib takes: {e}"
        ),
        Ok(Some(n)) => {
            assert!(n <= data.len());
            assert!(
                extended != Some(true),
                "{format:?}: zlib refuses a header we take"
            );
        }
        Ok(None) => assert!(
            as_is != Some(true),
            "{format:?}: incomplete for us, refused by zlib"
        ),
    }
    // The classification of a stopped stream never panics either.
    for s in [
        wd_core::abi::Status::NeedInput,
        wd_core::abi::Status::DataError,
    ] {
        let _ = wd_core::zip::stream_error(format, data, s);
    }
});
