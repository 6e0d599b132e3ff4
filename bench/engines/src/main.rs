//! Deflate engine benchmark for the WarpDrive software compression device.
//!
//! Compresses and decompresses the same reproducible corpus with:
//!   * flate2 1.1 + zlib-rs backend (raw deflate, flate2::Compress/Decompress)
//!   * miniz_oxide (the engine behind flate2's default rust_backend), used directly
//!   * libdeflate via the `libdeflater` crate (whole-buffer API)
//!   * ISA-L igzip via `isal-rs`/`isal-sys`, linked to Debian's system libisal
//!
//! Usage: enginebench [--size MiB] [--runs N] [--only-probe]
//!        enginebench --tune FILE [--runs N] [--set l6|all] [--whole]   (see tune.rs)
//! Single-threaded by construction.

use std::path::{Path, PathBuf};
use std::time::Instant;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use isal::isal_sys::igzip_lib as isal;
use miniz_oxide::deflate::core as mzc;
use miniz_oxide::inflate::core as mzi;

mod tune;

const CHUNK: usize = 1 << 20;

// ---------------------------------------------------------------- corpus

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            walk(&e.path(), out);
        } else if ft.is_file() {
            out.push(e.path());
        }
    }
}

fn read_maybe_gz(p: &Path) -> Option<Vec<u8>> {
    let raw = std::fs::read(p).ok()?;
    if p.extension().is_some_and(|e| e == "gz") {
        use std::io::Read;
        let mut v = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut v).ok()?;
        Some(v)
    } else {
        Some(raw)
    }
}

/// Collect files of one category, sorted by path, until `cap` bytes (each file capped at 4 MiB).
fn category(roots: &[&str], filter: &dyn Fn(&Path) -> bool, cap: usize) -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    for r in roots {
        walk(Path::new(r), &mut paths);
    }
    paths.sort();
    paths.retain(|p| filter(p));
    let mut total = 0;
    let mut out = Vec::new();
    for p in paths {
        if total >= cap {
            break;
        }
        if let Some(mut d) = read_maybe_gz(&p) {
            if d.is_empty() {
                continue;
            }
            d.truncate(4 << 20);
            total += d.len();
            out.push(d);
        }
    }
    out
}

fn build_corpus(size: usize) -> (Vec<u8>, String) {
    let m = size / 64; // proportions are in 64ths
    let is_elf = |p: &Path| std::fs::read(p).map(|d| d.starts_with(b"\x7fELF")).unwrap_or(false);
    let cats: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("docs+licenses", category(&["/usr/share/common-licenses", "/usr/share/doc"], &|p| {
            !p.extension().is_some_and(|e| e == "png" || e == "jpg" || e == "woff" || e == "woff2")
        }, 12 * m)),
        ("man pages (decompressed)", category(&["/usr/share/man/man1", "/usr/share/man/man3", "/usr/share/man/man5", "/usr/share/man/man7", "/usr/share/man/man8"], &|_| true, 10 * m)),
        ("C headers", category(&["/usr/include"], &|p| p.extension().is_some_and(|e| e == "h"), 14 * m)),
        ("ELF /usr/bin", category(&["/usr/bin"], &is_elf, 14 * m)),
        ("ELF /usr/lib/x86_64-linux-gnu", category(&["/usr/lib/x86_64-linux-gnu"], &|p| {
            p.to_string_lossy().contains(".so") && is_elf(p)
        }, 14 * m)),
    ];
    let mut desc = String::new();
    for (n, v) in &cats {
        desc += &format!("{}: {} files, {} bytes; ", n, v.len(), v.iter().map(|x| x.len()).sum::<usize>());
    }
    // Interleave categories file by file so every 1 MiB chunk region is mixed; repeat to size.
    let mut corpus = Vec::with_capacity(size);
    'outer: loop {
        let maxn = cats.iter().map(|c| c.1.len()).max().unwrap_or(0);
        if maxn == 0 {
            panic!("no corpus files found");
        }
        for i in 0..maxn {
            for (_, files) in &cats {
                if let Some(f) = files.get(i) {
                    let take = (size - corpus.len()).min(f.len());
                    corpus.extend_from_slice(&f[..take]);
                    if corpus.len() >= size {
                        break 'outer;
                    }
                }
            }
        }
    }
    (corpus, desc)
}

