//! The soft device's engine as this build has it (with or without the `isal` feature), on
//! 1 MiB pieces of a file, called directly on this thread: compression at level 1 and the
//! default level, as sync-flushed pieces (what the driver joins into one stream) and as whole
//! gzip streams (a one-shot request), and decompression of its own whole streams. Prints, per
//! case, the median MB/s over the rounds (uncompressed bytes) and the output ratio. Run it in
//! both builds, alternately, to see what a build without ISA-L costs
//! (`docs/decisions/packaging.md`):
//!
//! ```sh
//! cargo run --release -p wd-core --example engine_bench -- FILE [MIB] [ROUNDS]
//! cargo run --release -p wd-core --no-default-features --example engine_bench -- FILE [MIB] [ROUNDS]
//! ```
//!
//! Speeds of separate runs move with the machine's load; the ISA-L build therefore also
//! compares, in one process, ISA-L with the engines that replace it without the feature
//! (zlib-rs level 1 for pieces, libdeflate level 1 for whole streams), each 1 MiB piece run by
//! both in turn: the median over rounds of the time ratio, which load affects least. It does
//! the same for ISA-L's decoder against zlib-rs's (the device decodes with zlib-rs in every
//! build, `docs/decisions/decoder.md`).

use std::io::Read;
use std::time::Instant;

use wd_core::abi::{ReqType, Status, ZipSqe, FLAG_PARTIAL};
use wd_core::engine::{validate, Engine, ENGINES};
use wd_core::{Direction, Level};

const PIECE: usize = 1 << 20;

fn run(e: &mut Engine, t: ReqType, flags: u32, level: u32, input: &[u8], out: &mut [u8]) -> usize {
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
    let t = validate(&sqe, e.direction()).expect("a valid request");
    let o = e.run(t, &sqe, input, out);
    assert!(
        matches!(o.status, Status::Ok | Status::OkNotShrunk),
        "{o:?}"
    );
    assert_eq!(o.consumed as usize, input.len());
    o.produced as usize
}

