//! The piece path against C zlib: whenever the pieces of an indexed gzip member decode apart
//! (`wd_core::pieces::decompress_pieces`), zlib reads the member as one stream to the same
//! output; and `zip::decompress` of the member gives zlib's verdict.
//!
//! Input: a byte choosing 2..=4 pieces, a little-endian u16 length for each piece but the
//! last, then the raw deflate bytes of the pieces. The index states each piece's output as
//! zlib decodes the piece alone, and the trailer states the CRC-32 and size of those outputs
//! joined: what the piece path would produce, so that only its checks stand in its way.

#![no_main]

use flate2::{Decompress, FlushDecompress};
use libfuzzer_sys::fuzz_target;
use wd_core::pieces::{extra_field, read_index, PieceIndex};
use wd_core::zip::{crc32, decompress_limited, default_opener, Format};

mod common;

/// What zlib decodes of `piece` alone, as raw deflate, up to the limit.
fn apart(piece: &[u8]) -> Vec<u8> {
    let mut d = Decompress::new(false);
    let mut out = Vec::with_capacity(piece.len() * 4 + 64);
    loop {
        let before = (d.total_in(), d.total_out());
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(1 << 16));
        }
        let used = d.total_in() as usize;
        match d.decompress_vec(&piece[used..], &mut out, FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) | Err(_) => return out,
            Ok(_) if (d.total_in(), d.total_out()) == before => return out,
            Ok(_) if out.len() > common::LIMIT => return out,
            Ok(_) => {}
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, rest)) = input.split_first() else {
        return;
    };
    let n = 2 + usize::from(sel % 3);
    let Some((lens, data)) = rest.split_at_checked(2 * (n - 1)) else {
        return;
    };
    let mut pieces = Vec::with_capacity(n);
    let mut at = 0;
    for l in lens.chunks_exact(2) {
        let len = usize::from(u16::from_le_bytes([l[0], l[1]])).min(data.len() - at);
        if len == 0 {
            return;
        }
        pieces.push(&data[at..at + len]);
        at += len;
    }
    if at == data.len() {
        return;
    }
    pieces.push(&data[at..]);
    let outs: Vec<Vec<u8>> = pieces.iter().map(|p| apart(p)).collect();
    let joined = outs.concat();
    if joined.len() > common::LIMIT {
        return;
    }

    let mut member = vec![0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3];
    member.extend(extra_field(n).expect("2..=4 slots"));
    for p in &pieces {
        member.extend_from_slice(p);
    }
    member.extend_from_slice(&crc32(0, &joined).to_le_bytes());
    member.extend_from_slice(&(joined.len() as u32).to_le_bytes());
    let entries: Vec<(u32, u32)> = pieces
        .iter()
        .zip(&outs)
        .map(|(p, o)| (p.len() as u32, o.len() as u32))
        .collect();
    PieceIndex::new(&entries, n)
        .expect("fits its slots")
        .patch(&mut member);

    let theirs = common::zlib_verdict(Format::Gzip, &member);
    if let Some(t) = read_index(&member) {
        let ours = wd_core::pieces::decompress_pieces(
            &member,
            &t,
            Some(common::LIMIT),
            2,
            &default_opener,
        )
        .expect("no device failure");
        if let Some(out) = ours {
            match &theirs {
                common::Verdict::Accepted(b) => assert!(out == *b, "pieces: outputs differ"),
                v => panic!("the pieces decoded apart; zlib says {v:?}"),
            }
        }
    }
    let whole = decompress_limited(&member, Format::Gzip, Some(common::LIMIT));
    common::compare(Format::Gzip, whole.as_deref(), &theirs);
});
