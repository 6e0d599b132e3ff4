//! `--tune FILE`: which zlib-rs configuration gives zlib's ratio at levels 2..9, and how fast.
//!
//! Every configuration compresses the file as independent 1 MiB pieces, each with a SYNC flush
//! (what one device request does), through the zlib C ABI: zlib-rs via `libz-rs-sys` (which
//! exposes `deflateTune`), and the system's C zlib via `libz-sys` as the reference the ratios
//! are measured against (the same zlib pigz and gzip-compatible tools use). Runs are alternated:
//! each round runs every configuration once, starting at a different one each round. One thread.

use std::ffi::{c_int, c_uint, c_void};
use std::time::Instant;

use flate2::{Decompress, FlushDecompress, Status};

const PIECE: usize = 1 << 20;
const Z_SYNC_FLUSH: c_int = 2;
const Z_FINISH: c_int = 4;
const Z_OK: c_int = 0;

/// good_length, max_lazy, nice_length, max_chain.
pub type Tune = [c_int; 4];

/// zlib 1.2.13's configuration_table (deflate.c), levels 0..9; all lazy ("slow") from 4 up.
pub const ZLIB_TABLE: [Tune; 10] = [
    [0, 0, 0, 0],
    [4, 4, 8, 4],
    [4, 5, 16, 8],
    [4, 6, 32, 32],
    [4, 4, 16, 16],
    [8, 16, 32, 32],
    [8, 16, 128, 128],
    [8, 32, 128, 256],
    [32, 128, 258, 1024],
    [32, 258, 258, 4096],
];

pub trait Piecer {
    fn name(&self) -> String;
    /// Deflate `input` as one raw piece (sync flush, or finish if `last`), appended to `out`.
    fn piece(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool);
}

// zlib-rs through its C ABI. The z_stream is boxed so it never moves after init.
pub struct ZrsC {
    init_level: c_int,
    mem_level: c_int,
    tune: Option<Tune>,
    label: String,
    s: Box<libz_rs_sys::z_stream>,
}

impl ZrsC {
    pub fn new(init_level: c_int, tune: Option<Tune>, label: &str) -> Self {
        Self::with_mem(init_level, 8, tune, label)
    }
    pub fn with_mem(init_level: c_int, mem_level: c_int, tune: Option<Tune>, label: &str) -> Self {
        let mut s = Box::<libz_rs_sys::z_stream>::default();
        let r = unsafe {
            libz_rs_sys::deflateInit2_(
                &mut *s,
                init_level,
                8,
                -15,
                mem_level,
                0,
                libz_rs_sys::zlibVersion(),
                std::mem::size_of::<libz_rs_sys::z_stream>() as c_int,
            )
        };
        assert_eq!(r, Z_OK);
        ZrsC { init_level, mem_level, tune, label: label.to_string(), s }
    }
    fn retune(&mut self) {
        if let Some([g, l, n, c]) = self.tune {
            assert_eq!(unsafe { libz_rs_sys::deflateTune(&mut *self.s, g, l, n, c) }, Z_OK);
        }
    }
}

impl Drop for ZrsC {
    fn drop(&mut self) {
        unsafe { libz_rs_sys::deflateEnd(&mut *self.s) };
    }
}

impl Piecer for ZrsC {
    fn name(&self) -> String {
        match self.tune {
            None => format!("zlib-rs L{}", self.init_level),
            Some(t) if self.mem_level != 8 => {
                format!("zlib-rs L{} memLevel {} tuned {:?} {}", self.init_level, self.mem_level, t, self.label)
            }
            Some(t) => format!("zlib-rs L{} tuned {:?} {}", self.init_level, t, self.label),
        }
    }
    fn piece(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool) {
        // deflateReset restores the level's table parameters: tune again after every reset.
        assert_eq!(unsafe { libz_rs_sys::deflateReset(&mut *self.s) }, Z_OK);
        self.retune();
        let start = out.len();
        out.reserve(input.len() + input.len() / 8 + 1024);
        let s = &mut *self.s;
        s.next_in = input.as_ptr();
        s.avail_in = input.len() as c_uint;
        s.next_out = unsafe { out.as_mut_ptr().add(start) };
        s.avail_out = (out.capacity() - start) as c_uint;
        let r = unsafe { libz_rs_sys::deflate(s, if last { Z_FINISH } else { Z_SYNC_FLUSH }) };
        assert!(r >= 0 && s.avail_in == 0 && s.avail_out > 0);
        let n = out.capacity() - start - s.avail_out as usize;
        unsafe { out.set_len(start + n) };
    }
}

