//! Soak test: many verified compress/decompress round trips through WarpDrive queues, while
//! the process's resources are sampled and checked to stay flat.
//!
//! ```text
//! cargo run --release --example soak -- [--requests N] [--threads T] [--oneshot-threads S]
//!     [--seed X] [--sample-ms MS] [--inject-leak]
//! ```
//!
//! One *request* here is one round trip: a compression of a random input (0 B to 1 MiB,
//! mostly small; gzip, zlib or raw deflate; level 1, 2, 6 or 9) and the decompression of its
//! result. Every round trip is checked twice: the decompressed bytes must equal the input,
//! and the compressed stream must decode to the input with an independent decoder
//! (miniz_oxide; for gzip with the header parsed here and the trailer's CRC-32 and size
//! checked). `T` threads each use their own pair of queues (the device `WARPDRIVE_DEVICE`
//! picks, see `wd_core::open_queue`); `S` more threads use the shared one-shot
//! `wd_core::zip::compress`/`decompress` (the process's queue pool).
//!
//! A sampler reads VmRSS, the open fds, the lines of `/proc/self/maps` and the DMA domains'
//! shares while the workers run. After a warm-up (the first 10% of the requests) the final
//! sample, taken when all work is done and every queue is still open, must be within the
//! tolerances below of the first one; and the shares that are not idle in the domain's
//! buffer cache must be back exactly where they were before the first request.
//!
//! The last line is `N passed, M failed`; the exit status is non-zero on any failure.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wd_core::dma::Domain;
use wd_core::zip::{self, Format, ONE_REQUEST_MAX};
use wd_core::{Direction, Queue};

/// Growth of VmRSS allowed between the first sample after the warm-up and the last one.
/// What may legitimately still grow after the warm-up: the soft domain's buffer cache (up to
/// 64 buffers / 64 MiB, `dma.rs`), filled only as larger sizes come up, plus the allocator's
/// free lists of each thread (per thread at most a few MiB: a 1 MiB input, its compression
/// bound and a decompression guess of up to 4 MiB). A leak of a buffer per request, or of
/// 100 bytes per request over a million requests, is far above it.
const RSS_TOLERANCE_KIB: u64 = 96 << 10;
/// Open fds may not grow at all: after the warm-up every queue is open and nothing else
/// opens files.
const FD_TOLERANCE: u64 = 0;
/// Mappings allowed to appear after the warm-up: the buffer cache's buffers (each its own
/// mapping, at most 64) and a few large allocations per thread that the allocator serves with
/// mmap (its threshold adapts upward, so these do not accumulate).
const MAPS_TOLERANCE: u64 = 64 + 16;
/// Heap bytes in use (the C allocator's count, which Rust's default allocator uses) may grow
/// after the warm-up by what the per-thread scratch vectors still reach as larger sizes come
/// up: far less than the RSS tolerance. RSS also counts pages the allocator keeps but does
/// not use; this does not, so a leak of 8 bytes per request shows here over a million
/// requests while RSS hides it.
const HEAP_TOLERANCE_KIB: u64 = 8 << 10;
/// Share of the requests run before the first sample that counts.
const WARMUP_FRACTION: f64 = 0.10;

struct Args {
    requests: u64,
    threads: usize,
    oneshot_threads: usize,
    seed: u64,
    sample_ms: u64,
    /// Leak on purpose (to show the checks catch it): 64 KiB of memory every request, and
    /// an fd and (on a worker with its own queues) a DMA share every 500 of a worker's.
    inject_leak: bool,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: soak [--requests N] [--threads T] [--oneshot-threads S] [--seed X] [--sample-ms MS]\n\
         \x20           [--inject-leak]"
    );
    ExitCode::from(2)
}

fn parse_args() -> Option<Args> {
    let mut a = Args {
        requests: 20_000,
        threads: 2,
        oneshot_threads: 1,
        seed: 0x5eed,
        sample_ms: 250,
        inject_leak: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--inject-leak" {
            a.inject_leak = true;
            continue;
        }
        let v = it.next()?;
        match k.as_str() {
            "--requests" => a.requests = v.parse().ok()?,
            "--threads" => a.threads = v.parse().ok()?,
            "--oneshot-threads" => a.oneshot_threads = v.parse().ok()?,
            "--seed" => a.seed = v.parse().ok()?,
            "--sample-ms" => a.sample_ms = v.parse().ok().filter(|&m| m > 0)?,
            _ => return None,
        }
    }
    (a.threads + a.oneshot_threads > 0).then_some(a)
}