// ---------------------------------------------------------------- engines

trait Engine {
    fn name(&self) -> String;
    /// Compress `input` into a complete raw deflate stream (BFINAL set) appended into `out`.
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>);
    /// Decompress a complete raw deflate stream of known decompressed length into `out`.
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize;
}

fn bound(n: usize) -> usize {
    n + n / 8 + 1024
}

// flate2 + zlib-rs
struct Zrs {
    lvl: u32,
    c: Compress,
    d: Decompress,
}
impl Zrs {
    fn new(lvl: u32) -> Self {
        Zrs { lvl, c: Compress::new(Compression::new(lvl), false), d: Decompress::new(false) }
    }
}
impl Engine for Zrs {
    fn name(&self) -> String {
        format!("flate2+zlib-rs L{}", self.lvl)
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.c.reset();
        let start = out.len();
        out.reserve(bound(input.len()));
        let st = self.c.compress_vec(input, out, FlushCompress::Finish).unwrap();
        assert_eq!(st, Status::StreamEnd);
        assert_eq!(self.c.total_in() as usize, input.len());
        let _ = start;
    }
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        self.d.reset(false);
        let st = self.d.decompress(input, out, FlushDecompress::Finish).unwrap();
        assert_eq!(st, Status::StreamEnd);
        self.d.total_out() as usize
    }
}

// miniz_oxide directly
struct Mz {
    lvl: u32,
    c: Box<mzc::CompressorOxide>,
    d: Box<mzi::DecompressorOxide>,
}
impl Mz {
    fn new(lvl: u32) -> Self {
        let flags = mzc::create_comp_flags_from_zip_params(lvl as i32, -15, 0);
        Mz { lvl, c: Box::new(mzc::CompressorOxide::new(flags)), d: Box::new(mzi::DecompressorOxide::new()) }
    }
}
impl Engine for Mz {
    fn name(&self) -> String {
        format!("miniz_oxide L{}", self.lvl)
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.c.reset();
        let start = out.len();
        out.resize(start + bound(input.len()), 0);
        let (st, inb, outb) = mzc::compress(&mut self.c, input, &mut out[start..], mzc::TDEFLFlush::Finish);
        assert_eq!(st, mzc::TDEFLStatus::Done);
        assert_eq!(inb, input.len());
        out.truncate(start + outb);
    }
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        self.d.init();
        let (st, _inb, outb) = mzi::decompress(
            &mut self.d,
            input,
            out,
            0,
            mzi::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        assert_eq!(st, miniz_oxide::inflate::TINFLStatus::Done);
        outb
    }
}

// libdeflate
struct Ld {
    lvl: i32,
    c: libdeflater::Compressor,
    d: libdeflater::Decompressor,
}
impl Ld {
    fn new(lvl: i32) -> Self {
        Ld {
            lvl,
            c: libdeflater::Compressor::new(libdeflater::CompressionLvl::new(lvl).unwrap()),
            d: libdeflater::Decompressor::new(),
        }
    }
}
impl Engine for Ld {
    fn name(&self) -> String {
        format!("libdeflate L{}", self.lvl)
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + self.c.deflate_compress_bound(input.len()), 0);
        let n = self.c.deflate_compress(input, &mut out[start..]).unwrap();
        out.truncate(start + n);
    }
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        self.d.deflate_decompress(input, out).unwrap()
    }
}