/// Per round, the time `a` and `b` took over all pieces, each piece run by both in turn;
/// returns the medians of (MB/s of a, MB/s of b, time of b / time of a).
#[cfg(feature = "isal")]
fn interleaved(
    pieces: &[&[u8]],
    rounds: usize,
    mut a: impl FnMut(usize, &[u8]),
    mut b: impl FnMut(usize, &[u8]),
) -> (f64, f64, f64) {
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    let (mut sa, mut sb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=rounds {
        let (mut ta, mut tb) = (0f64, 0f64);
        for (i, p) in pieces.iter().enumerate() {
            let t0 = Instant::now();
            a(i, p);
            ta += t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            b(i, p);
            tb += t0.elapsed().as_secs_f64();
        }
        if round > 0 {
            sa.push(total as f64 / ta / 1e6);
            sb.push(total as f64 / tb / 1e6);
            ratio.push(tb / ta);
        }
    }
    (median(sa), median(sb), median(ratio))
}

/// ISA-L against the engines that replace it in a build without it, in one process.
#[cfg(feature = "isal")]
fn against_fallback(pieces: &[&[u8]], rounds: usize) {
    use wd_core::isal;
    use wd_core::zlibrs::{self, DeflateResult, InflateStop, Wrapper};

    let mut out_a = vec![0u8; PIECE + PIECE / 8 + 1024];
    let mut out_b = out_a.clone();
    let total: usize = pieces.iter().map(|p| p.len()).sum();
    println!();
    println!("ISA-L against its replacements, each piece run by both in turn (median of {rounds} rounds):");
    println!(
        "| case | ISA-L MB/s | replacement | its MB/s | time ratio | ISA-L ratio | its ratio |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    let done = |r: DeflateResult| match r {
        DeflateResult::Done(_, n) => n,
        DeflateResult::OutputFull => panic!("output full"),
    };
    // Level 1, sync-flushed pieces: zlib-rs level 1 replaces ISA-L.
    let mut fast = isal::Deflater::new();
    let mut zl = zlibrs::Deflater::new(Wrapper::Raw, 1);
    let (mut size_a, mut size_b) = (vec![0; pieces.len()], vec![0; pieces.len()]);
    let (a, b, r) = interleaved(
        pieces,
        rounds,
        |i, p| size_a[i] = done(fast.compress(Wrapper::Raw, false, p, &mut out_a)),
        |i, p| size_b[i] = done(zl.compress(p, &mut out_b, false)),
    );
    let ratio = |s: &[usize]| s.iter().sum::<usize>() as f64 / total as f64;
    println!(
        "| level 1, pieces | {a:.0} | zlib-rs 1 | {b:.0} | {r:.2} | {:.4} | {:.4} |",
        ratio(&size_a),
        ratio(&size_b)
    );
    // Level 1, whole gzip streams: libdeflate level 1 replaces ISA-L (both with the CRC-32
    // the device reports).
    let mut ld =
        libdeflater::Compressor::new(libdeflater::CompressionLvl::new(1).expect("level 1"));
    let mut gz_a: Vec<Vec<u8>> = vec![Vec::new(); pieces.len()];
    let (a, b, r) = interleaved(
        pieces,
        rounds,
        |i, p| {
            let n = done(fast.compress(Wrapper::Gzip, true, p, &mut out_a));
            std::hint::black_box(crc32fast::hash(p));
            size_a[i] = n;
            if gz_a[i].is_empty() {
                gz_a[i] = out_a[..n].to_vec();
            }
        },
        |i, p| {
            let n = ld.gzip_compress(p, &mut out_b).expect("room");
            std::hint::black_box(crc32fast::hash(p));
            size_b[i] = n;
        },
    );
    println!(
        "| level 1, whole gzip | {a:.0} | libdeflate 1 | {b:.0} | {r:.2} | {:.4} | {:.4} |",
        ratio(&size_a),
        ratio(&size_b)
    );
    // Decoding: ISA-L's decoder against zlib-rs's, on the same level-1 and level-6 streams.
    let mut whole6 = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let gz6: Vec<Vec<u8>> = pieces
        .iter()
        .map(|p| {
            let n = whole6.gzip_compress(p, &mut out_a).expect("room");
            out_a[..n].to_vec()
        })
        .collect();
    for (name, streams) in [("level-1 (ISA-L)", &gz_a), ("level-6 (libdeflate)", &gz6)] {
        let mut zi = zlibrs::Inflater::new(Wrapper::Gzip);
        let (a, b, r) = interleaved(
            pieces,
            rounds,
            |i, p| {
                let (_, n, stop) =
                    isal::Inflater::new(Wrapper::Gzip).inflate(&streams[i], &mut out_a);
                assert!(stop == InflateStop::End && n == p.len());
            },
            |i, p| {
                zi.reset();
                let (_, n, stop) = zi.inflate(&streams[i], &mut out_b);
                assert!(stop == InflateStop::End && n == p.len());
            },
        );
        println!("| decompress {name} gzip | {a:.0} | zlib-rs | {b:.0} | {r:.2} | | |");
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: engine_bench FILE [MIB] [ROUNDS]");
    let mib: u64 = args.next().map_or(16, |s| s.parse().expect("MIB"));
    let rounds: usize = args.next().map_or(5, |s| s.parse().expect("ROUNDS"));
    let mut data = Vec::new();
    std::fs::File::open(&path)
        .expect("the corpus file")
        .take(mib << 20)
        .read_to_end(&mut data)
        .expect("read");
    let pieces: Vec<&[u8]> = data.chunks(PIECE).collect();
    let default = Level::DEFAULT_VALUE;
    let mut out = vec![0u8; PIECE + PIECE / 8 + 1024];
    let mut back = vec![0u8; PIECE];
    println!(
        "engines: {} ({} MiB of {path}, {} pieces of 1 MiB, median of {rounds} rounds)",
        ENGINES.join(", "),
        data.len() >> 20,
        pieces.len()
    );
    println!("| case | MB/s | ratio |");
    println!("|---|---:|---:|");
    let mut ce = Engine::new(Direction::Compress);
    let mut de = Engine::new(Direction::Decompress);
    for level in [1, default] {
        for (what, t, flags) in [
            ("pieces", ReqType::Deflate, FLAG_PARTIAL),
            ("whole gzip", ReqType::Gzip, 0),
        ] {
            let mut speeds = Vec::new();
            let mut size = 0;
            // Round 0 warms up (contexts made, memory touched) and is not counted.
            for round in 0..=rounds {
                size = 0;
                let t0 = Instant::now();
                for p in &pieces {
                    size += run(&mut ce, t, flags, level, p, &mut out);
                }
                if round > 0 {
                    speeds.push(data.len() as f64 / t0.elapsed().as_secs_f64() / 1e6);
                }
            }
            println!(
                "| compress level {level}, {what} | {:.0} | {:.4} |",
                median(speeds),
                size as f64 / data.len() as f64
            );
        }
        // Decompression of this build's own whole streams at this level.
        let streams: Vec<Vec<u8>> = pieces
            .iter()
            .map(|p| {
                let n = run(&mut ce, ReqType::Gzip, 0, level, p, &mut out);
                out[..n].to_vec()
            })
            .collect();
        let mut speeds = Vec::new();
        for round in 0..=rounds {
            let t0 = Instant::now();
            for (s, p) in streams.iter().zip(&pieces) {
                let n = run(&mut de, ReqType::Gzip, 0, 0, s, &mut back);
                if round == 0 {
                    assert_eq!(&back[..n], *p, "a stream did not decode to its piece");
                }
            }
            if round > 0 {
                speeds.push(data.len() as f64 / t0.elapsed().as_secs_f64() / 1e6);
            }
        }
        println!(
            "| decompress level-{level} gzip | {:.0} | |",
            median(speeds)
        );
    }
    #[cfg(feature = "isal")]
    against_fallback(&pieces, rounds);
}
