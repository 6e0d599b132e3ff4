//! The compression engine the soft device runs: executes one ZIP request on byte slices,
//! following `docs/abi.md` section 4. It knows nothing about rings or memory sharing.
//!
//! Engines, chosen per level and direction by measurement (`docs/decisions/engines.md`,
//! `docs/decisions/decoder.md`): zlib-rs for all decompression (strict: it accepts exactly
//! what zlib accepts, which ISA-L and libdeflate do not); ISA-L for level-1 compression; for
//! levels 2..=9, where ISA-L has no
//! equivalent ratio, libdeflate for a request that is a whole stream (faster and smaller
//! than zlib at every level, but it can only write complete streams) and zlib-rs (through
//! its C ABI, with tuned search limits at level 6 to come near zlib's ratio, see
//! `zlibrs.rs`) for `PARTIAL` pieces. ISA-L and zlib-rs provide what the rest of the ABI
//! needs: sync-flushed pieces for parallel compression; zlib-rs resumable inflate with
//! bounded output.
//!
//! ISA-L is the cargo feature `isal` (on by default; building it needs nasm on x86_64 and
//! autotools). Without it, level 1 follows the rule of the other levels: libdeflate for a
//! whole stream, zlib-rs for a piece; the formats, levels and decoding are the same.
//! [`ENGINES`] says which build this is.

use crate::abi::Direction;
use crate::abi::{Csum, ReqType, Status, ZipSqe, FLAGS_KNOWN, FLAG_CONTINUE, FLAG_PARTIAL};
#[cfg(feature = "isal")]
use crate::isal;
use crate::zlibrs;
use crate::zlibrs::{DeflateResult, InflateStop, Inflater, Wrapper};

/// The compression engines this build of the soft device runs, by name: `"isa-l"` (level-1
/// compression, only with the `isal` feature), `"libdeflate"` (whole streams) and
/// `"zlib-rs"` (sync-flushed pieces and all decompression).
pub const ENGINES: &[&str] = if cfg!(feature = "isal") {
    &["isa-l", "libdeflate", "zlib-rs"]
} else {
    &["libdeflate", "zlib-rs"]
};

/// The device's answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Status to report.
    pub status: Status,
    /// Input bytes consumed.
    pub consumed: u32,
    /// Output bytes produced.
    pub produced: u32,
    /// Checksum word.
    pub checksum: u32,
}

impl Outcome {
    /// An answer that moved no data.
    pub fn status(status: Status) -> Outcome {
        Outcome {
            status,
            consumed: 0,
            produced: 0,
            checksum: 0,
        }
    }
}

/// Checks the parts of a request that need no memory access. `Err` is the answer for a
/// request that must be refused before any data moves.
pub fn validate(sqe: &ZipSqe, dir: Direction) -> Result<ReqType, Outcome> {
    let bad = Err(Outcome::status(Status::BadRequest));
    let Some(t) = ReqType::from_wire(sqe.req_type_raw()) else {
        return bad;
    };
    if t == ReqType::Nop {
        return Ok(t);
    }
    let f = sqe.flags();
    if f & !FLAGS_KNOWN != 0 || Csum::from_flags(f).is_none() || sqe.dw[11] > 9 {
        return bad;
    }
    match dir {
        Direction::Compress if f & FLAG_CONTINUE != 0 => bad,
        Direction::Compress if f & FLAG_PARTIAL != 0 && t != ReqType::Deflate => bad,
        Direction::Decompress if f & FLAG_PARTIAL != 0 => bad,
        _ => Ok(t),
    }
}

/// The running checksum a decompression stream reports (only the one it needs).
enum RunningSum {
    None,
    /// The one the decoder keeps for the wrapper's own trailer (gzip: CRC-32, zlib:
    /// Adler-32): read from it instead of computing it twice.
    Decoder,
    Crc(crc32fast::Hasher),
    Adler(simd_adler32::Adler32),
}