// ISA-L (system libisal through isal-sys bindings), stateless whole-buffer API
struct Isal {
    lvl: u32,
    level_buf: Vec<u8>,
    zs: Box<isal::isal_zstream>,
    st: Box<isal::inflate_state>,
}
impl Isal {
    fn new(lvl: u32) -> Self {
        let sz = match lvl {
            0 => isal::ISAL_DEF_LVL0_DEFAULT,
            1 => isal::ISAL_DEF_LVL1_DEFAULT,
            2 => isal::ISAL_DEF_LVL2_DEFAULT,
            _ => isal::ISAL_DEF_LVL3_DEFAULT,
        } as usize;
        // SAFETY: plain C structs, fully initialised by the *_init calls before use.
        let zs: Box<isal::isal_zstream> = unsafe { Box::new(std::mem::zeroed()) };
        let st: Box<isal::inflate_state> = unsafe { Box::new(std::mem::zeroed()) };
        Isal { lvl, level_buf: vec![0u8; sz.max(1)], zs, st }
    }
}
impl Engine for Isal {
    fn name(&self) -> String {
        format!("ISA-L igzip L{}", self.lvl)
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let cap = bound(input.len());
        out.resize(start + cap, 0);
        unsafe {
            let zs = &mut *self.zs;
            isal::isal_deflate_stateless_init(zs);
            zs.level = self.lvl;
            zs.level_buf = self.level_buf.as_mut_ptr();
            zs.level_buf_size = self.level_buf.len() as u32;
            zs.gzip_flag = isal::IGZIP_DEFLATE as u16;
            zs.flush = isal::NO_FLUSH as u16;
            zs.end_of_stream = 1;
            zs.next_in = input.as_ptr() as *mut u8;
            zs.avail_in = input.len() as u32;
            zs.next_out = out.as_mut_ptr().add(start);
            zs.avail_out = cap as u32;
            let r = isal::isal_deflate_stateless(zs);
            assert_eq!(r, isal::COMP_OK as i32, "isal_deflate_stateless");
            assert_eq!(zs.avail_in, 0);
            out.truncate(start + zs.total_out as usize);
        }
    }
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        unsafe {
            let st = &mut *self.st;
            isal::isal_inflate_init(st);
            st.crc_flag = isal::IGZIP_DEFLATE;
            st.next_in = input.as_ptr() as *mut u8;
            st.avail_in = input.len() as u32;
            st.next_out = out.as_mut_ptr();
            st.avail_out = out.len() as u32;
            let r = isal::isal_inflate_stateless(st);
            assert_eq!(r, isal::ISAL_DECOMP_OK as i32, "isal_inflate_stateless");
            st.total_out as usize
        }
    }
}

/// Device-shaped variants: each piece is compressed with a SYNC flush (byte-aligned, BFINAL=0),
/// as the soft device would emit it; an empty final fixed block (03 00) is appended so the piece
/// can also be decoded on its own. Decompression uses the engine's streaming decoder.
struct ZrsSync(Zrs);
impl Engine for ZrsSync {
    fn name(&self) -> String {
        format!("flate2+zlib-rs sync-flush L{}", self.0.lvl)
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.0.c.reset();
        out.reserve(bound(input.len()));
        self.0.c.compress_vec(input, out, FlushCompress::Sync).unwrap();
        assert_eq!(self.0.c.total_in() as usize, input.len());
        out.extend_from_slice(&[0x03, 0x00]);
    }
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        self.0.decompress(input, out)
    }
}

struct IsalSync(Isal);
impl Engine for IsalSync {
    fn name(&self) -> String {
        format!("ISA-L stateful sync-flush L{}", self.0.lvl)
    }
    fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let cap = bound(input.len());
        out.resize(start + cap, 0);
        unsafe {
            let zs = &mut *self.0.zs;
            isal::isal_deflate_init(zs);
            zs.level = self.0.lvl;
            zs.level_buf = self.0.level_buf.as_mut_ptr();
            zs.level_buf_size = self.0.level_buf.len() as u32;
            zs.flush = isal::SYNC_FLUSH as u16;
            zs.end_of_stream = 0;
            zs.next_in = input.as_ptr() as *mut u8;
            zs.avail_in = input.len() as u32;
            zs.next_out = out.as_mut_ptr().add(start);
            zs.avail_out = cap as u32;
            loop {
                let r = isal::isal_deflate(zs);
                assert_eq!(r, isal::COMP_OK as i32, "isal_deflate");
                if zs.avail_in == 0 && zs.avail_out > 0 {
                    break;
                }
            }
            out.truncate(start + zs.total_out as usize);
        }
        out.extend_from_slice(&[0x03, 0x00]);
    }
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> usize {
        // streaming isal_inflate (resumable API), single call since the output fits
        unsafe {
            let st = &mut *self.0.st;
            isal::isal_inflate_init(st);
            st.crc_flag = isal::IGZIP_DEFLATE;
            st.next_in = input.as_ptr() as *mut u8;
            st.avail_in = input.len() as u32;
            st.next_out = out.as_mut_ptr();
            st.avail_out = out.len() as u32;
            let r = isal::isal_inflate(st);
            assert_eq!(r, isal::ISAL_DECOMP_OK as i32, "isal_inflate");
            assert_eq!(st.block_state, isal::isal_block_state_ISAL_BLOCK_FINISH);
            st.total_out as usize
        }
    }
}