// The system's C zlib (the reference).
unsafe extern "C" fn zalloc(_: *mut c_void, items: c_uint, size: c_uint) -> *mut c_void {
    unsafe { libc::calloc(items as usize, size as usize) }
}
unsafe extern "C" fn zfree(_: *mut c_void, p: *mut c_void) {
    unsafe { libc::free(p) }
}

pub struct ZlibC {
    level: c_int,
    s: Box<libz_sys::z_stream>,
}

impl ZlibC {
    pub fn new(level: c_int) -> Self {
        let mut s = Box::new(libz_sys::z_stream {
            next_in: std::ptr::null_mut(),
            avail_in: 0,
            total_in: 0,
            next_out: std::ptr::null_mut(),
            avail_out: 0,
            total_out: 0,
            msg: std::ptr::null_mut(),
            state: std::ptr::null_mut(),
            zalloc,
            zfree,
            opaque: std::ptr::null_mut(),
            data_type: 0,
            adler: 0,
            reserved: 0,
        });
        let r = unsafe {
            libz_sys::deflateInit2_(
                &mut *s,
                level,
                8,
                -15,
                8,
                0,
                libz_sys::zlibVersion(),
                std::mem::size_of::<libz_sys::z_stream>() as c_int,
            )
        };
        assert_eq!(r, Z_OK);
        ZlibC { level, s }
    }
}

impl Drop for ZlibC {
    fn drop(&mut self) {
        unsafe { libz_sys::deflateEnd(&mut *self.s) };
    }
}

