//! `Inflater::inflate_to_block`: input that must end where a block starts.

use crate::zlibrs::{InflateStop, Inflater};
use crate::{Engine, Wrapper};

/// Bits written least significant first, as deflate packs them.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    n: usize,
}

impl Bits {
    fn put(&mut self, value: u32, count: usize) {
        for i in 0..count {
            if self.n % 8 == 0 {
                self.out.push(0);
            }
            self.out[self.n / 8] |= (((value >> i) & 1) as u8) << (self.n % 8);
            self.n += 1;
        }
    }

    /// A Huffman code, most significant bit first.
    fn code(&mut self, code: u32, len: usize) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    /// A fixed-Huffman block of literals below 144, ended by its end-of-block code.
    fn fixed(&mut self, last: bool, text: &[u8]) {
        self.put(u32::from(last), 1);
        self.put(1, 2);
        for &c in text {
            self.code(0x30 + u32::from(c), 8);
        }
        self.code(0, 7);
    }

    /// An empty stored block that is not the last: a flush point.
    fn flush(&mut self) {
        self.put(0, 3);
        self.n = self.n.div_ceil(8) * 8;
        self.out.extend_from_slice(&[0, 0, 0xff, 0xff]);
        self.n += 32;
    }
}

fn stored(last: bool, len: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![u8::from(last)];
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&(!len).to_le_bytes());
    v.extend_from_slice(data);
    v
}

fn to_block(input: &[u8]) -> (usize, usize, InflateStop) {
    let mut out = vec![0u8; 1 << 16];
    Inflater::new(Wrapper::Raw).inflate_to_block(input, &mut out)
}

#[test]
fn input_that_ends_where_a_block_starts_needs_more() {
    // A block, then a flush point: the next block starts at the next byte.
    let mut b = Bits::default();
    b.fixed(false, b"hello");
    b.flush();
    assert_eq!(to_block(&b.out), (b.out.len(), 5, InflateStop::NeedInput));
    // Blocks whose last end-of-block code ends a byte (each is 2 bits past a byte's end).
    let mut b = Bits::default();
    for text in [&b"ab"[..], b"c", b"", b"d"] {
        b.fixed(false, text);
    }
    assert_eq!(b.n % 8, 0);
    assert_eq!(to_block(&b.out), (b.out.len(), 4, InflateStop::NeedInput));
    let mut b = Bits::default();
    b.fixed(false, b"abcd");
    b.fixed(false, b"e");
    // 3 + 32 + 7 + 3 + 8 + 7 = 60 bits: not a byte's end.
    assert_eq!(b.n % 8, 4);
    assert_eq!(to_block(&b.out).2, InflateStop::InsideBlock);
    // Stored blocks, the second ending the input.
    let mut two = stored(false, 3, b"abc");
    two.extend(stored(false, 2, b"de"));
    assert_eq!(to_block(&two), (two.len(), 5, InflateStop::NeedInput));
    // Many blocks within the last bytes, and pieces of many blocks before them.
    let mut b = Bits::default();
    for i in 0..200u8 {
        b.fixed(false, &[b'a' + i % 26; 3]);
        if i % 7 == 0 {
            b.flush();
        }
    }
    b.flush();
    assert_eq!(to_block(&b.out), (b.out.len(), 600, InflateStop::NeedInput));
}

#[test]
fn input_that_ends_anywhere_else_is_inside_a_block() {
    let mut in_byte = Bits::default();
    in_byte.fixed(false, b"hello");
    assert!(in_byte.n % 8 != 0);
    let mut mid = Bits::default();
    mid.fixed(false, b"hello");
    mid.flush();
    let mut mid = mid.out;
    mid.extend_from_slice(&stored(false, 10, b"wor"));
    let mut last_open = Bits::default();
    last_open.fixed(false, b"hi");
    last_open.flush();
    let mut last_open = last_open.out;
    // The last block's header, and its end-of-block code not yet there.
    last_open.push(0b011);
    for (what, input) in [
        ("a block that ends inside the last byte", in_byte.out),
        ("a stored block with bytes to come", mid),
        (
            "a stored block's header only",
            stored(false, 10, b"")[..3].to_vec(),
        ),
        ("the last block open", last_open),
        ("a flush point without its last byte", {
            let mut b = Bits::default();
            b.fixed(false, b"hello");
            b.flush();
            b.out.pop();
            b.out
        }),
    ] {
        assert_eq!(to_block(&input).2, InflateStop::InsideBlock, "{what}");
    }
}

#[test]
fn the_end_and_bad_data_are_reported_as_without_it() {
    let mut b = Bits::default();
    b.fixed(true, b"hello");
    assert_eq!(to_block(&b.out), (b.out.len(), 5, InflateStop::End));
    // A stored block's lengths that do not match, in the last bytes.
    let bad = [0u8, 5, 0, 5, 0];
    assert_eq!(to_block(&bad).2, InflateStop::Invalid);
    // Output full before the input's end.
    let s = stored(false, 10, b"0123456789");
    let mut out = [0u8; 4];
    let r = Inflater::new(Wrapper::Raw).inflate_to_block(&s, &mut out);
    assert_eq!((r.1, r.2), (4, InflateStop::OutputFull));
}

#[test]
fn a_whole_piece_of_the_compressor_ends_where_a_block_starts() {
    // What compress_stream makes of every piece but the last, at each engine.
    let data: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 27) as u8 + b'a')
        .collect();
    for level in 1..=9 {
        let mut e = Engine::new();
        let mut z = vec![0u8; data.len() * 2];
        let crate::DeflateResult::Done(_, n) = e.compress(Wrapper::Raw, level, true, &data, &mut z)
        else {
            panic!("level {level}: output too small");
        };
        let mut out = vec![0u8; data.len() + 1];
        let d = e
            .decompress(
                Wrapper::Raw,
                crate::Checksum::None,
                false,
                true,
                &z[..n],
                &mut out,
            )
            .unwrap();
        assert_eq!(
            (d.consumed, d.produced, d.stop),
            (n, data.len(), InflateStop::NeedInput),
            "level {level}"
        );
        assert!(out[..data.len()] == data[..]);
        // Without its flush point, it ends inside a block.
        let d = e
            .decompress(
                Wrapper::Raw,
                crate::Checksum::None,
                false,
                true,
                &z[..n - 4],
                &mut out,
            )
            .unwrap();
        assert_eq!(d.stop, InflateStop::InsideBlock, "level {level}");
    }
}