// ---------------------------------------------------------------- bench

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Row {
    engine: String,
    mode: &'static str,
    comp_mbs: f64,
    ratio: f64,
    decomp_mbs: f64,
}

/// Compress `data` as pieces of `piece` bytes (each a complete deflate stream), decompress them,
/// verify against the engine itself and flate2, and time both directions (median of `runs`).
fn bench(e: &mut dyn Engine, data: &[u8], piece: usize, runs: usize, mode: &'static str) -> Row {
    let pieces: Vec<&[u8]> = data.chunks(piece).collect();
    let mut comp: Vec<Vec<u8>> = pieces.iter().map(|_| Vec::new()).collect();
    let mut ctimes = Vec::new();
    for _ in 0..runs {
        for c in comp.iter_mut() {
            c.clear();
        }
        let t = Instant::now();
        for (p, c) in pieces.iter().zip(comp.iter_mut()) {
            e.compress(p, c);
        }
        ctimes.push(t.elapsed().as_secs_f64());
    }
    let clen: usize = comp.iter().map(|c| c.len()).sum();
    // verification (outside timing): own engine + flate2/zlib-rs reference decoder
    let mut reference = Decompress::new(false);
    let mut buf = vec![0u8; piece.min(data.len())];
    for (p, c) in pieces.iter().zip(comp.iter()) {
        let n = e.decompress(c, &mut buf[..p.len()]);
        assert!(n == p.len() && &buf[..n] == *p, "{}: self round-trip mismatch", e.name());
        buf[..p.len()].fill(0);
        reference.reset(false);
        let st = reference.decompress(c, &mut buf[..p.len()], FlushDecompress::Finish).unwrap();
        assert!(st == Status::StreamEnd && reference.total_out() as usize == p.len());
        assert!(&buf[..p.len()] == *p, "{}: flate2 round-trip mismatch", e.name());
    }
    let mut dtimes = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for (p, c) in pieces.iter().zip(comp.iter()) {
            let n = e.decompress(c, &mut buf[..p.len()]);
            debug_assert_eq!(n, p.len());
        }
        dtimes.push(t.elapsed().as_secs_f64());
    }
    let mb = data.len() as f64 / 1e6;
    Row {
        engine: e.name(),
        mode,
        comp_mbs: mb / median(ctimes),
        ratio: clen as f64 / data.len() as f64,
        decomp_mbs: mb / median(dtimes),
    }
}

// ---------------------------------------------------------------- capability probes

