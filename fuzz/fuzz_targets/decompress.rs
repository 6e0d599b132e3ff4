//! `wd_core::zip::decompress` against C zlib: the same output, or both refuse.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wd_core::zip::decompress_limited;

mod common;

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let format = common::format_of(sel);
    let ours = decompress_limited(data, format, Some(common::LIMIT));
    let theirs = common::zlib_verdict(format, data);
    common::compare(format, ours.as_deref(), &theirs);
});
