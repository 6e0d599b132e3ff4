//! What the soft device does with one request (`docs/abi.md` section 4): the requests it
//! refuses before any data moves ([`validate`]), and the mapping of a ZIP request onto the
//! compression engines (the `wd-engine` crate, which knows nothing of the ring ABI) and of
//! their result back onto a status. Also `wd_core::engine` (hidden), for the benchmarks that
//! run a request on the caller's thread.

use crate::abi::{
    Csum, Direction, ReqType, Status, ZipSqe, FLAGS_KNOWN, FLAG_BLOCK_END, FLAG_CONTINUE,
    FLAG_PARTIAL,
};
use crate::format::Level;
use wd_engine::{Checksum, DeflateResult, InflateStop, Wrapper};

pub use wd_engine::ENGINES;

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
        Direction::Compress if f & (FLAG_CONTINUE | FLAG_BLOCK_END) != 0 => bad,
        Direction::Compress if f & FLAG_PARTIAL != 0 && t != ReqType::Deflate => bad,
        Direction::Decompress if f & FLAG_PARTIAL != 0 => bad,
        Direction::Decompress if f & FLAG_BLOCK_END != 0 && t != ReqType::Deflate => bad,
        _ => Ok(t),
    }
}

/// The engines' stream wrapper for a request type (a NOP never reaches an engine).
fn wrapper(t: ReqType) -> Wrapper {
    match t {
        ReqType::Gzip => Wrapper::Gzip,
        ReqType::Zlib => Wrapper::Zlib,
        _ => Wrapper::Raw,
    }
}

/// The checksum a request asks for: its selector's, or the one its format implies.
fn checksum(t: ReqType, sel: Csum) -> Checksum {
    match (sel, t) {
        (Csum::Crc32, _) | (Csum::Implied, ReqType::Gzip) => Checksum::Crc32,
        (Csum::Adler32, _) | (Csum::Implied, ReqType::Zlib) => Checksum::Adler32,
        _ => Checksum::None,
    }
}

/// One queue's engine: the compression engines' state ([`wd_engine::Engine`]) behind the
/// device contract, for a queue of one direction.
pub struct Engine {
    dir: Direction,
    engines: wd_engine::Engine,
}