/// Deflate a piece with a sync flush: output ends byte-aligned with an empty stored block and
/// BFINAL=0. Returns None if the engine has no such API.
fn syncflush_piece(engine: &str, lvl: u32, piece: &[u8]) -> Option<Vec<u8>> {
    match engine {
        "zlib-rs" => {
            let mut c = Compress::new(Compression::new(lvl), false);
            let mut out = Vec::with_capacity(bound(piece.len()));
            c.compress_vec(piece, &mut out, FlushCompress::Sync).unwrap();
            assert_eq!(c.total_in() as usize, piece.len());
            Some(out)
        }
        "miniz_oxide" => {
            let mut c = mzc::CompressorOxide::new(mzc::create_comp_flags_from_zip_params(lvl as i32, -15, 0));
            let mut out = vec![0u8; bound(piece.len())];
            let (st, inb, outb) = mzc::compress(&mut c, piece, &mut out, mzc::TDEFLFlush::Sync);
            assert_eq!(st, mzc::TDEFLStatus::Okay);
            assert_eq!(inb, piece.len());
            out.truncate(outb);
            Some(out)
        }
        "isal" => unsafe {
            let mut zs: Box<isal::isal_zstream> = Box::new(std::mem::zeroed());
            let mut lb = vec![0u8; isal::ISAL_DEF_LVL3_DEFAULT as usize];
            isal::isal_deflate_init(&mut *zs);
            zs.level = lvl;
            zs.level_buf = lb.as_mut_ptr();
            zs.level_buf_size = lb.len() as u32;
            zs.flush = isal::SYNC_FLUSH as u16;
            zs.end_of_stream = 0;
            let mut out = vec![0u8; bound(piece.len())];
            zs.next_in = piece.as_ptr() as *mut u8;
            zs.avail_in = piece.len() as u32;
            zs.next_out = out.as_mut_ptr();
            zs.avail_out = out.len() as u32;
            // loop until all input consumed and flushed (output not full => flushed)
            loop {
                let r = isal::isal_deflate(&mut *zs);
                assert_eq!(r, isal::COMP_OK as i32);
                if zs.avail_in == 0 && zs.avail_out > 0 {
                    break;
                }
            }
            out.truncate(zs.total_out as usize);
            Some(out)
        },
        _ => None, // libdeflate: whole-buffer only, always emits BFINAL=1
    }
}

/// Decompress a raw deflate stream using a small bounded output buffer, resuming when full.
fn bounded_inflate(engine: &str, input: &[u8], obuf: usize) -> Option<Vec<u8>> {
    let mut result = Vec::new();
    let mut tmp = vec![0u8; obuf];
    match engine {
        "zlib-rs" => {
            let mut d = Decompress::new(false);
            loop {
                let before_in = d.total_in() as usize;
                let before_out = d.total_out();
                let st = d.decompress(&input[before_in..], &mut tmp, FlushDecompress::None).unwrap();
                let n = (d.total_out() - before_out) as usize;
                result.extend_from_slice(&tmp[..n]);
                if st == Status::StreamEnd {
                    break;
                }
                if n == 0 && d.total_in() as usize == before_in {
                    panic!("no progress");
                }
            }
            Some(result)
        }
        "miniz_oxide" => {
            use miniz_oxide::inflate::stream::{inflate, InflateState};
            use miniz_oxide::{DataFormat, MZFlush, MZStatus};
            let mut s = InflateState::new_boxed(DataFormat::Raw);
            let mut pos = 0;
            loop {
                let r = inflate(&mut s, &input[pos..], &mut tmp, MZFlush::None);
                pos += r.bytes_consumed;
                result.extend_from_slice(&tmp[..r.bytes_written]);
                match r.status {
                    Ok(MZStatus::StreamEnd) => break,
                    Ok(_) => {}
                    Err(e) => panic!("miniz inflate {:?}", e),
                }
            }
            Some(result)
        }
        "isal" => unsafe {
            let mut st: Box<isal::inflate_state> = Box::new(std::mem::zeroed());
            isal::isal_inflate_init(&mut *st);
            st.crc_flag = isal::IGZIP_DEFLATE;
            st.next_in = input.as_ptr() as *mut u8;
            st.avail_in = input.len() as u32;
            loop {
                st.next_out = tmp.as_mut_ptr();
                st.avail_out = tmp.len() as u32;
                let r = isal::isal_inflate(&mut *st);
                assert_eq!(r, isal::ISAL_DECOMP_OK as i32);
                let n = tmp.len() - st.avail_out as usize;
                result.extend_from_slice(&tmp[..n]);
                if st.block_state == isal::isal_block_state_ISAL_BLOCK_FINISH {
                    break;
                }
                if n == 0 && st.avail_in == 0 {
                    panic!("isal: truncated");
                }
            }
            Some(result)
        },
        _ => None,
    }
}

