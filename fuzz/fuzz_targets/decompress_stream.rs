//! `wd_core::zip::decompress_stream` fed at random split points, against C zlib.

#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use wd_core::zip::{decompress_stream_limited, default_opener};

mod common;

/// Hands out `data` in pieces whose sizes come from `splits` (cycled).
struct Pieces<'a> {
    data: &'a [u8],
    splits: &'a [u8],
    i: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = match self.splits.get(self.i % self.splits.len().max(1)) {
            Some(&s) => usize::from(s) * 37 + 1,
            None => usize::MAX,
        };
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    let [sel, nsplit, rest @ ..] = input else {
        return;
    };
    let format = common::format_of(*sel);
    let k = usize::from(*nsplit % 8).min(rest.len());
    let (splits, data) = rest.split_at(k);
    let mut out = Vec::new();
    let mut reader = Pieces { data, splits, i: 0 };
    let ours = decompress_stream_limited(
        &mut reader,
        &mut out,
        format,
        Some(common::LIMIT as u64),
        &default_opener,
        &mut |_, _| {},
    );
    let theirs = common::zlib_verdict(format, data);
    common::compare(format, ours.as_ref().map(|_| &out[..]), &theirs);
});