/// xorshift64*: a small deterministic generator (the soak needs no statistical quality).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The input source: 1 MiB of text-like bytes (compresses 3-5x), 1 MiB of random bytes
/// (does not compress), 1 MiB of long runs (compresses over 100x, so its decompression
/// outgrows the first output guess).
fn corpus(seed: u64) -> Vec<u8> {
    let mut r = Rng::new(seed ^ 0x00c0_ffee);
    let words: Vec<Vec<u8>> = (0..512)
        .map(|_| {
            let n = 2 + r.below(9) as usize;
            (0..n).map(|_| b'a' + r.below(26) as u8).collect()
        })
        .collect();
    let mut v = Vec::with_capacity(3 * ONE_REQUEST_MAX);
    while v.len() < ONE_REQUEST_MAX {
        v.extend_from_slice(&words[r.below(words.len() as u64) as usize]);
        v.push(if r.below(12) == 0 { b'\n' } else { b' ' });
    }
    v.truncate(ONE_REQUEST_MAX);
    while v.len() < 2 * ONE_REQUEST_MAX {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(2 * ONE_REQUEST_MAX);
    while v.len() < 3 * ONE_REQUEST_MAX {
        let b = r.next() as u8;
        let n = 1 + r.below(8192) as usize;
        v.extend(std::iter::repeat_n(b, n));
    }
    v.truncate(3 * ONE_REQUEST_MAX);
    v
}

/// A size from 0 to 1 MiB, skewed small: 60% under 1 KiB, 30% under 64 KiB, 9% under
/// 256 KiB, 1% up to 1 MiB (inclusive).
fn pick_size(r: &mut Rng) -> usize {
    let max = match r.below(100) {
        0..60 => 1 << 10,
        60..90 => 64 << 10,
        90..99 => 256 << 10,
        _ => ONE_REQUEST_MAX + 1,
    };
    r.below(max as u64) as usize
}

const FORMATS: [Format; 3] = [Format::Gzip, Format::Zlib, Format::Deflate];
const LEVELS: [u32; 4] = [1, 2, 6, 9];

/// Decodes one complete stream of `format` with miniz_oxide, checking gzip's header, CRC-32
/// and size here (miniz_oxide checks zlib's Adler-32 itself).
fn independent_decode(format: Format, d: &[u8]) -> Result<Vec<u8>, String> {
    use miniz_oxide::inflate::{decompress_to_vec, decompress_to_vec_zlib};
    let e = |e| format!("miniz_oxide: {e:?}");
    match format {
        Format::Deflate => decompress_to_vec(d).map_err(e),
        Format::Zlib => decompress_to_vec_zlib(d).map_err(e),
        Format::Gzip => {
            let body = gzip_body(d)?;
            let out = decompress_to_vec(body).map_err(e)?;
            let t = &d[d.len() - 8..];
            let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
            let isize = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
            if crc != crc32fast::hash(&out) || isize != out.len() as u32 {
                return Err("gzip trailer does not match the data".into());
            }
            Ok(out)
        }
    }
}

/// The deflate data of a one-member gzip file (RFC 1952 header parsed, 8-byte trailer off).
fn gzip_body(d: &[u8]) -> Result<&[u8], String> {
    let bad = || "bad gzip header".to_string();
    if d.len() < 18 || d[..3] != [0x1f, 0x8b, 8] {
        return Err(bad());
    }
    let flags = d[3];
    let mut i = 10;
    if flags & 4 != 0 {
        let xlen = u16::from_le_bytes([*d.get(i).ok_or_else(bad)?, *d.get(i + 1).ok_or_else(bad)?]);
        i += 2 + xlen as usize;
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            let nul = d.get(i..).ok_or_else(bad)?.iter().position(|&b| b == 0);
            i += nul.ok_or_else(bad)? + 1;
        }
    }
    if flags & 2 != 0 {
        i += 2;
    }
    d.get(i..d.len() - 8).ok_or_else(bad)
}