impl RunningSum {
    fn new(t: ReqType, sel: Csum) -> RunningSum {
        match (sel, t) {
            (Csum::Implied | Csum::Crc32, ReqType::Gzip)
            | (Csum::Implied | Csum::Adler32, ReqType::Zlib) => RunningSum::Decoder,
            (Csum::Crc32, _) => RunningSum::Crc(Default::default()),
            (Csum::Adler32, _) => RunningSum::Adler(Default::default()),
            (Csum::Implied, _) => RunningSum::None,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            RunningSum::None | RunningSum::Decoder => {}
            RunningSum::Crc(h) => h.update(data),
            RunningSum::Adler(h) => h.write(data),
        }
    }

    /// The checksum so far; `decoder` is the decoder's own.
    fn value(&self, decoder: u32) -> u32 {
        match self {
            RunningSum::None => 0,
            RunningSum::Decoder => decoder,
            RunningSum::Crc(h) => h.clone().finalize(),
            RunningSum::Adler(h) => h.finish(),
        }
    }
}

fn wrapper(t: ReqType) -> Wrapper {
    match t {
        ReqType::Gzip => Wrapper::Gzip,
        ReqType::Zlib => Wrapper::Zlib,
        _ => Wrapper::Raw,
    }
}

/// Checksum of one buffer, computing only what `sel` asks for.
fn checksum_of(data: &[u8], t: ReqType, sel: Csum) -> u32 {
    match (sel, t) {
        (Csum::Crc32, _) | (Csum::Implied, ReqType::Gzip) => crc32fast::hash(data),
        (Csum::Adler32, _) | (Csum::Implied, ReqType::Zlib) => {
            let mut a = simd_adler32::Adler32::new();
            a.write(data);
            a.finish()
        }
        _ => 0,
    }
}

/// The stream a `CONTINUE` request resumes.
struct Decoder {
    kind: ReqType,
    sum: RunningSum,
}

/// Compressor contexts kept for reuse, by key, the most recently used last.
struct Contexts<K, C> {
    kept: Vec<(K, C)>,
}

/// How many compressor contexts of each kind to keep (each holds a few hundred KiB).
const MAX_CONTEXTS: usize = 4;

impl<K: PartialEq, C> Contexts<K, C> {
    fn new() -> Self {
        Contexts { kept: Vec::new() }
    }

    fn get(&mut self, key: K, make: impl FnOnce() -> C) -> &mut C {
        if let Some(i) = self.kept.iter().position(|(k, _)| *k == key) {
            let entry = self.kept.remove(i);
            self.kept.push(entry);
        } else {
            if self.kept.len() == MAX_CONTEXTS {
                self.kept.remove(0);
            }
            self.kept.push((key, make()));
        }
        &mut self.kept.last_mut().expect("just pushed").1
    }
}

/// One queue's engine state: compressor contexts kept for reuse and the decoder kept
/// between `CONTINUE` requests.
pub struct Engine {
    dir: Direction,
    /// zlib-rs, for `PARTIAL` pieces: by wrapper and level.
    pieces: Contexts<(ReqType, u32), zlibrs::Deflater>,
    /// libdeflate, for whole streams: by level (the wrapper is chosen per call).
    whole: Contexts<u32, libdeflater::Compressor>,
    /// ISA-L, for level 1.
    #[cfg(feature = "isal")]
    fast: Option<isal::Deflater>,
    /// zlib-rs decoders, kept for reuse (a reset is cheaper than a new one): raw, zlib, gzip.
    inflaters: [Option<Inflater>; 3],
    decoder: Option<Decoder>,
}

impl Engine {
    /// An engine for a queue of direction `dir`.
    pub fn new(dir: Direction) -> Engine {
        Engine {
            dir,
            pieces: Contexts::new(),
            whole: Contexts::new(),
            #[cfg(feature = "isal")]
            fast: None,
            inflaters: [None, None, None],
            decoder: None,
        }
    }

    /// The queue's direction.
    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// Executes a validated, non-NOP request on its memory.
    pub fn run(&mut self, t: ReqType, sqe: &ZipSqe, input: &[u8], output: &mut [u8]) -> Outcome {
        match self.dir {
            Direction::Compress => self.compress(t, sqe, input, output),
            Direction::Decompress => self.decompress(t, sqe, input, output),
        }
    }