impl Piecer for ZlibC {
    fn name(&self) -> String {
        let v = unsafe { std::ffi::CStr::from_ptr(libz_sys::zlibVersion()) };
        format!("C zlib {} L{}", v.to_string_lossy(), self.level)
    }
    fn piece(&mut self, input: &[u8], out: &mut Vec<u8>, last: bool) {
        assert_eq!(unsafe { libz_sys::deflateReset(&mut *self.s) }, Z_OK);
        let start = out.len();
        out.reserve(input.len() + input.len() / 8 + 1024);
        let s = &mut *self.s;
        s.next_in = input.as_ptr() as *mut u8;
        s.avail_in = input.len() as c_uint;
        s.next_out = unsafe { out.as_mut_ptr().add(start) };
        s.avail_out = (out.capacity() - start) as c_uint;
        let r = unsafe { libz_sys::deflate(s, if last { Z_FINISH } else { Z_SYNC_FLUSH }) };
        assert!(r >= 0 && s.avail_in == 0 && s.avail_out > 0);
        let n = out.capacity() - start - s.avail_out as usize;
        unsafe { out.set_len(start + n) };
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Compress all of `data` as pieces of `piece` bytes; the joined result is one raw stream.
fn run_all(e: &mut dyn Piecer, data: &[u8], piece: usize, out: &mut Vec<u8>) {
    out.clear();
    let n = data.len().div_ceil(piece);
    for (i, p) in data.chunks(piece).enumerate() {
        e.piece(p, out, i + 1 == n);
    }
}

fn verify(name: &str, data: &[u8], comp: &[u8]) {
    let mut d = Decompress::new(false);
    let mut back = vec![0u8; data.len() + 1];
    let st = d.decompress(comp, &mut back, FlushDecompress::Finish).unwrap();
    assert!(st == Status::StreamEnd, "{name}: stream did not end");
    assert!(d.total_out() as usize == data.len() && &back[..data.len()] == data, "{name}: mismatch");
}

/// One configuration under test: what builds it, and which zlib level it is compared with.
pub struct Config {
    pub zlib_level: c_int,
    pub make: Box<dyn Fn() -> Box<dyn Piecer>>,
}

pub fn configs(set: &str) -> Vec<Config> {
    let mut v: Vec<Config> = Vec::new();
    let mut add = |zl: c_int, f: Box<dyn Fn() -> Box<dyn Piecer>>| v.push(Config { zlib_level: zl, make: f });
    if set == "l6b" {
        // Second round at level 6: the neighbourhood of the fastest candidates within ~1.5%.
        add(6, Box::new(|| Box::new(ZlibC::new(6))));
        add(6, Box::new(|| Box::new(ZrsC::new(6, None, ""))));
        add(6, Box::new(|| Box::new(ZrsC::new(7, None, ""))));
        for t in [
            [8, 16, 128, 128],
            [8, 16, 128, 64],
            [4, 16, 128, 64],
            [8, 16, 96, 64],
            [8, 32, 128, 64],
            [4, 8, 128, 64],
            [8, 16, 128, 48],
            [8, 16, 128, 32],
            [4, 16, 64, 64],
            [8, 16, 64, 48],
        ] {
            add(6, Box::new(move || Box::new(ZrsC::new(7, Some(t), "(slow)"))));
        }
        return v;
    }
    if set == "l6c" {
        // Third round: a longer lazy search (max_lazy 32, as zlib's level 7) with short chains.
        add(6, Box::new(|| Box::new(ZlibC::new(6))));
        add(6, Box::new(|| Box::new(ZrsC::new(6, None, ""))));
        for t in [
            [8, 16, 128, 128],
            [8, 32, 128, 64],
            [8, 32, 128, 48],
            [8, 32, 128, 32],
            [4, 32, 128, 64],
            [4, 32, 128, 48],
            [8, 64, 128, 64],
            [8, 32, 64, 64],
            [8, 32, 258, 64],
        ] {
            add(6, Box::new(move || Box::new(ZrsC::new(7, Some(t), "(slow)"))));
        }
        return v;
    }
    if set == "l6d" {
        // Fourth round: good_length 4 (chain cut by 4 once a match of 4 is in hand).
        add(6, Box::new(|| Box::new(ZlibC::new(6))));
        add(6, Box::new(|| Box::new(ZrsC::new(6, None, ""))));
        for t in [
            [8, 32, 128, 64],
            [4, 32, 128, 64],
            [4, 64, 128, 64],
            [4, 32, 128, 96],
            [4, 64, 128, 96],
            [4, 128, 258, 64],
            [4, 32, 258, 64],
        ] {
            add(6, Box::new(move || Box::new(ZrsC::new(7, Some(t), "(slow)"))));
        }
        return v;
    }
    if set == "l6e" {
        // Fifth round: lazy search up to long matches (max_lazy 128..258, nice 258).
        add(6, Box::new(|| Box::new(ZlibC::new(6))));
        add(6, Box::new(|| Box::new(ZrsC::new(6, None, ""))));
        for t in [
            [4, 128, 258, 64],
            [4, 258, 258, 64],
            [4, 128, 258, 48],
            [4, 258, 258, 48],
            [4, 128, 258, 96],
            [8, 128, 258, 64],
        ] {
            add(6, Box::new(move || Box::new(ZrsC::new(7, Some(t), "(slow)"))));
        }
        return v;
    }
    if set == "final" {
        // The choice against the reference and the old level 6 (with --whole: piece overhead).
        add(6, Box::new(|| Box::new(ZlibC::new(6))));
        add(6, Box::new(|| Box::new(ZrsC::new(6, None, ""))));
        add(6, Box::new(|| Box::new(ZrsC::new(7, Some(ZLIB_TABLE[6]), "(zlib's, slow)"))));
        add(6, Box::new(|| Box::new(ZrsC::new(7, Some([4, 128, 258, 64]), "(slow, the choice)"))));
        add(6, Box::new(|| Box::new(ZrsC::new(7, None, ""))));
        return v;
    }
    if set == "l5" {
        // Level 5: zlib-rs's medium is +1.6% over zlib's level 5; the level-6 recipe, shorter chains.
        add(5, Box::new(|| Box::new(ZlibC::new(5))));
        add(5, Box::new(|| Box::new(ZrsC::new(5, None, ""))));
        add(5, Box::new(|| Box::new(ZrsC::new(7, Some(ZLIB_TABLE[5]), "(zlib's, slow)"))));
        for t in [[4, 128, 258, 32], [4, 128, 258, 24], [4, 128, 258, 16], [4, 32, 128, 32]] {
            add(5, Box::new(move || Box::new(ZrsC::new(7, Some(t), "(slow)"))));
        }
        add(6, Box::new(|| Box::new(ZlibC::new(6))));
        add(6, Box::new(|| Box::new(ZrsC::new(6, None, ""))));
        add(6, Box::new(|| Box::new(ZrsC::new(7, Some([4, 128, 258, 64]), "(slow)"))));
        return v;
    }
    let levels: Vec<c_int> = match set {
        "l6" => vec![6],
        _ => (2..=9).collect(),
    };
    for &l in &levels {
        add(l, Box::new(move || Box::new(ZlibC::new(l))));
        add(l, Box::new(move || Box::new(ZrsC::new(l, None, ""))));
        match l {
            // zlib's own fast (no lazy) parameters on zlib-rs's deflate_fast (its level 2).
            2 | 3 => add(l, Box::new(move || Box::new(ZrsC::new(2, Some(ZLIB_TABLE[l as usize]), "(zlib's, fast)")))),
            // zlib's own lazy parameters on zlib-rs's lazy deflate_slow (its level 7).
            4..=6 => add(l, Box::new(move || Box::new(ZrsC::new(7, Some(ZLIB_TABLE[l as usize]), "(zlib's, slow)")))),
            _ => {}
        }
        // zlib-rs picks its hash by the level's max_chain: level 9 (chain 4096) uses zlib's
        // rolling 3-byte hash, the others a 4-byte hash that cannot find 3-byte matches.
        // Initialising at 9 and tuning keeps the rolling hash with zlib's parameters.
        if l >= 4 && l != 9 {
            add(l, Box::new(move || Box::new(ZrsC::new(9, Some(ZLIB_TABLE[l as usize]), "(zlib's, slow, rolling hash)"))));
        }
        if l == 6 {
            // Neighbours of zlib's level 6 on the lazy path, and the medium path with more search.
            for (t, label) in [
                ([8, 16, 128, 64], "(slow, chain 64)"),
                ([8, 16, 64, 96], "(slow, nice 64 chain 96)"),
                ([8, 8, 128, 128], "(slow, lazy 8)"),
                ([4, 16, 128, 128], "(slow, good 4)"),
                ([4, 16, 128, 96], "(slow, good 4, chain 96)"),
                ([4, 16, 64, 64], "(slow, good 4, nice 64, chain 64)"),
            ] {
                add(l, Box::new(move || Box::new(ZrsC::new(7, Some(t), label))));
            }
            add(l, Box::new(|| Box::new(ZrsC::with_mem(7, 9, Some(ZLIB_TABLE[6]), "(zlib's, slow)"))));
            add(l, Box::new(|| Box::new(ZrsC::with_mem(9, 9, Some(ZLIB_TABLE[6]), "(zlib's, slow, rolling hash)"))));
            add(l, Box::new(|| Box::new(ZrsC::new(9, Some([8, 16, 128, 64]), "(slow, chain 64, rolling hash)"))));
            for (t, label) in [([8, 16, 258, 256], "(medium, chain 256)"), ([8, 32, 258, 1024], "(medium, chain 1024)")] {
                add(l, Box::new(move || Box::new(ZrsC::new(6, Some(t), label))));
            }
        }
    }
    v
}

pub fn main(path: &str, runs: usize, set: &str, whole: bool) {
    let data = std::fs::read(path).expect("read corpus");
    let mut crc = flate2::Crc::new();
    crc.update(&data);
    println!("file {path}: {} bytes, crc32 {:08x}", data.len(), crc.sum());
    let cfgs = configs(set);
    let mut engines: Vec<Box<dyn Piecer>> = cfgs.iter().map(|c| (c.make)()).collect();
    let mut sizes = vec![0usize; engines.len()];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 4096);
    // Sizes and verification, outside timing (the output is deterministic).
    for (i, e) in engines.iter_mut().enumerate() {
        run_all(e.as_mut(), &data, PIECE, &mut out);
        verify(&e.name(), &data, &out);
        sizes[i] = out.len();
        if whole {
            run_all(e.as_mut(), &data, data.len(), &mut out);
            verify(&e.name(), &data, &out);
            eprintln!("{}: 1 MiB pieces {} bytes, one stream {} bytes (+{:.3}%)", e.name(), sizes[i], out.len(),
                (sizes[i] as f64 / out.len() as f64 - 1.0) * 100.0);
        }
    }
    let n = engines.len();
    for r in 0..runs {
        for k in 0..n {
            let i = (k + r * 3) % n; // rotate the start so no configuration always follows the same one
            let t = Instant::now();
            run_all(engines[i].as_mut(), &data, PIECE, &mut out);
            times[i].push(t.elapsed().as_secs_f64());
        }
        eprintln!("round {} of {runs} done", r + 1);
    }
    println!("\n| zlib level | configuration | MB/s (median of {runs}) | min..max | ratio out/in | size vs C zlib same level |");
    println!("|---:|---|---:|---|---:|---:|");
    let mb = data.len() as f64 / 1e6;
    for (i, c) in cfgs.iter().enumerate() {
        let reference = cfgs.iter().position(|d| d.zlib_level == c.zlib_level).unwrap();
        let tv = &times[i];
        let lo = tv.iter().cloned().fold(f64::MAX, f64::min);
        let hi = tv.iter().cloned().fold(0.0, f64::max);
        println!(
            "| {} | {} | {:.1} | {:.1}..{:.1} | {:.4} | {:+.2}% |",
            c.zlib_level,
            engines[i].name(),
            mb / median(tv.clone()),
            mb / hi,
            mb / lo,
            sizes[i] as f64 / data.len() as f64,
            (sizes[i] as f64 / sizes[reference] as f64 - 1.0) * 100.0
        );
    }
}