/// The leaks of `--inject-leak`, after a worker's `k`th request (0: as it starts, so that
/// every worker leaks all three kinds however the requests are shared out among them):
/// memory each time, an fd and a DMA buffer every 500th.
fn inject_leak(via: &Via, k: u64) {
    // 256 KiB a request: far above the RSS tolerance over the self-test's 3000 requests
    // however many of them fall after the first sample.
    std::mem::forget(std::hint::black_box(vec![1u8; 256 << 10]));
    if k % 500 == 0 {
        std::mem::forget(std::fs::File::open("/proc/self/status"));
        if let Via::Own(cq, _) = via {
            std::mem::forget(cq.alloc(4096));
        }
    }
}

/// Where a worker sends its requests.
enum Via {
    /// Its own compress and decompress queues.
    Own(Box<Queue>, Box<Queue>),
    /// The shared one-shot functions.
    OneShot,
}

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    bytes_in: u64,
    bytes_out: u64,
    /// Decompressions on an own queue that needed more than one request.
    streamed: u64,
}

/// One verified round trip: the compressed size, and whether the decompression needed the
/// streaming path.
fn round_trip(
    via: &mut Via,
    data: &[u8],
    format: Format,
    level: u32,
) -> Result<(usize, bool), String> {
    let err = |what: &str, e: wd_core::Error| format!("{what}: {e}");
    let (comp, back) = match via {
        Via::Own(cq, dq) => {
            let comp =
                zip::compress_one(cq, data, format, level).map_err(|e| err("compress", e))?;
            let back = zip::decompress_one(dq, &comp, format).map_err(|e| err("decompress", e))?;
            (comp, back)
        }
        Via::OneShot => {
            let comp = zip::compress(data, format, level).map_err(|e| err("compress", e))?;
            let back = zip::decompress(&comp, format).map_err(|e| err("decompress", e))?;
            (comp, Some(back))
        }
    };
    let back = match back {
        Some(b) => b,
        // Did not fit one request's first output guess (highly compressible input): the
        // whole-stream path, which continues on more requests.
        None => {
            let out = zip::decompress(&comp, format).map_err(|e| err("decompress", e))?;
            return check(data, &comp, &out, format).map(|()| (comp.len(), true));
        }
    };
    check(data, &comp, &back, format).map(|()| (comp.len(), false))
}

fn check(data: &[u8], comp: &[u8], back: &[u8], format: Format) -> Result<(), String> {
    if back != data {
        return Err(format!(
            "round trip differs ({} -> {} bytes)",
            data.len(),
            back.len()
        ));
    }
    let ind = independent_decode(format, comp)?;
    if ind != data {
        return Err("the independent decoder reads different bytes".into());
    }
    Ok(())
}

/// A sampled figure: its name, how to read it from a [`Sample`], and its tolerance.
type Check = (&'static str, fn(&Sample) -> u64, u64);

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: u64,
    heap_kib: u64,
    fds: u64,
    maps: u64,
    shares: u64,
    /// Shares not idle in a buffer cache.
    live_shares: u64,
}

/// Bytes the C allocator has handed out and not had back, over all its arenas.
fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value; it only
    // reads the allocator's statistics under the allocator's own locks.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

