//! Turning a whole raw deflate stream into a piece that other pieces can follow: libdeflate
//! writes only whole streams, whose last block is marked final (BFINAL). A piece of a
//! parallel stream must instead end byte-aligned without a final block, as a sync flush
//! leaves it. Clearing the final block's BFINAL bit and appending an empty stored block makes
//! one from the other; finding that bit needs the position of the last block's header, which
//! nothing but a walk over the blocks tells: [`final_block`] decodes the Huffman symbols
//! without producing output (no copies, no window), a fraction of a decode's cost.
//!
//! The walk is used only on streams an engine has just written. It still refuses what cannot
//! be a valid stream (codes that over-subscribe their code space, symbols deflate does not
//! have, a stream that ends early) with `None`, so a caller falls back instead of writing a
//! corrupt piece.

/// Bits of the first-level decoding tables; longer codes are decoded bit by bit.
const TABLE_BITS: u32 = 11;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const MAX_BITS: usize = 15;

/// Extra bits of the length symbols 257..=285.
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Extra bits of the distance symbols 0..=29.
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order code-length code lengths come in.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A little-endian bit reader over a byte slice that refills 64 bits at a time. Reading past
/// the end yields zero bits and is counted, so the walk can refuse a truncated stream.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    /// The next byte to load into `buf`.
    pos: usize,
    buf: u64,
    /// Valid bits in `buf`.
    have: u32,
    /// Bytes of zeros loaded past the end.
    past_end: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            buf: 0,
            have: 0,
            past_end: 0,
        }
    }

    /// Tops `buf` up to at least 56 valid bits.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            self.buf |= w << self.have;
            let bytes = (63 - self.have) / 8;
            self.pos += bytes as usize;
            self.have += bytes * 8;
        } else {
            while self.have <= 56 {
                let b = match self.data.get(self.pos) {
                    Some(&b) => b,
                    None => {
                        self.past_end += 1;
                        0
                    }
                };
                self.buf |= u64::from(b) << self.have;
                self.pos += 1;
                self.have += 8;
            }
        }
    }

    /// The next `n` (at most 32) bits, without consuming them; needs a refill before.
    #[inline(always)]
    fn peek(&self, n: u32) -> u32 {
        (self.buf & ((1u64 << n) - 1)) as u32
    }

    #[inline(always)]
    fn drop_bits(&mut self, n: u32) {
        self.buf >>= n;
        self.have -= n;
    }

    /// Reads `n` (at most 32) bits.
    #[inline(always)]
    fn take(&mut self, n: u32) -> u32 {
        self.refill();
        let v = self.peek(n);
        self.drop_bits(n);
        v
    }

    /// The position of the next unread bit from the start of the data.
    fn bit_pos(&self) -> usize {
        self.pos * 8 - self.have as usize
    }

    /// Whether the bits read so far all came from the data.
    fn within(&self) -> bool {
        self.bit_pos() <= self.data.len() * 8
    }

    /// Skips to the next byte boundary and from there `bytes` bytes on; `None` past the end.
    fn align_and_skip(&mut self, bytes: usize) -> Option<()> {
        let at = self.bit_pos().div_ceil(8) + bytes;
        if at > self.data.len() {
            return None;
        }
        self.pos = at;
        self.buf = 0;
        self.have = 0;
        Some(())
    }
}

/// A canonical Huffman code: a first-level table for codes of up to `TABLE_BITS` bits, the
/// counts and sorted symbols for longer ones.
struct Code {
    /// `symbol << 5 | bits`, where `bits` counts the code and the symbol's extra bits (a
    /// length's or a distance's); 0 where the code is longer than `TABLE_BITS`, unused, or
    /// a symbol deflate does not have.
    table: [u16; TABLE_SIZE],
    count: [u16; MAX_BITS + 1],
    /// The first canonical code of each length, and the index of its symbol in `symbols`.
    first_code: [u32; MAX_BITS + 1],
    first_index: [u16; MAX_BITS + 1],
    /// The symbols by code: by length, then by value.
    symbols: Vec<u16>,
    /// The alphabet of the code last built.
    alphabet: Alphabet,
}

/// Which of deflate's alphabets a code is for: it decides the extra bits of each symbol.
#[derive(Clone, Copy)]
enum Alphabet {
    /// Code lengths (no extra bits in the table: the repeat codes read theirs).
    CodeLengths,
    /// Literals, end of block and lengths.
    LitLen,
    /// Distances.
    Dist,
}