/// Error reported for gzip / zlib streams whose trailer checksum was corrupted.
fn checksum_probe(engine: &str, data: &[u8]) -> (String, String) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
    gz.write_all(data).unwrap();
    let mut gz = gz.finish().unwrap();
    let n = gz.len();
    gz[n - 8] ^= 0xff; // CRC32 in trailer
    let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(6));
    zl.write_all(data).unwrap();
    let mut zl = zl.finish().unwrap();
    let n = zl.len();
    zl[n - 1] ^= 0xff; // Adler32 trailer
    let mut out = vec![0u8; data.len() + 64];
    match engine {
        "zlib-rs" => {
            let mut a = Decompress::new_gzip(15);
            let ga = format!("{:?}", a.decompress(&gz, &mut out, FlushDecompress::Finish));
            let mut b = Decompress::new(true);
            let za = format!("{:?}", b.decompress(&zl, &mut out, FlushDecompress::Finish));
            (ga, za)
        }
        "miniz_oxide" => {
            let ga = "no gzip support in miniz_oxide (flate2 parses the gzip header/CRC itself in Rust)".to_string();
            let mut d = mzi::DecompressorOxide::new();
            let (st, _, _) = mzi::decompress(
                &mut d,
                &zl,
                &mut out,
                0,
                mzi::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
                    | mzi::inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
                    | mzi::inflate_flags::TINFL_FLAG_COMPUTE_ADLER32,
            );
            (ga, format!("{:?}", st))
        }
        "libdeflate" => {
            let mut d = libdeflater::Decompressor::new();
            let ga = format!("{:?}", d.gzip_decompress(&gz, &mut out));
            let za = format!("{:?}", d.zlib_decompress(&zl, &mut out));
            (ga, za)
        }
        "isal" => unsafe {
            let mut res = Vec::new();
            for (flag, buf) in [(isal::IGZIP_GZIP, &gz), (isal::IGZIP_ZLIB, &zl)] {
                let mut st: Box<isal::inflate_state> = Box::new(std::mem::zeroed());
                isal::isal_inflate_init(&mut *st);
                st.crc_flag = flag;
                st.next_in = buf.as_ptr() as *mut u8;
                st.avail_in = buf.len() as u32;
                st.next_out = out.as_mut_ptr();
                st.avail_out = out.len() as u32;
                let r = isal::isal_inflate(&mut *st);
                res.push(format!(
                    "ret={} ({})",
                    r,
                    if r == isal::ISAL_INCORRECT_CHECKSUM { "ISAL_INCORRECT_CHECKSUM" } else { "other" }
                ));
            }
            (res[0].clone(), res[1].clone())
        },
        _ => unreachable!(),
    }
}

fn probes(data: &[u8]) {
    println!("\n## Capability probes (run-time checks)\n");
    let a = &data[..CHUNK];
    let b = &data[CHUNK..2 * CHUNK];
    let mut whole = a.to_vec();
    whole.extend_from_slice(b);
    for eng in ["zlib-rs", "miniz_oxide", "libdeflate", "isal"] {
        for lvl in [1u32, if eng == "isal" { 3 } else { 6 }] {
            match (syncflush_piece(eng, lvl, a), syncflush_piece(eng, lvl, b)) {
                (Some(pa), Some(pb)) => {
                    let aligned = pa.ends_with(&[0, 0, 0xff, 0xff]) && pb.ends_with(&[0, 0, 0xff, 0xff]);
                    // concatenate independent pieces + empty final fixed block (0x03 0x00)
                    let mut s = pa.clone();
                    s.extend_from_slice(&pb);
                    s.extend_from_slice(&[0x03, 0x00]);
                    let mut d = Decompress::new(false);
                    let mut o = vec![0u8; whole.len() + 16];
                    let st = d.decompress(&s, &mut o, FlushDecompress::Finish);
                    let ok = matches!(st, Ok(Status::StreamEnd))
                        && d.total_out() as usize == whole.len()
                        && o[..whole.len()] == whole[..];
                    println!(
                        "- sync-flush pieces {eng} L{lvl}: ends with 00 00 ff ff = {aligned}; 2 pieces + final block decode as one stream = {ok}"
                    );
                }
                _ => println!("- sync-flush pieces {eng} L{lvl}: no streaming compress API"),
            }
        }
        // bounded-output decompression
        let mut c = Compress::new(Compression::new(6), false);
        let mut comp = Vec::with_capacity(bound(whole.len()));
        c.compress_vec(&whole, &mut comp, FlushCompress::Finish).unwrap();
        match bounded_inflate(eng, &comp, 4096) {
            Some(r) => println!("- bounded inflate {eng} (4 KiB output buffer, resumed): correct = {}", r == whole),
            None => println!("- bounded inflate {eng}: no streaming API (whole-buffer, output must fit)"),
        }
        let (g, z) = checksum_probe(eng, &data[..65536]);
        println!("- corrupted checksum {eng}: gzip -> {g}; zlib -> {z}");
    }
}