    fn compress(&mut self, t: ReqType, sqe: &ZipSqe, input: &[u8], output: &mut [u8]) -> Outcome {
        let level = match sqe.level() {
            0 => 6,
            l => l,
        };
        let partial = sqe.flags() & FLAG_PARTIAL != 0;
        #[cfg(feature = "isal")]
        if level == 1 {
            let d = self.fast.get_or_insert_with(isal::Deflater::new);
            let done = d.compress(wrapper(t), !partial, input, output);
            return Self::compressed(t, sqe, input, done);
        }
        let done = if partial {
            // zlib-rs writes pieces that do not end the stream.
            let d = self
                .pieces
                .get((t, level), || zlibrs::Deflater::new(wrapper(t), level));
            d.compress(input, output, false)
        } else {
            self.compress_whole(t, level, input, output)
        };
        Self::compressed(t, sqe, input, done)
    }

    /// The answer to a compression request that ended with `done`.
    fn compressed(t: ReqType, sqe: &ZipSqe, input: &[u8], done: DeflateResult) -> Outcome {
        let DeflateResult::Done(consumed, produced) = done else {
            return Outcome::status(Status::OutputTooSmall);
        };
        let sel = Csum::from_flags(sqe.flags()).unwrap_or_default();
        Outcome {
            status: if produced >= consumed {
                Status::OkNotShrunk
            } else {
                Status::Ok
            },
            consumed: consumed as u32,
            produced: produced as u32,
            checksum: checksum_of(input, t, sel),
        }
    }

    /// libdeflate compression of a whole stream (or the last piece of one: a raw deflate
    /// stream, which ends with its final block).
    fn compress_whole(
        &mut self,
        t: ReqType,
        level: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> DeflateResult {
        // Levels reach here as 1..=9 (validated; 1 only without ISA-L), all of which
        // libdeflate has.
        let c = self.whole.get(level, || {
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(level as i32).unwrap_or_default(),
            )
        });
        let written = match wrapper(t) {
            Wrapper::Gzip => c.gzip_compress(input, output),
            Wrapper::Zlib => c.zlib_compress(input, output),
            Wrapper::Raw => c.deflate_compress(input, output),
        };
        // Its only error is an output too small for the whole stream.
        written.map_or(DeflateResult::OutputFull, |p| {
            DeflateResult::Done(input.len(), p)
        })
    }