impl Alphabet {
    /// The extra bits of `sym`, `None` for a symbol deflate does not have.
    fn extra(self, sym: usize) -> Option<u8> {
        match self {
            Alphabet::CodeLengths => Some(0),
            Alphabet::LitLen if sym <= 256 => Some(0),
            Alphabet::LitLen => LEN_EXTRA.get(sym - 257).copied(),
            Alphabet::Dist => DIST_EXTRA.get(sym).copied(),
        }
    }
}

impl Code {
    fn new() -> Self {
        Code {
            table: [0; TABLE_SIZE],
            count: [0; MAX_BITS + 1],
            first_code: [0; MAX_BITS + 1],
            first_index: [0; MAX_BITS + 1],
            symbols: Vec::with_capacity(288),
            alphabet: Alphabet::CodeLengths,
        }
    }

    /// Builds the code from code lengths; `None` if they over-subscribe the code space or
    /// leave it incomplete (beyond the single one-bit code deflate allows).
    fn build(&mut self, lengths: &[u8], alphabet: Alphabet) -> Option<()> {
        self.alphabet = alphabet;
        self.count = [0; MAX_BITS + 1];
        for &l in lengths {
            self.count[usize::from(l)] += 1;
        }
        self.count[0] = 0;
        let mut left: i32 = 1;
        for len in 1..=MAX_BITS {
            left = left * 2 - i32::from(self.count[len]);
            if left < 0 {
                return None;
            }
        }
        let used: u16 = self.count.iter().sum();
        if left > 0 && !(used == 0 || (used == 1 && self.count[1] == 1)) {
            return None;
        }
        // Canonical codes: the first code of each length and the place of its symbol among
        // the symbols sorted by code, then the symbols in order.
        let count = self.count;
        let (mut code, mut index) = (0u32, 0u16);
        let firsts = self.first_code.iter_mut().zip(self.first_index.iter_mut());
        for (len, (first_code, first_index)) in firsts.enumerate().skip(1) {
            code = (code + u32::from(count[len - 1])) << 1;
            *first_code = code;
            *first_index = index;
            index += count[len];
        }
        let mut next = self.first_code;
        let mut offs = self.first_index;
        self.symbols.clear();
        self.symbols.resize(usize::from(used), 0);
        self.table = [0; TABLE_SIZE];
        for (sym, &l) in lengths.iter().enumerate() {
            let len = usize::from(l);
            if len == 0 {
                continue;
            }
            self.symbols[usize::from(offs[len])] = sym as u16;
            offs[len] += 1;
            let c = next[len];
            next[len] += 1;
            let Some(extra) = alphabet.extra(sym) else {
                continue;
            };
            if len as u32 <= TABLE_BITS {
                // The stream holds codes most significant bit first: the table is indexed
                // by the bits as read, so by the reversed code.
                let rev = (c.reverse_bits() >> (32 - len)) as usize;
                let entry = (sym as u16) << 5 | (len as u16 + u16::from(extra));
                let mut i = rev;
                while i < TABLE_SIZE {
                    self.table[i] = entry;
                    i += 1 << len;
                }
            }
        }
        Some(())
    }

    /// Decodes one symbol from `ahead`, the next bits of the stream (at least 28 of them):
    /// the symbol and how many bits it takes with its extra bits; `None` for a code or
    /// symbol deflate does not have. Takes no reader, so the caller's stays in registers.
    #[inline(always)]
    fn decode(&self, ahead: u64) -> Option<(u16, u32)> {
        let e = self.table[(ahead as usize) & (TABLE_SIZE - 1)];
        if e != 0 {
            return Some((e >> 5, u32::from(e & 31)));
        }
        self.decode_long(ahead)
    }

    /// For codes longer than the table (or an unused code: `None`): the next 15 bits in
    /// the code's own order, compared with the first code of each longer length.
    #[cold]
    #[inline(never)]
    fn decode_long(&self, ahead: u64) -> Option<(u16, u32)> {
        let rev = ((ahead & 0x7fff) as u16).reverse_bits() >> 1;
        for len in TABLE_BITS as usize + 1..=MAX_BITS {
            let code = u32::from(rev >> (MAX_BITS - len));
            let k = code.wrapping_sub(self.first_code[len]);
            if k < u32::from(self.count[len]) {
                let at = usize::from(self.first_index[len]) + k as usize;
                let sym = *self.symbols.get(at)?;
                let extra = self.alphabet.extra(usize::from(sym))?;
                return Some((sym, len as u32 + u32::from(extra)));
            }
        }
        None
    }
}