fn main() {
    let mut size_mib = 64usize;
    let mut runs = 5usize;
    let mut only_probe = false;
    let mut tune_file: Option<String> = None;
    let mut set = "all".to_string();
    let mut whole = false;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--size" => {
                size_mib = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--runs" => {
                runs = args[i + 1].parse().unwrap();
                i += 1;
            }
            "--only-probe" => only_probe = true,
            "--tune" => {
                tune_file = Some(args[i + 1].clone());
                i += 1;
            }
            "--set" => {
                set = args[i + 1].clone();
                i += 1;
            }
            "--whole" => whole = true,
            a => panic!("unknown arg {a}"),
        }
        i += 1;
    }
    if let Some(f) = tune_file {
        tune::main(&f, runs, &set, whole);
        return;
    }
    let t = Instant::now();
    let (data, desc) = build_corpus(size_mib << 20);
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    println!("corpus: {} bytes, crc32 {:08x}, built in {:.1}s", data.len(), crc.sum(), t.elapsed().as_secs_f64());
    println!("corpus composition (before repetition): {desc}");
    probes(&data);
    if only_probe {
        return;
    }
    let mut engines: Vec<Box<dyn Engine>> = vec![
        Box::new(Zrs::new(1)),
        Box::new(Zrs::new(6)),
        Box::new(Mz::new(1)),
        Box::new(Mz::new(6)),
        Box::new(Ld::new(1)),
        Box::new(Ld::new(6)),
        Box::new(Isal::new(1)),
        Box::new(Isal::new(3)),
    ];
    let mut rows = Vec::new();
    for e in engines.iter_mut() {
        for (piece, mode) in [(CHUNK, "1 MiB chunks"), (data.len(), "whole corpus")] {
            let r = bench(e.as_mut(), &data, piece, runs, mode);
            eprintln!("{} {}: {:.1} MB/s ratio {:.4} dec {:.1} MB/s", r.engine, r.mode, r.comp_mbs, r.ratio, r.decomp_mbs);
            rows.push(r);
        }
    }
    // device-shaped sync-flush variants, 1 MiB pieces only
    let mut sync: Vec<Box<dyn Engine>> = vec![
        Box::new(ZrsSync(Zrs::new(1))),
        Box::new(ZrsSync(Zrs::new(6))),
        Box::new(IsalSync(Isal::new(1))),
        Box::new(IsalSync(Isal::new(3))),
    ];
    for e in sync.iter_mut() {
        let r = bench(e.as_mut(), &data, CHUNK, runs, "1 MiB chunks");
        eprintln!("{} {}: {:.1} MB/s ratio {:.4} dec {:.1} MB/s", r.engine, r.mode, r.comp_mbs, r.ratio, r.decomp_mbs);
        rows.push(r);
    }
    println!("\n## Results (median of {runs} runs, MB = 10^6 bytes of uncompressed input per second)\n");
    println!("| engine | level | input split | compress MB/s | ratio (out/in) | decompress MB/s |");
    println!("|---|---|---|---:|---:|---:|");
    for r in &rows {
        let (eng, lvl) = r.engine.rsplit_once(' ').unwrap();
        println!("| {} | {} | {} | {:.1} | {:.4} | {:.1} |", eng, lvl, r.mode, r.comp_mbs, r.ratio, r.decomp_mbs);
    }
}