fn sample(domains: &[Arc<Domain>]) -> Sample {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let heap_kib = heap_in_use() / 1024;
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    let maps = std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count() as u64);
    let shares: u64 = domains.iter().map(|d| d.share_count() as u64).sum();
    let cached: u64 = domains.iter().map(|d| d.cached_buffers() as u64).sum();
    Sample {
        rss_kib,
        heap_kib,
        fds,
        maps,
        shares,
        live_shares: shares - cached,
    }
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        return usage();
    };
    let device = wd_core::default_device();
    let data = Arc::new(corpus(args.seed));
    // Each own-queue worker's queues, opened before anything runs.
    let mut vias = Vec::new();
    let mut domains: Vec<Arc<Domain>> = Vec::new();
    for _ in 0..args.threads {
        let open = |d| wd_core::open_queue(d).map(Box::new);
        let (cq, dq) = match (open(Direction::Compress), open(Direction::Decompress)) {
            (Ok(c), Ok(d)) => (c, d),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("soak: cannot open queues on {device}: {e}");
                return ExitCode::FAILURE;
            }
        };
        for q in [&cq, &dq] {
            if !domains.iter().any(|d| Arc::ptr_eq(d, q.domain())) {
                domains.push(q.domain().clone());
            }
        }
        vias.push(Via::Own(cq, dq));
    }
    vias.extend((0..args.oneshot_threads).map(|_| Via::OneShot));
    if device == wd_core::DeviceKind::Soft
        && !domains
            .iter()
            .any(|d| Arc::ptr_eq(d, &wd_core::soft_domain()))
    {
        domains.push(wd_core::soft_domain());
    }
    // The one-shot functions' pool opens queues as calls overlap: fill it now with as many
    // queues as can ever be in use at once (one per one-shot thread, and one per own-queue
    // thread whose decompression falls back to it), so that it does not grow during the run.
    // It keeps what it can (four per direction) and closes the rest.
    let users = args.oneshot_threads + args.threads;
    for dir in [Direction::Compress, Direction::Decompress] {
        let taken: Result<Vec<Queue>, _> = (0..users).map(|_| wd_core::pool::take(dir)).collect();
        match taken.map(|t| t.into_iter().try_for_each(wd_core::pool::give_back)) {
            Ok(Ok(())) => {}
            Err(e) | Ok(Err(e)) => {
                eprintln!("soak: cannot fill the queue pool on {device}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let idle = sample(&domains);

    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    // Failed round trips so far, for the progress lines of a long run.
    let failed = Arc::new(AtomicU64::new(0));
    println!(
        "soak: {} requests (round trips) on {device}, {} threads with own queues + {} one-shot",
        args.requests, args.threads, args.oneshot_threads
    );
    let start = Instant::now();
    let workers: Vec<_> = vias
        .into_iter()
        .enumerate()
        .map(|(i, mut via)| {
            let (data, next, done, failures, failed) = (
                data.clone(),
                next.clone(),
                done.clone(),
                failures.clone(),
                failed.clone(),
            );
            let n = args.requests;
            let seed = args.seed;
            let leak = args.inject_leak;
            std::thread::spawn(move || {
                let mut t = Tally::default();
                let mut r = Rng::new(seed.wrapping_add(i as u64 + 1));
                if leak {
                    inject_leak(&via, 0);
                }
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let len = pick_size(&mut r);
                    let region = r.below(3) as usize * ONE_REQUEST_MAX;
                    let off = region
                        + r.below((ONE_REQUEST_MAX - len.min(ONE_REQUEST_MAX)) as u64 + 1) as usize;
                    let input = &data[off.min(data.len() - len)..][..len];
                    let format = FORMATS[r.below(3) as usize];
                    let level = LEVELS[r.below(4) as usize];
                    match round_trip(&mut via, input, format, level) {
                        Ok((clen, streamed)) => {
                            t.passed += 1;
                            t.bytes_in += len as u64;
                            t.bytes_out += clen as u64;
                            t.streamed += u64::from(streamed);
                        }
                        Err(e) => {
                            t.failed += 1;
                            failed.fetch_add(1, Ordering::Relaxed);
                            let mut f = failures.lock().unwrap_or_else(|e| e.into_inner());
                            if f.len() < 20 {
                                f.push(format!("{len} B {format:?} level {level}: {e}"));
                            }
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    if leak {
                        inject_leak(&via, t.passed + t.failed);
                    }
                }
                // Hand the queues back still open: the last sample sees them as the first did.
                (t, via)
            })
        })
        .collect();

    // Sample until the workers are done.
    let warm = (args.requests as f64 * WARMUP_FRACTION) as u64;
    let mut first: Option<(f64, Sample)> = None;
    let mut max = Sample::default();
    let mut count = 0u64;
    {
        let done = done.clone();
        let tick = Duration::from_millis(args.sample_ms);
        let mut last_report = Instant::now();
        while done.load(Ordering::Relaxed) < args.requests {
            std::thread::sleep(tick);
            if workers.iter().all(|w| w.is_finished()) {
                break;
            }
            let s = sample(&domains);
            count += 1;
            max = Sample {
                rss_kib: max.rss_kib.max(s.rss_kib),
                heap_kib: max.heap_kib.max(s.heap_kib),
                fds: max.fds.max(s.fds),
                maps: max.maps.max(s.maps),
                shares: max.shares.max(s.shares),
                live_shares: max.live_shares.max(s.live_shares),
            };
            let d = done.load(Ordering::Relaxed);
            if first.is_none() && d >= warm {
                first = Some((start.elapsed().as_secs_f64(), s));
            }
            if last_report.elapsed() >= Duration::from_secs(60) {
                last_report = Instant::now();
                let secs = start.elapsed().as_secs_f64();
                println!(
                    "soak: {d} done, {} failed, {:.0}/s, rss {} KiB, heap {} KiB, fds {}, maps {}, shares {}",
                    failed.load(Ordering::Relaxed),
                    d as f64 / secs,
                    s.rss_kib,
                    s.heap_kib,
                    s.fds,
                    s.maps,
                    s.shares
                );
            }
        }
    }
    let mut total = Tally::default();
    let mut keep = Vec::new();
    for w in workers {
        let (t, via) = w.join().expect("a soak worker panicked");
        total.passed += t.passed;
        total.failed += t.failed;
        total.bytes_in += t.bytes_in;
        total.bytes_out += t.bytes_out;
        total.streamed += t.streamed;
        keep.push(via);
    }
    let secs = start.elapsed().as_secs_f64();
    let last = sample(&domains);
    drop(keep);

    let request_failures = failures.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Checks of the run as a whole (resources, count); each failed one counts as a failure.
    let mut problems: Vec<String> = Vec::new();
    let n = total.passed + total.failed;
    println!(
        "soak: {n} requests in {secs:.1} s, {:.0} requests/s, {:.1} MiB in, {:.1} MiB compressed, {} decompressions streamed",
        n as f64 / secs,
        total.bytes_in as f64 / 1048576.0,
        total.bytes_out as f64 / 1048576.0,
        total.streamed
    );
    // Too short a run for a sample after the warm-up: compare with the idle state.
    let (t0, first) = first.unwrap_or((0.0, idle));
    println!("soak: {count} samples; first after warm-up at {t0:.1} s");
    let rows: [Check; 5] = [
        ("rss KiB", |s| s.rss_kib, RSS_TOLERANCE_KIB),
        ("heap KiB", |s| s.heap_kib, HEAP_TOLERANCE_KIB),
        ("fds", |s| s.fds, FD_TOLERANCE),
        ("maps", |s| s.maps, MAPS_TOLERANCE),
        ("shares", |s| s.shares, u64::MAX),
    ];
    for (name, get, tol) in rows {
        let (a, m, z) = (get(&first), get(&max).max(get(&last)), get(&last));
        let tol_s = if tol == u64::MAX {
            "see live".to_string()
        } else {
            format!("+{tol}")
        };
        println!("soak: {name:8} first {a:>9} max {m:>9} last {z:>9} (tolerance {tol_s})");
        if tol != u64::MAX && z > a.saturating_add(tol) {
            problems.push(format!("{name} grew from {a} to {z} (tolerance {tol})"));
        }
    }
    println!(
        "soak: live shares (not cached) before the first request {}, at the end {}",
        idle.live_shares, last.live_shares
    );
    if last.live_shares != idle.live_shares {
        problems.push(format!(
            "{} DMA shares outside the cache at the end, {} before the first request",
            last.live_shares, idle.live_shares
        ));
    }
    if n != args.requests {
        problems.push(format!("{n} requests ran, {} asked", args.requests));
    }
    for p in request_failures.iter().chain(&problems) {
        println!("soak: FAILED: {p}");
    }
    let failed = total.failed + problems.len() as u64;
    println!("{} passed, {failed} failed", total.passed);
    if problems.is_empty() && total.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