/// Where the final block of a raw deflate stream is: the bit its header starts at (the
/// BFINAL bit) and the bit after its end-of-block code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalBlock {
    /// Bit offset of the final block's header from the start of the stream.
    pub start_bit: usize,
    /// Bit offset just past the final block's last code.
    pub end_bit: usize,
}

/// Walks the blocks of the raw deflate stream at the start of `stream` and tells where its
/// final block starts and ends; `None` if it is not a valid stream or ends early.
pub fn final_block(stream: &[u8]) -> Option<FinalBlock> {
    let mut bits = Bits::new(stream);
    let mut lit = Code::new();
    let mut dist = Code::new();
    let mut lengths = [0u8; 288 + 32];
    loop {
        let start_bit = bits.bit_pos();
        let last = bits.take(1) == 1;
        match bits.take(2) {
            0 => {
                bits.align_and_skip(0)?;
                let len = bits.take(16);
                let nlen = bits.take(16);
                if len != !nlen & 0xffff {
                    return None;
                }
                bits.align_and_skip(len as usize)?;
            }
            1 => {
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..288].fill(8);
                lit.build(&lengths[..288], Alphabet::LitLen)?;
                // All 32 five-bit codes: 30 and 31 are codes no valid stream uses.
                lengths[..32].fill(5);
                dist.build(&lengths[..32], Alphabet::Dist)?;
                walk_codes(&mut bits, &lit, &dist)?;
            }
            2 => {
                read_dynamic(&mut bits, &mut lit, &mut dist, &mut lengths)?;
                walk_codes(&mut bits, &lit, &dist)?;
            }
            _ => return None,
        }
        if !bits.within() {
            return None;
        }
        if last {
            return Some(FinalBlock {
                start_bit,
                end_bit: bits.bit_pos(),
            });
        }
    }
}

/// Reads a dynamic block's header and builds its two codes.
fn read_dynamic(
    bits: &mut Bits<'_>,
    lit: &mut Code,
    dist: &mut Code,
    lengths: &mut [u8; 320],
) -> Option<()> {
    let nlit = bits.take(5) as usize + 257;
    let ndist = bits.take(5) as usize + 1;
    let ncl = bits.take(4) as usize + 4;
    if nlit > 286 || ndist > 30 {
        return None;
    }
    let mut cl = [0u8; 19];
    for &i in &CL_ORDER[..ncl] {
        cl[i] = bits.take(3) as u8;
    }
    let mut clcode = Code::new();
    clcode.build(&cl, Alphabet::CodeLengths)?;
    let total = nlit + ndist;
    let mut i = 0;
    while i < total {
        bits.refill();
        let (sym, n) = clcode.decode(bits.buf)?;
        bits.drop_bits(n);
        let (value, repeat) = match sym {
            0..=15 => (sym as u8, 1),
            16 => {
                let prev = *lengths[..i].last()?;
                (prev, 3 + bits.take(2) as usize)
            }
            17 => (0, 3 + bits.take(3) as usize),
            18 => (0, 11 + bits.take(7) as usize),
            _ => return None,
        };
        if i + repeat > total {
            return None;
        }
        lengths[i..i + repeat].fill(value);
        i += repeat;
    }
    if lengths[256] == 0 {
        return None;
    }
    lit.build(&lengths[..nlit], Alphabet::LitLen)?;
    dist.build(&lengths[nlit..total], Alphabet::Dist)?;
    Some(())
}

/// Walks one block's codes up to its end-of-block code.
#[inline(always)]
fn walk_codes(bits: &mut Bits<'_>, lit: &Code, dist: &Code) -> Option<()> {
    // A copy the loop keeps in registers, written back at the end.
    let mut b = *bits;
    let end = loop {
        // 56 bits or more: a length with its extra bits (20) and a distance with its extra
        // bits (28) at most.
        b.refill();
        if b.past_end > 8 {
            break None;
        }
        let Some((sym, n)) = lit.decode(b.buf) else {
            break None;
        };
        b.drop_bits(n);
        if sym < 256 {
            continue;
        }
        if sym == 256 {
            break Some(());
        }
        let Some((_, n)) = dist.decode(b.buf) else {
            break None;
        };
        b.drop_bits(n);
    };
    *bits = b;
    end
}