    fn decompress(&mut self, t: ReqType, sqe: &ZipSqe, input: &[u8], output: &mut [u8]) -> Outcome {
        let sel = Csum::from_flags(sqe.flags()).unwrap_or_default();
        if sqe.flags() & FLAG_CONTINUE != 0 {
            match &self.decoder {
                Some(d) if d.kind == t => {}
                _ => return Outcome::status(Status::BadRequest),
            }
        } else {
            self.decoder = Some(Decoder {
                kind: t,
                sum: RunningSum::new(t, sel),
            });
        }
        let w = wrapper(t);
        let slot = &mut self.inflaters[w as usize];
        let inflater = match slot {
            Some(i) if sqe.flags() & FLAG_CONTINUE == 0 => {
                i.reset();
                i
            }
            Some(i) => i,
            None => slot.insert(Inflater::new(w)),
        };
        let (consumed, produced, stop) = inflater.inflate(input, output);
        let d = self.decoder.as_mut().expect("set above");
        d.sum.update(&output[..produced]);
        let checksum = d.sum.value(inflater.checksum());
        let status = match stop {
            InflateStop::End => Status::Ok,
            InflateStop::OutputFull => Status::OutputTooSmall,
            InflateStop::NeedInput => Status::NeedInput,
            InflateStop::Checksum => Status::ChecksumError,
            InflateStop::Invalid => Status::DataError,
        };
        if !matches!(status, Status::OutputTooSmall | Status::NeedInput) {
            // The stream is over, one way or another: CONTINUE is refused from now on.
            self.decoder = None;
        }
        Outcome {
            status,
            consumed: consumed as u32,
            produced: produced as u32,
            checksum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(t: ReqType, flags: u32, level: u32, input_len: usize, space: usize) -> ZipSqe {
        ZipSqe::request(t, flags, level, 0, 0, input_len as u32, 0, space as u32)
    }

    fn run(e: &mut Engine, sqe: ZipSqe, input: &[u8], out: &mut [u8]) -> Outcome {
        let t = validate(&sqe, e.direction()).unwrap();
        e.run(t, &sqe, input, out)
    }

    #[test]
    fn validation_refuses_what_the_abi_forbids() {
        let c = Direction::Compress;
        let d = Direction::Decompress;
        let mut unknown = req(ReqType::Zlib, 0, 0, 0, 0);
        unknown.dw[9] = 9;
        assert!(validate(&unknown, c).is_err());
        assert!(validate(&req(ReqType::Zlib, 1 << 7, 0, 0, 0), c).is_err());
        assert!(validate(&req(ReqType::Zlib, 3 << 1, 0, 0, 0), c).is_err());
        assert!(validate(&req(ReqType::Zlib, FLAG_PARTIAL, 0, 0, 0), c).is_err());
        assert!(validate(&req(ReqType::Deflate, FLAG_PARTIAL, 0, 0, 0), c).is_ok());
        assert!(validate(&req(ReqType::Deflate, FLAG_PARTIAL, 0, 0, 0), d).is_err());
        assert!(validate(&req(ReqType::Deflate, FLAG_CONTINUE, 0, 0, 0), c).is_err());
        let mut lvl = req(ReqType::Gzip, 0, 0, 0, 0);
        lvl.dw[11] = 10;
        assert!(validate(&lvl, c).is_err());
        assert_eq!(
            validate(&req(ReqType::Nop, 0, 0, 0, 0), d),
            Ok(ReqType::Nop)
        );
    }

    #[test]
    fn compress_then_decompress_each_format_with_checksums() {
        let data: Vec<u8> = (0..50_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 97) as u8)
            .collect();
        for t in [ReqType::Deflate, ReqType::Zlib, ReqType::Gzip] {
            let mut ce = Engine::new(Direction::Compress);
            let mut out = vec![0u8; 60_000];
            let o = run(
                &mut ce,
                req(t, 0, 1, data.len(), out.len()),
                &data,
                &mut out,
            );
            assert_eq!(o.status, Status::Ok);
            assert_eq!(o.consumed as usize, data.len());
            let expect = match t {
                ReqType::Gzip => crc32fast::hash(&data),
                ReqType::Zlib => {
                    let mut a = simd_adler32::Adler32::new();
                    a.write(&data);
                    a.finish()
                }
                _ => 0,
            };
            assert_eq!(o.checksum, expect);
            let comp = &out[..o.produced as usize];
            let mut de = Engine::new(Direction::Decompress);
            let mut back = vec![0u8; data.len()];
            let o2 = run(
                &mut de,
                req(t, 0, 0, comp.len(), back.len()),
                comp,
                &mut back,
            );
            assert_eq!(o2.status, Status::Ok, "{t:?}");
            assert_eq!(o2.consumed as usize, comp.len());
            assert_eq!(back, data);
            assert_eq!(o2.checksum, expect);
        }
    }

    #[test]
    fn small_output_then_continue_resumes_the_stream() {
        let data = vec![7u8; 100_000];
        let mut ce = Engine::new(Direction::Compress);
        let mut comp = vec![0u8; 1000];
        let o = run(
            &mut ce,
            req(ReqType::Gzip, 0, 6, data.len(), 1000),
            &data,
            &mut comp,
        );
        assert_eq!(o.status, Status::Ok);
        let comp = &comp[..o.produced as usize];
        let mut de = Engine::new(Direction::Decompress);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 30_000];
        let (mut pos, mut flags) = (0usize, 0u32);
        // Feed 10 bytes of input at a time to hit both NeedInput and OutputTooSmall.
        loop {
            let end = (pos + 10).min(comp.len());
            let o = run(
                &mut de,
                req(ReqType::Gzip, flags, 0, end - pos, buf.len()),
                &comp[pos..end],
                &mut buf,
            );
            got.extend_from_slice(&buf[..o.produced as usize]);
            pos += o.consumed as usize;
            flags = FLAG_CONTINUE;
            match o.status {
                Status::Ok => break,
                Status::NeedInput | Status::OutputTooSmall => continue,
                s => panic!("unexpected {s:?}"),
            }
        }
        assert_eq!(got, data);
        assert_eq!(pos, comp.len());
    }

