//! Decoder speed: ISA-L (lenient), zlib-rs (strict, the device's) and libdeflate (strict,
//! whole buffers only) on the same gzip pieces, each engine called directly; then the
//! whole driver on the soft device (zlib-rs). Prints MB/s of decoded output, median of
//! several runs, one thread (plus the device's).
//!
//! `cargo run --release -p wd-core --example decode_bench -- [MIB] [RUNS] [DIR...]`:
//! reads up to MIB MiB (default 64) of the files under DIRs (default /usr/include,
//! /usr/lib/python3.11, /usr/bin, /usr/share/doc: C headers, Python source, binaries and
//! documentation), compresses it as
//! independent 1 MiB gzip members at level 6 (what one device request carries) and at
//! level 1, and decodes every member with each engine.

use std::time::Instant;

use wd_core::isal::{self, InflateStop, Wrapper};
use wd_core::zip::{self, Format};
use wd_core::zlibrs;

/// A sink that only counts.
struct Count(usize);

impl std::io::Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn gather(dir: &std::path::Path, want: usize, out: &mut Vec<u8>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if out.len() >= want {
            return;
        }
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            gather(&p, want, out);
        } else if md.is_file() {
            if let Ok(b) = std::fs::read(&p) {
                out.extend_from_slice(&b[..b.len().min(want - out.len())]);
            }
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Inputs zlib refuses (checked with zlib itself), and whether each engine refuses them.
fn strictness() {
    let gz = |raw: &[u8]| -> Vec<u8> {
        // Every body below decodes to "a" where an engine accepts it.
        let mut v = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        v.extend_from_slice(raw);
        v.extend_from_slice(&crc32fast::hash(b"a").to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v
    };
    let ok_body = unhex("4b0400");
    let mut hcrc = vec![0x1f, 0x8b, 8, 2, 0, 0, 0, 0, 0, 3, 0x12, 0x34];
    hcrc.extend_from_slice(&gz(&ok_body)[10..]);
    let zlib_w8 = {
        let mut v = vec![0x88, 0x1c];
        v.extend_from_slice(&ok_body);
        v.extend_from_slice(&0x0062_0062u32.to_be_bytes());
        v
    };
    let cases: Vec<(&str, Wrapper, Vec<u8>)> = vec![
        ("incomplete literal/length code", Wrapper::Gzip, gz(&unhex("05c001040000008020000000000000000000000000010000000000000000000000000000000000000027"))),
        ("incomplete distance code", Wrapper::Gzip, gz(&unhex("05c1010400000080200000000000000000000000000100000000000000000000000000000000000000bd"))),
        ("incomplete code-length code", Wrapper::Gzip, gz(&unhex("05c0010800000080200000000000000000000000000000000000000000000000000400000000000000000000000000000000000000000000000000000000000000000000000000000015"))),
        ("HLIT 287 (more than 286 length codes)", Wrapper::Gzip, gz(&unhex("f5c00104000000802000000000000000000000000001000000000000000000000000000000000000000100000009"))),
        ("HDIST 31 (more than 30 distance codes)", Wrapper::Gzip, gz(&unhex("05de0104000000802000000000000000000000000001000000000000000000000000000000000000000500000008"))),
        ("gzip header CRC wrong", Wrapper::Gzip, hcrc),
        ("zlib window field 8", Wrapper::Zlib, zlib_w8),
    ];
    println!("| input zlib refuses | ISA-L | zlib-rs | libdeflate |");
    println!("|---|---|---|---|");
    let verdict = |refused: bool| if refused { "refuses" } else { "**accepts**" };
    for (name, w, data) in cases {
        let mut out = vec![0u8; 1 << 16];
        let (_, _, s) = isal::Inflater::new(w).inflate(&data, &mut out);
        let isal_refuses = s != InflateStop::End;
        let (_, _, s) = zlibrs::Inflater::new(w).inflate(&data, &mut out);
        let zlibrs_refuses = s != InflateStop::End;
        let mut ld = libdeflater::Decompressor::new();
        let ld_refuses = match w {
            Wrapper::Gzip => ld.gzip_decompress(&data, &mut out).is_err(),
            _ => ld.zlib_decompress(&data, &mut out).is_err(),
        };
        println!(
            "| {name} | {} | {} | {} |",
            verdict(isal_refuses),
            verdict(zlibrs_refuses),
            verdict(ld_refuses)
        );
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    strictness();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mib: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(64);
    let runs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    let dirs: Vec<String> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        [
            "/usr/include",
            "/usr/lib/python3.11",
            "/usr/bin",
            "/usr/share/doc",
        ]
        .map(String::from)
        .to_vec()
    };
    let want = mib << 20;
    let mut corpus = Vec::with_capacity(want);
    for d in &dirs {
        let per = corpus.len() + (want - corpus.len()) / 2;
        gather(
            std::path::Path::new(d),
            per.max(corpus.len() + (1 << 20)),
            &mut corpus,
        );
    }
    gather(std::path::Path::new("/usr/lib"), want, &mut corpus);
    println!(
        "corpus: {:.1} MiB, crc32 {:08x}, 1 MiB pieces, median of {runs}",
        corpus.len() as f64 / 1048576.0,
        crc32fast::hash(&corpus)
    );
    println!(
        "| level | ratio | ISA-L | zlib-rs | libdeflate | device, decompress | device, decompress_stream |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for level in [1, 6] {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
        let pieces: Vec<(Vec<u8>, usize)> = corpus
            .chunks(1 << 20)
            .map(|p| {
                let mut out = vec![0u8; c.gzip_compress_bound(p.len())];
                let n = c.gzip_compress(p, &mut out).unwrap();
                out.truncate(n);
                (out, p.len())
            })
            .collect();
        let packed: usize = pieces.iter().map(|p| p.0.len()).sum();
        let mut out = vec![0u8; (1 << 20) + 1];
        let mut zi = zlibrs::Inflater::new(Wrapper::Gzip);
        let mut ld = libdeflater::Decompressor::new();
        let mut speeds: [Vec<f64>; 3] = Default::default();
        for _ in 0..runs {
            for (e, v) in speeds.iter_mut().enumerate() {
                let t = Instant::now();
                for (gz, n) in &pieces {
                    let got = match e {
                        0 => {
                            let (_, p, s) =
                                isal::Inflater::new(Wrapper::Gzip).inflate(gz, &mut out);
                            assert_eq!(s, InflateStop::End);
                            p
                        }
                        1 => {
                            zi.reset();
                            let (_, p, s) = zi.inflate(gz, &mut out);
                            assert_eq!(s, InflateStop::End);
                            p
                        }
                        _ => ld.gzip_decompress(gz, &mut out).unwrap(),
                    };
                    assert_eq!(got, *n);
                }
                v.push(corpus.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
            }
        }
        let [a, b, d] = speeds.map(median);
        // Through the soft device (ring, device thread, zlib-rs): each piece one
        // `decompress` call, and all pieces as one multi-member `decompress_stream`.
        let (mut one, mut stream) = (Vec::new(), Vec::new());
        let whole: Vec<u8> = pieces.iter().flat_map(|p| p.0.iter().copied()).collect();
        for _ in 0..runs {
            let t = Instant::now();
            for (gz, n) in &pieces {
                assert_eq!(zip::decompress(gz, Format::Gzip).unwrap().len(), *n);
            }
            one.push(corpus.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
            let t = Instant::now();
            let mut sink = Count(0);
            zip::decompress_stream(
                &mut &whole[..],
                &mut sink,
                Format::Gzip,
                &zip::default_opener,
                &mut |_, _| {},
            )
            .unwrap();
            assert_eq!(sink.0, corpus.len());
            stream.push(corpus.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
        }
        println!(
            "| {level} | {:.3} | {a:.0} | {b:.0} | {d:.0} | {:.0} | {:.0} |",
            packed as f64 / corpus.len() as f64,
            median(one),
            median(stream)
        );
    }
}