/// The most bytes [`make_joinable`] adds to a stream.
pub const APPENDED_MAX: usize = 5;

/// Makes the whole raw deflate stream in `buf[..len]` a piece that ends byte-aligned without
/// a final block (what a sync flush leaves): clears the final block's BFINAL bit, and after
/// its end-of-block code appends an empty stored block. Returns the piece's length, at most
/// `len + APPENDED_MAX`; `None` if `buf[..len]` is not exactly one valid stream or `buf` has
/// no room for the stored block.
pub fn make_joinable(buf: &mut [u8], len: usize) -> Option<usize> {
    let fb = final_block(&buf[..len])?;
    if fb.end_bit.div_ceil(8) != len {
        return None;
    }
    buf[fb.start_bit / 8] &= !(1u8 << (fb.start_bit % 8));
    // The stored block's three header bits (BFINAL 0, BTYPE 00) and the padding to the next
    // byte are zeros from the end of the final block on.
    let header_end = fb.end_bit + 3;
    let aligned = header_end.div_ceil(8);
    let end = aligned + 4;
    if end > buf.len() {
        return None;
    }
    let keep = (fb.end_bit % 8) as u32;
    buf[fb.end_bit / 8] &= ((1u16 << keep) - 1) as u8;
    buf[fb.end_bit / 8 + 1..aligned].fill(0);
    buf[aligned..end].copy_from_slice(&[0, 0, 0xff, 0xff]);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64 bytes: incompressible, so libdeflate writes stored blocks.
    fn random(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    /// Text, zeros, random bytes and repeats, so the streams have dynamic, fixed and
    /// stored blocks and matches of every length and distance class.
    fn inputs() -> Vec<Vec<u8>> {
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i: u32| format!("line {i}: the {} of {}\n", i % 97, i * 7919).into_bytes())
            .collect();
        let mut mixed = text.clone();
        mixed.extend(random(70_000, 7));
        mixed.extend(vec![0u8; 50_000]);
        mixed.extend_from_slice(&text[..100_000]);
        vec![
            Vec::new(),
            b"a".to_vec(),
            b"hello, hello, hello".to_vec(),
            text,
            random(200_000, 3),
            mixed,
        ]
    }

    fn libdeflate(level: i32, data: &[u8]) -> Vec<u8> {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let mut out = vec![0u8; c.deflate_compress_bound(data.len())];
        let n = c.deflate_compress(data, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn joinable(mut stream: Vec<u8>) -> Vec<u8> {
        let len = stream.len();
        stream.resize(len + APPENDED_MAX, 0xa5);
        let n = make_joinable(&mut stream, len).expect("a valid stream");
        stream.truncate(n);
        stream
    }

    fn inflate(raw: &[u8]) -> Vec<u8> {
        miniz_oxide::inflate::decompress_to_vec(raw).expect("a valid raw stream")
    }

    #[test]
    fn pieces_of_every_libdeflate_level_join_into_one_stream() {
        for data in inputs() {
            for level in 0..=12 {
                let (a, rest) = data.split_at(data.len() / 3);
                let (b, c) = rest.split_at(rest.len() / 2);
                let pa = joinable(libdeflate(level, a));
                let pb = joinable(libdeflate(level, b));
                for p in [&pa, &pb] {
                    // Ends as a sync flush does.
                    assert_eq!(p[p.len() - 4..], [0, 0, 0xff, 0xff], "level {level}");
                    assert!(p.len() <= libdeflate(level, a).len().max(p.len()));
                }
                let mut joined = pa.clone();
                joined.extend(&pb);
                joined.extend(libdeflate(level, c));
                assert!(
                    inflate(&joined) == data,
                    "level {level}, {} bytes",
                    data.len()
                );
                // A piece alone, closed by an empty final block, is its own data.
                let mut alone = pa;
                alone.extend([3, 0]);
                assert!(inflate(&alone) == a, "level {level}");
            }
        }
    }

    #[test]
    fn other_encoders_streams_are_found_too() {
        // miniz_oxide writes fixed-Huffman blocks for short inputs and its own block splits.
        for data in inputs() {
            for level in [1, 6, 10] {
                let stream = miniz_oxide::deflate::compress_to_vec(&data, level);
                let mut joined = joinable(stream);
                joined.extend(libdeflate(6, b"tail"));
                let mut want = data.clone();
                want.extend(b"tail");
                assert!(inflate(&joined) == want, "level {level}");
            }
        }
    }

    #[test]
    fn the_final_block_is_where_a_decoder_ends() {
        // A stream followed by other bytes: the walk stops at the final block's end.
        let data = &inputs()[5];
        let mut stream = libdeflate(6, data);
        let len = stream.len();
        stream.extend(b"after");
        let fb = final_block(&stream).unwrap();
        assert_eq!(fb.end_bit.div_ceil(8), len);
        assert!(fb.start_bit < fb.end_bit);
        // make_joinable wants exactly one stream.
        assert_eq!(make_joinable(&mut stream, len + 5), None);
    }

    #[test]
    fn what_is_not_a_stream_is_refused() {
        let stream = libdeflate(6, &inputs()[5]);
        // Every cut short: the walk runs out before the final block's end.
        for cut in (0..stream.len()).step_by(997).chain([stream.len() - 1]) {
            let mut b = stream[..cut].to_vec();
            b.resize(cut + APPENDED_MAX, 0);
            assert_eq!(make_joinable(&mut b, cut), None, "cut at {cut}");
        }
        // Block type 3.
        assert_eq!(final_block(&[0b111]), None);
        // A stored block whose NLEN is not LEN's complement.
        assert_eq!(final_block(&[1, 5, 0, 0xfa, 0xfe, 1, 2, 3, 4, 5]), None);
        assert!(final_block(&[1, 5, 0, 0xfa, 0xff, 1, 2, 3, 4, 5]).is_some());
        // A dynamic header with HLIT 287: more length codes than deflate has.
        assert_eq!(final_block(&[0b1111_1101, 0xff, 0xff, 0xff, 0xff]), None);
        // No room for the empty stored block.
        let mut b = stream.clone();
        let len = b.len();
        assert_eq!(make_joinable(&mut b, len), None);
    }

    #[test]
    fn any_bytes_are_walked_without_panicking_and_every_stream_a_decoder_takes_is_found() {
        // Random bytes, and real streams with a few bits flipped. The walk never panics, and
        // where zlib-rs decodes a stream to its end, the walk finds it ending at the same
        // byte. (It may accept what the decoder refuses: it does not check distances against
        // the window.)
        use crate::zlibrs::{InflateStop, Inflater, Wrapper};
        let stream = libdeflate(6, &inputs()[3][..20_000]);
        let mut out = vec![0u8; 1 << 22];
        let mut accepted = 0;
        for i in 0..20_000u64 {
            let b = if i % 2 == 0 {
                random(1 + (i as usize % 300), i + 1)
            } else {
                let mut b = stream.clone();
                let r = random(8, i);
                for k in 0..(i % 4) as usize {
                    let at = usize::from(r[k * 2]) << 8 | usize::from(r[k * 2 + 1]);
                    b[at % stream.len()] ^= 1 << (r[6 + k % 2] % 8);
                }
                b
            };
            let walked = final_block(&b);
            if let Some(fb) = walked {
                assert!(fb.end_bit.div_ceil(8) <= b.len() && fb.start_bit < fb.end_bit);
            }
            let (consumed, _, stop) = Inflater::new(Wrapper::Raw).inflate(&b, &mut out);
            if stop == InflateStop::End {
                let fb = walked.unwrap_or_else(|| panic!("case {i}: a stream the walk missed"));
                assert_eq!(fb.end_bit.div_ceil(8), consumed, "case {i}");
                accepted += 1;
            }
        }
        assert!(accepted > 2_000, "only {accepted} streams decoded");
    }

    #[test]
    fn an_oversubscribed_or_incomplete_code_is_refused() {
        let mut c = Code::new();
        assert!(c.build(&[1, 1, 1], Alphabet::LitLen).is_none());
        assert!(c.build(&[2, 2, 2], Alphabet::LitLen).is_none());
        assert!(c.build(&[1], Alphabet::Dist).is_some());
        assert!(c.build(&[0, 0], Alphabet::Dist).is_some());
        assert!(c.build(&[1, 2, 2], Alphabet::LitLen).is_some());
    }
}
