//! The compression engine the soft device runs: executes one ZIP request on byte slices,
//! following `docs/abi.md` section 4. It knows nothing about rings or memory sharing.
//!
//! Engines, chosen per level and direction by measurement (`docs/notes/engines.md`):
//! ISA-L for level 1 and for all decompression, zlib-rs (through flate2) for levels 2..=9,
//! where ISA-L has no equivalent ratio. Both provide what the ABI needs: sync-flushed
//! pieces for parallel compression and resumable inflate with bounded output.

use flate2::{Compress, Compression, FlushCompress};

use crate::abi::{Csum, ReqType, Status, ZipSqe, FLAGS_KNOWN, FLAG_CONTINUE, FLAG_PARTIAL};
use crate::isal::{self, DeflateResult, InflateStop, Wrapper};

/// Compress or decompress: a property of a queue, fixed when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The queue compresses.
    Compress,
    /// The queue decompresses.
    Decompress,
}

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
    Crc(crc32fast::Hasher),
    Adler(simd_adler32::Adler32),
}

impl RunningSum {
    fn new(t: ReqType, sel: Csum) -> RunningSum {
        match (sel, t) {
            (Csum::Crc32, _) | (Csum::Implied, ReqType::Gzip) => {
                RunningSum::Crc(Default::default())
            }
            (Csum::Adler32, _) | (Csum::Implied, ReqType::Zlib) => {
                RunningSum::Adler(Default::default())
            }
            _ => RunningSum::None,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            RunningSum::None => {}
            RunningSum::Crc(h) => h.update(data),
            RunningSum::Adler(h) => h.write(data),
        }
    }

    fn value(&self) -> u32 {
        match self {
            RunningSum::None => 0,
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

struct Decoder {
    kind: ReqType,
    inflater: isal::Inflater,
    sum: RunningSum,
}

/// One queue's engine state: compressor contexts kept for reuse and the decoder kept
/// between `CONTINUE` requests.
pub struct Engine {
    dir: Direction,
    compressors: Vec<(ReqType, u32, Compress)>,
    fast: Option<isal::Deflater>,
    decoder: Option<Decoder>,
}

/// How many compressor contexts to keep (each holds a few hundred KiB of zlib state).
const MAX_CONTEXTS: usize = 4;

impl Engine {
    /// An engine for a queue of direction `dir`.
    pub fn new(dir: Direction) -> Engine {
        Engine {
            dir,
            compressors: Vec::new(),
            fast: None,
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

    fn compressor(&mut self, t: ReqType, level: u32) -> &mut Compress {
        if let Some(i) = self
            .compressors
            .iter()
            .position(|(kt, kl, _)| *kt == t && *kl == level)
        {
            let mut entry = self.compressors.remove(i);
            entry.2.reset();
            self.compressors.push(entry);
        } else {
            let lvl = Compression::new(level);
            let c = match t {
                ReqType::Gzip => Compress::new_gzip(lvl, 15),
                ReqType::Zlib => Compress::new(lvl, true),
                _ => Compress::new(lvl, false),
            };
            if self.compressors.len() == MAX_CONTEXTS {
                self.compressors.remove(0);
            }
            self.compressors.push((t, level, c));
        }
        &mut self.compressors.last_mut().expect("just pushed").2
    }

    fn compress(&mut self, t: ReqType, sqe: &ZipSqe, input: &[u8], output: &mut [u8]) -> Outcome {
        let level = match sqe.level() {
            0 => 6,
            l => l,
        };
        let partial = sqe.flags() & FLAG_PARTIAL != 0;
        let done = if level == 1 {
            let d = self.fast.get_or_insert_with(isal::Deflater::new);
            match d.compress(wrapper(t), !partial, input, output) {
                DeflateResult::Done(c, p) => Some((c, p)),
                DeflateResult::OutputFull => None,
            }
        } else {
            self.compress_zlib(t, level, partial, input, output)
        };
        let Some((consumed, produced)) = done else {
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

    /// zlib-rs compression: `Some((consumed, produced))` if the whole request fit.
    fn compress_zlib(
        &mut self,
        t: ReqType,
        level: u32,
        partial: bool,
        input: &[u8],
        output: &mut [u8],
    ) -> Option<(usize, usize)> {
        let c = self.compressor(t, level);
        let flush = if partial {
            FlushCompress::Sync
        } else {
            FlushCompress::Finish
        };
        let r = c.compress(input, output, flush);
        let (consumed, produced) = (c.total_in() as usize, c.total_out() as usize);
        let complete = match r {
            Ok(flate2::Status::StreamEnd) => !partial,
            // A sync flush is complete only if it left output space unused.
            Ok(_) => partial && consumed == input.len() && produced < output.len(),
            Err(_) => false,
        };
        complete.then_some((consumed, produced))
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
                inflater: isal::Inflater::new(wrapper(t)),
                sum: RunningSum::new(t, sel),
            });
        }
        let d = self.decoder.as_mut().expect("set above");
        let (consumed, produced, stop) = d.inflater.inflate(input, output);
        d.sum.update(&output[..produced]);
        let checksum = d.sum.value();
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