    #[test]
    fn the_reported_checksum_covers_the_whole_stream_across_continues() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i % 253) as u8 ^ (i >> 9) as u8)
            .collect();
        let crc = crc32fast::hash(&data);
        let mut a = simd_adler32::Adler32::new();
        a.write(&data);
        let adler = a.finish();
        // (wrapper, CSUM selector bits, expected checksum)
        let csum = |c: Csum| (c as u32) << 1;
        for (t, sel, want) in [
            (ReqType::Gzip, 0, crc),
            (ReqType::Zlib, 0, adler),
            (ReqType::Zlib, csum(Csum::Crc32), crc),
            (ReqType::Gzip, csum(Csum::Adler32), adler),
            (ReqType::Deflate, csum(Csum::Crc32), crc),
            (ReqType::Deflate, 0, 0),
        ] {
            let mut ce = Engine::new(Direction::Compress);
            let mut comp = vec![0u8; 300_000];
            let o = run(
                &mut ce,
                req(t, 0, 6, data.len(), comp.len()),
                &data,
                &mut comp,
            );
            let comp = &comp[..o.produced as usize];
            let mut de = Engine::new(Direction::Decompress);
            let (mut pos, mut flags, mut buf) = (0usize, sel, vec![0u8; 7000]);
            let last = loop {
                let end = (pos + 999).min(comp.len());
                let o = run(
                    &mut de,
                    req(t, flags, 0, end - pos, buf.len()),
                    &comp[pos..end],
                    &mut buf,
                );
                pos += o.consumed as usize;
                flags = sel | FLAG_CONTINUE;
                if o.status != Status::NeedInput && o.status != Status::OutputTooSmall {
                    break o;
                }
            };
            assert_eq!(last.status, Status::Ok, "{t:?} {sel}");
            assert_eq!(last.checksum, want, "{t:?} {sel}");
        }
    }

    #[test]
    fn corrupt_and_bad_checksum_streams_are_told_apart() {
        let data = b"hello hello hello hello".repeat(10);
        let mut ce = Engine::new(Direction::Compress);
        let mut comp = vec![0u8; 1000];
        let o = run(
            &mut ce,
            req(ReqType::Zlib, 0, 6, data.len(), 1000),
            &data,
            &mut comp,
        );
        let mut comp = comp[..o.produced as usize].to_vec();
        let n = comp.len();
        comp[n - 1] ^= 1; // Adler-32 trailer
        let mut de = Engine::new(Direction::Decompress);
        let mut out = vec![0u8; 1000];
        let o = run(&mut de, req(ReqType::Zlib, 0, 0, n, 1000), &comp, &mut out);
        assert_eq!(o.status, Status::ChecksumError);
        let garbage = [0xffu8; 40];
        let o = run(
            &mut de,
            req(ReqType::Zlib, 0, 0, 40, 1000),
            &garbage,
            &mut out,
        );
        assert_eq!(o.status, Status::DataError);
        // CONTINUE after the stream died is refused.
        let o = run(
            &mut de,
            req(ReqType::Zlib, FLAG_CONTINUE, 0, 40, 1000),
            &garbage,
            &mut out,
        );
        assert_eq!(o.status, Status::BadRequest);
    }

    #[test]
    fn compress_into_too_small_output_says_so() {
        // xorshift64: incompressible bytes.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let mut ce = Engine::new(Direction::Compress);
        let mut out = vec![0u8; 100];
        let o = run(
            &mut ce,
            req(ReqType::Gzip, 0, 6, data.len(), 100),
            &data,
            &mut out,
        );
        assert_eq!(o.status, Status::OutputTooSmall);
        let mut out = vec![0u8; 20_000];
        let o = run(
            &mut ce,
            req(ReqType::Deflate, 0, 6, data.len(), out.len()),
            &data,
            &mut out,
        );
        assert_eq!(o.status, Status::OkNotShrunk);
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;

    /// xorshift64.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Reproducible mixed input in sections of 1..16 KiB: prose (a bigram model over words
    /// made of syllables), program-like lines, tables of little-endian records, and
    /// machine-code-like bytes.
    fn mixed_corpus(len: usize) -> Vec<u8> {
        mixed_kinds(len, 0b1111)
    }

    /// `mixed_corpus` with only the section kinds in the bit mask `kinds` (bit 0: prose,
    /// 1: program lines, 2: tables, 3: machine code).
    fn mixed_kinds(len: usize, kinds: u32) -> Vec<u8> {
        let mut r = Rng(0x2545_f491_4f6c_dd1d);
        const LETTERS: &[u8] = b"etaoinshrdlucmfwypvbgkqjxz";
        // Zipf-like pick: small indexes are much more frequent.
        let skewed = |r: &mut Rng, n: usize| {
            let b1 = 1 + r.below(n as u64);
            let b2 = 1 + r.below(b1);
            r.below(b2) as usize
        };
        // Words of 1..4 syllables, so that words share pieces, as in prose.
        let syllables: Vec<Vec<u8>> = (0..80)
            .map(|_| {
                (0..2 + r.below(2))
                    .map(|_| {
                        let (a, b) = (r.below(26), r.below(26));
                        LETTERS[a.min(b) as usize]
                    })
                    .collect()
            })
            .collect();
        let vocab: Vec<Vec<u8>> = (0..3000)
            .map(|_| {
                (0..1 + r.below(4))
                    .flat_map(|_| syllables[skewed(&mut r, syllables.len())].clone())
                    .collect()
            })
            .collect();
        // Each word has a few likely successors (a bigram model), as in prose.
        let next: Vec<[u16; 6]> = (0..vocab.len())
            .map(|_| std::array::from_fn(|_| skewed(&mut r, vocab.len()) as u16))
            .collect();
        const SUFFIXES: [&[u8]; 6] = [b"", b"", b"s", b"ed", b"ing", b"ly"];
        // Machine-code-like: instructions of 1..7 bytes from a skewed table, with immediates.
        const COMMON: &[u8] = &[
            0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x85, 0xc7, 0x44, 0x24, 0, 0xff, 0x83,
        ];
        let insns: Vec<Vec<u8>> = (0..400)
            .map(|_| {
                let n = 1 + r.below(3) + r.below(4);
                (0..n)
                    .map(|_| match r.below(2) {
                        0 => COMMON[r.below(COMMON.len() as u64) as usize],
                        _ => r.below(256) as u8,
                    })
                    .collect()
            })
            .collect();
        let mut out = Vec::with_capacity(len + 20_000);
        while out.len() < len {
            let end = out.len() + 1024 + r.below(15 * 1024) as usize;
            let kind = r.below(4);
            if kinds & (1 << kind) == 0 {
                continue;
            }
            match kind {
                3 => {
                    while out.len() < end {
                        out.extend_from_slice(&insns[skewed(&mut r, insns.len())]);
                        if r.below(3) == 0 {
                            let imm = (skewed(&mut r, 1 << 16) as u32).to_le_bytes();
                            out.extend_from_slice(&imm[..1 + r.below(4) as usize]);
                        }
                    }
                }
                0 => {
                    let mut w = skewed(&mut r, vocab.len());
                    while out.len() < end {
                        out.extend_from_slice(&vocab[w]);
                        out.extend_from_slice(SUFFIXES[skewed(&mut r, SUFFIXES.len())]);
                        out.extend_from_slice(match r.below(16) {
                            0 => b", ".as_slice(),
                            1 => b".\n",
                            _ => b" ",
                        });
                        w = match r.below(4) {
                            0 => skewed(&mut r, vocab.len()),
                            _ => next[w][skewed(&mut r, 6)] as usize,
                        };
                    }
                }
                1 => {
                    while out.len() < end {
                        let indent = 4 * (1 + r.below(3) as usize);
                        out.extend(std::iter::repeat_n(b' ', indent));
                        out.extend_from_slice(&vocab[skewed(&mut r, 200)]);
                        let line = format!(
                            "->{} = {}({}, {});\n",
                            r.below(16),
                            ["get", "set", "check", "free"][r.below(4) as usize],
                            r.below(100),
                            skewed(&mut r, 5000)
                        );
                        out.extend_from_slice(line.as_bytes());
                    }
                }
                _ => {
                    let mut offset = r.below(1 << 20) as u32 & !7;
                    while out.len() < end {
                        offset += 8 * (1 + skewed(&mut r, 4) as u32);
                        out.extend_from_slice(&offset.to_le_bytes());
                        let kind = skewed(&mut r, 40) as u32;
                        out.extend_from_slice(&(kind * 256 + 7).to_le_bytes());
                        out.extend_from_slice(&[0u8; 4]);
                    }
                }
            }
        }
        out.truncate(len);
        out
    }

    /// Compresses `input` in one request; `partial` ends it with a sync flush.
    fn compress(e: &mut Engine, t: ReqType, level: u32, partial: bool, input: &[u8]) -> Vec<u8> {
        let flags = if partial { FLAG_PARTIAL } else { 0 };
        let mut out = vec![0u8; input.len() + input.len() / 8 + 1024];
        let sqe = ZipSqe::request(
            t,
            flags,
            level,
            0,
            0,
            input.len() as u32,
            0,
            out.len() as u32,
        );
        let t = validate(&sqe, e.direction()).unwrap();
        let o = e.run(t, &sqe, input, &mut out);
        assert!(
            matches!(o.status, Status::Ok | Status::OkNotShrunk),
            "{o:?}"
        );
        assert_eq!(o.consumed as usize, input.len());
        out.truncate(o.produced as usize);
        out
    }

    /// Decodes a whole stream with miniz_oxide, an independent implementation.
    fn reference_decode(comp: &[u8], t: ReqType) -> Vec<u8> {
        use miniz_oxide::inflate::{decompress_to_vec, decompress_to_vec_zlib};
        match t {
            ReqType::Zlib => decompress_to_vec_zlib(comp).unwrap(),
            ReqType::Gzip => {
                // 10-byte header with no optional fields, then raw deflate, CRC-32 and ISIZE.
                assert_eq!(&comp[..4], &[0x1f, 0x8b, 8, 0]);
                let data = decompress_to_vec(&comp[10..comp.len() - 8]).unwrap();
                let trailer = &comp[comp.len() - 8..];
                assert_eq!(trailer[..4], crc32fast::hash(&data).to_le_bytes());
                assert_eq!(trailer[4..], (data.len() as u32).to_le_bytes());
                data
            }
            _ => decompress_to_vec(comp).unwrap(),
        }
    }

    #[test]
    fn every_level_round_trips_and_its_pieces_join() {
        let data = mixed_corpus(400_000);
        let mut e = Engine::new(Direction::Compress);
        for level in 0..=9 {
            for t in [ReqType::Deflate, ReqType::Zlib, ReqType::Gzip] {
                let comp = compress(&mut e, t, level, false, &data);
                assert!(reference_decode(&comp, t) == data, "level {level} {t:?}");
            }
            // Two sync-flushed pieces and a final one are one raw stream.
            let (a, rest) = data.split_at(150_000);
            let (b, c) = rest.split_at(100_000);
            let mut joined = compress(&mut e, ReqType::Deflate, level, true, a);
            joined.extend(compress(&mut e, ReqType::Deflate, level, true, b));
            joined.extend(compress(&mut e, ReqType::Deflate, level, false, c));
            assert!(
                reference_decode(&joined, ReqType::Deflate) == data,
                "level {level} pieces"
            );
        }
    }

    #[test]
    fn level1_is_its_own_level_in_every_build() {
        // With ISA-L, level 1 is ISA-L; without it (the `isal` feature off), zlib-rs's and
        // libdeflate's own level 1, not their level 2.
        let data = mixed_corpus(300_000);
        let mut e = Engine::new(Direction::Compress);
        for partial in [true, false] {
            let one = compress(&mut e, ReqType::Deflate, 1, partial, &data);
            let two = compress(&mut e, ReqType::Deflate, 2, partial, &data);
            assert!(
                one != two,
                "partial {partial}: level 1 wrote level 2's stream"
            );
        }
        assert_eq!(ENGINES.contains(&"isa-l"), cfg!(feature = "isal"));
    }

    #[test]
    fn level6_tuning_survives_context_reuse() {
        // A reset restores the init level's search limits; the engine must tune again.
        // (zlib-rs serves pieces; whole streams go to libdeflate.)
        let data = mixed_corpus(600_000);
        let (a, b) = data.split_at(300_000);
        let fresh = compress(
            &mut Engine::new(Direction::Compress),
            ReqType::Deflate,
            6,
            true,
            a,
        );
        let mut e = Engine::new(Direction::Compress);
        for _ in 0..2 {
            let _ = compress(&mut e, ReqType::Deflate, 6, true, b);
            assert!(compress(&mut e, ReqType::Deflate, 6, true, a) == fresh);
        }
        // ... and the tuning does something: level 6 is not level 7, which shares its init.
        assert!(compress(&mut e, ReqType::Deflate, 7, true, a) != fresh);
    }

    #[test]
    fn whole_streams_come_out_smaller_than_pieces_at_every_level() {
        // Whole streams go to libdeflate, which beats zlib-rs's ratio at every level 2..=9
        // (docs/decisions/engines.md); a piece of the same bytes is what zlib-rs writes.
        let data = mixed_kinds(1 << 20, 0xff);
        let mut e = Engine::new(Direction::Compress);
        for level in 2..=9 {
            let whole = compress(&mut e, ReqType::Deflate, level, false, &data).len();
            let piece = compress(&mut e, ReqType::Deflate, level, true, &data).len();
            // 2.4-7% here; ending a stream instead of a sync flush alone saves a few bytes.
            assert!(
                whole * 101 < piece * 100,
                "level {level}: whole {whole}, piece {piece}"
            );
        }
    }

    #[test]
    fn level6_size_is_close_to_a_zlib_class_reference() {
        // On the benchmark corpus zlib-rs's own level 6 ("medium") is +2.4% over C zlib's
        // level 6 and the tuned lazy search +1.3% (docs/decisions/engines.md). Of the generated
        // sections only the machine-code-like one reproduces that (+2.9% and +2.4% over C
        // zlib); the prose, code and tables favour medium, unlike real files. Reference:
        // miniz_oxide level 6. Pieces of 1 MiB, as the driver sends them.
        let data = mixed_kinds(4 << 20, 1 << 3);
        let mut e = Engine::new(Direction::Compress);
        let ours: usize = data
            .chunks(1 << 20)
            .map(|p| compress(&mut e, ReqType::Deflate, 6, true, p).len())
            .sum();
        let reference: usize = data
            .chunks(1 << 20)
            .map(|p| miniz_oxide::deflate::compress_to_vec(p, 6).len())
            .sum();
        let mut medium = zlibrs::Deflater::with_config(
            Wrapper::Raw,
            zlibrs::LevelConfig {
                init_level: 6,
                tune: None,
            },
        );
        let mut buf = vec![0u8; 2 << 20];
        let medium: usize = data
            .chunks(1 << 20)
            .map(|p| match medium.compress(p, &mut buf, false) {
                DeflateResult::Done(_, n) => n,
                DeflateResult::OutputFull => panic!(),
            })
            .sum();
        let pct = |n: usize| (n as f64 / reference as f64 - 1.0) * 100.0;
        eprintln!(
            "miniz_oxide level 6: {reference} bytes; level 6: {ours} ({:+.3}%); \
             zlib-rs medium: {medium} ({:+.3}%)",
            pct(ours),
            pct(medium)
        );
        assert!(
            pct(ours) < 3.0,
            "level 6 output {:+.3}% over miniz_oxide",
            pct(ours)
        );
    }
}