impl Engine {
    /// An engine for a queue of direction `dir`.
    pub fn new(dir: Direction) -> Engine {
        Engine {
            dir,
            engines: wd_engine::Engine::new(),
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
        // Level 0 asks for the default level (docs/abi.md), the library's.
        let level = match sqe.level() {
            0 => Level::DEFAULT_VALUE,
            l => l,
        };
        let partial = sqe.flags() & FLAG_PARTIAL != 0;
        let done = self
            .engines
            .compress(wrapper(t), level, partial, input, output);
        let DeflateResult::Done(consumed, produced) = done else {
            return Outcome::status(Status::OutputTooSmall);
        };
        let sum = checksum(t, Csum::from_flags(sqe.flags()).unwrap_or_default());
        // A whole zlib or gzip stream states its checksum in its trailer.
        let stated = (!partial)
            .then(|| sum.in_trailer(wrapper(t), &output[..produced]))
            .flatten();
        Outcome {
            status: if produced >= consumed {
                Status::OkNotShrunk
            } else {
                Status::Ok
            },
            consumed: consumed as u32,
            produced: produced as u32,
            checksum: stated.unwrap_or_else(|| sum.of(input)),
        }
    }

    fn decompress(&mut self, t: ReqType, sqe: &ZipSqe, input: &[u8], output: &mut [u8]) -> Outcome {
        let sel = Csum::from_flags(sqe.flags()).unwrap_or_default();
        let resume = sqe.flags() & FLAG_CONTINUE != 0;
        let to_block = sqe.flags() & FLAG_BLOCK_END != 0;
        let done = self.engines.decompress(
            wrapper(t),
            checksum(t, sel),
            resume,
            to_block,
            input,
            output,
        );
        let Ok(r) = done else {
            // CONTINUE with no stream of this type to continue.
            return Outcome::status(Status::BadRequest);
        };
        let status = match r.stop {
            InflateStop::End => Status::Ok,
            InflateStop::OutputFull => Status::OutputTooSmall,
            InflateStop::NeedInput => Status::NeedInput,
            InflateStop::Checksum => Status::ChecksumError,
            InflateStop::Invalid | InflateStop::InsideBlock => Status::DataError,
        };
        Outcome {
            status,
            consumed: r.consumed as u32,
            produced: r.produced as u32,
            checksum: r.checksum,
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
        assert!(validate(&req(ReqType::Deflate, FLAG_BLOCK_END, 0, 0, 0), c).is_err());
        assert!(validate(&req(ReqType::Gzip, FLAG_BLOCK_END, 0, 0, 0), d).is_err());
        assert!(validate(&req(ReqType::Zlib, FLAG_BLOCK_END, 0, 0, 0), d).is_err());
        assert!(validate(&req(ReqType::Deflate, FLAG_BLOCK_END, 0, 0, 0), d).is_ok());
        let mut lvl = req(ReqType::Gzip, 0, 0, 0, 0);
        lvl.dw[11] = 10;
        assert!(validate(&lvl, c).is_err());
        assert_eq!(
            validate(&req(ReqType::Nop, 0, 0, 0, 0), d),
            Ok(ReqType::Nop)
        );
    }

    #[test]
    fn block_end_needs_input_only_where_a_block_starts() {
        let mut e = Engine::new(Direction::Decompress);
        // A whole stored block, and one that states 10 bytes and holds 5.
        let whole = [0u8, 5, 0, 0xfa, 0xff, b'h', b'e', b'l', b'l', b'o'];
        let across = [0u8, 10, 0, 0xf5, 0xff, b'h', b'e', b'l', b'l', b'o'];
        let mut out = [0u8; 16];
        let sqe = |n: usize, flags| req(ReqType::Deflate, flags, 0, n, 16);
        let o = run(&mut e, sqe(10, FLAG_BLOCK_END), &whole, &mut out);
        assert_eq!(
            (o.status, o.consumed, o.produced),
            (Status::NeedInput, 10, 5)
        );
        let o = run(&mut e, sqe(10, 0), &across, &mut out);
        assert_eq!(o.status, Status::NeedInput);
        let o = run(&mut e, sqe(10, FLAG_BLOCK_END), &across, &mut out);
        assert_eq!(o.status, Status::DataError);
        // The stream is over: it cannot be continued.
        let o = run(&mut e, sqe(0, FLAG_CONTINUE), &[], &mut out);
        assert_eq!(o.status, Status::BadRequest);
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
                ReqType::Gzip => Checksum::Crc32.of(&data),
                ReqType::Zlib => Checksum::Adler32.of(&data),
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
    fn a_compression_reports_the_checksum_it_is_asked_for_whatever_the_engine() {
        let data: Vec<u8> = (0..30_000u32)
            .map(|i| (i % 241) as u8 ^ (i >> 8) as u8)
            .collect();
        let crc = Checksum::Crc32.of(&data);
        let adler = Checksum::Adler32.of(&data);
        let mut ce = Engine::new(Direction::Compress);
        // Level 1 (ISA-L), 6 and 9 (libdeflate, a piece made joinable).
        for level in [1, 6, 9] {
            for t in [ReqType::Deflate, ReqType::Zlib, ReqType::Gzip] {
                for (sel, want) in [
                    (Csum::Implied, None),
                    (Csum::Crc32, Some(crc)),
                    (Csum::Adler32, Some(adler)),
                ] {
                    let implied = match t {
                        ReqType::Gzip => crc,
                        ReqType::Zlib => adler,
                        _ => 0,
                    };
                    let pieces: &[u32] = if t == ReqType::Deflate {
                        &[0, FLAG_PARTIAL]
                    } else {
                        &[0]
                    };
                    for &partial in pieces {
                        let mut out = vec![0u8; 60_000];
                        let flags = partial | sel.flag_bits();
                        let sqe = req(t, flags, level, data.len(), out.len());
                        let o = run(&mut ce, sqe, &data, &mut out);
                        assert_eq!(o.status, Status::Ok);
                        assert_eq!(
                            o.checksum,
                            want.unwrap_or(implied),
                            "level {level}, {t:?}, {sel:?}, flags {flags:#x}"
                        );
                    }
                }
            }
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
        let crc = Checksum::Crc32.of(&data);
        let adler = Checksum::Adler32.of(&data);
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

    #[test]
    fn level_zero_is_the_default_level() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 241) as u8 ^ (i / 1009) as u8)
            .collect();
        for partial in [0, FLAG_PARTIAL] {
            let mut ce = Engine::new(Direction::Compress);
            let mut at = |level: u32| {
                let mut out = vec![0u8; 400_000];
                let sqe = req(ReqType::Deflate, partial, level, data.len(), out.len());
                let o = run(&mut ce, sqe, &data, &mut out);
                assert_eq!(o.status, Status::Ok, "level {level}");
                out.truncate(o.produced as usize);
                out
            };
            let (zero, six, one) = (at(0), at(6), at(1));
            assert!(zero == six, "partial {partial}: level 0 is not level 6");
            assert!(
                zero != one,
                "partial {partial}: levels 1 and 6 write the same"
            );
            if partial == 0 {
                let back = miniz_oxide::inflate::decompress_to_vec(&zero);
                assert!(back.is_ok_and(|b| b == data), "level 0 does not decode");
            }
        }
    }
}
