//! Compression through the queues, measured against the engine called directly, and the
//! file tools the main job runs (`gz`, `gunzip`).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wd_core::abi::{ReqType, ZipSqe};
use wd_core::dma::DmaBuf;
use wd_core::engine::Engine;
use wd_core::zip::{self, compress_bound, compress_stream, decompress_stream, Format, ZipOptions};
use wd_core::{Direction, Level, Queue, Request};

use crate::stats::median;
use crate::{Args, BoxResult};

fn load(path: &str, mib: usize) -> BoxResult<Vec<u8>> {
    let mut v = Vec::new();
    File::open(path)
        .map_err(|e| format!("{path}: {e}"))?
        .take((mib as u64) << 20)
        .read_to_end(&mut v)?;
    Ok(v)
}

fn gunzip_check(gz: &[u8], want: &[u8]) -> BoxResult<()> {
    let mut back = Vec::with_capacity(want.len());
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut back)?;
    if back != want {
        return Err("output does not decode to the input".into());
    }
    Ok(())
}

/// One way of compressing single pieces; `run` compresses `piece` and returns the output
/// size (its output checked once outside the clock).
trait Way {
    fn run(&mut self, piece: &[u8]) -> BoxResult<usize>;
    /// Waits for pieces still in flight; returns their output bytes.
    fn finish(&mut self) -> BoxResult<usize> {
        Ok(0)
    }
    /// The output of the first piece run since the last `restart_sample`.
    fn output(&self) -> Vec<u8>;
    fn restart_sample(&mut self) {}
    /// Driver system calls so far (blocking waits, kicks of a sleeping device).
    fn syscalls(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// The soft device's own engine (`wd_core::engine::Engine`), called on the caller's thread:
/// the same code, the same checksum work, no ring, no copies.
struct Direct {
    engine: Engine,
    level: u32,
    out: Vec<u8>,
    sample: Vec<u8>,
}

impl Way for Direct {
    fn run(&mut self, piece: &[u8]) -> BoxResult<usize> {
        let sqe = ZipSqe::request(
            ReqType::Gzip,
            0,
            self.level,
            0,
            0,
            piece.len() as u32,
            0,
            self.out.len() as u32,
        );
        let o = self.engine.run(ReqType::Gzip, &sqe, piece, &mut self.out);
        o.status.check()?;
        let n = o.produced as usize;
        if self.sample.is_empty() {
            self.sample = self.out[..n].to_vec();
        }
        Ok(n)
    }
    fn output(&self) -> Vec<u8> {
        self.sample.clone()
    }
    fn restart_sample(&mut self) {
        self.sample.clear();
    }
}

/// A long-lived soft queue with `depth` buffer pairs; the input is copied into a shared
/// buffer (the caller's data is in ordinary memory), the output is read in place.
struct Queued {
    q: Queue,
    level: u32,
    depth: usize,
    /// Busy-poll `recv` instead of `recv_timeout` (which sleeps after a work-sized poll).
    poll: bool,
    free: Vec<(DmaBuf, DmaBuf)>,
    last: Vec<u8>,
}

impl Queued {
    fn new(size: usize, level: u32, depth: usize, poll: bool) -> BoxResult<Queued> {
        let q = Queue::open_soft_with(
            wd_core::soft_domain(),
            Direction::Compress,
            Default::default(),
        )?;
        let mut free = Vec::new();
        for _ in 0..depth {
            free.push((q.alloc(size)?, q.alloc(compress_bound(size))?));
        }
        Ok(Queued {
            q,
            level,
            depth,
            poll,
            free,
            last: Vec::new(),
        })
    }

    fn reap(&mut self) -> BoxResult<usize> {
        let c = if self.poll {
            loop {
                if let Some(c) = self.q.recv()? {
                    break c;
                }
                std::hint::spin_loop();
            }
        } else {
            self.q.recv_timeout(None)?
        };
        c.check()?;
        let n = c.produced;
        let (s, d) = (c.src.ok_or("no src")?, c.dst.ok_or("no dst")?);
        if self.last.is_empty() {
            self.last = d.as_slice().to_vec();
        }
        self.free.push((s, d));
        Ok(n)
    }
}

impl Way for Queued {
    fn run(&mut self, piece: &[u8]) -> BoxResult<usize> {
        if self.free.is_empty() || self.q.outstanding() >= self.depth {
            self.reap()?;
        }
        let (mut s, d) = self.free.pop().ok_or("no free buffer")?;
        s.fill(piece);
        let req = Request::new(ReqType::Gzip, s, d).level(self.level);
        self.q.send(req).map_err(|e| e.error)?;
        if self.depth == 1 {
            return self.reap();
        }
        Ok(0)
    }
    fn finish(&mut self) -> BoxResult<usize> {
        let mut n = 0;
        while self.q.outstanding() > 0 {
            n += self.reap()?;
        }
        Ok(n)
    }
    fn output(&self) -> Vec<u8> {
        self.last.clone()
    }
    fn restart_sample(&mut self) {
        self.last.clear();
    }
    fn syscalls(&self) -> (u64, u64) {
        let s = self.q.stats();
        (s.waits, s.wakeups)
    }
}

/// The public one-shot call `wd_core::zip::compress` (what `warpdrive.compress` wraps).
struct OneShot {
    level: u32,
    last: Vec<u8>,
}

impl Way for OneShot {
    fn run(&mut self, piece: &[u8]) -> BoxResult<usize> {
        let v = zip::compress(piece, Format::Gzip, self.level)?;
        let n = v.len();
        if self.last.is_empty() {
            self.last = v;
        }
        Ok(n)
    }
    fn output(&self) -> Vec<u8> {
        self.last.clone()
    }
    fn restart_sample(&mut self) {
        self.last.clear();
    }
}

const WAYS: [&str; 5] = [
    "direct",
    "queue_sync",
    "queue_poll",
    "queue_depth4",
    "zip_compress",
];

fn make_way(name: &str, size: usize, level: u32) -> BoxResult<Box<dyn Way>> {
    Ok(match name {
        "direct" => Box::new(Direct {
            engine: Engine::new(Direction::Compress),
            level,
            out: vec![0u8; compress_bound(size)],
            sample: Vec::new(),
        }),
        "queue_sync" => Box::new(Queued::new(size, level, 1, false)?),
        "queue_poll" => Box::new(Queued::new(size, level, 1, true)?),
        "queue_depth4" => Box::new(Queued::new(size, level, 4, false)?),
        "zip_compress" => Box::new(OneShot {
            level,
            last: Vec::new(),
        }),
        _ => return Err(format!("unknown way {name}").into()),
    })
}

/// Compresses pieces of `size` from `data` cyclically for at least `dur` (and at least two
/// pieces).
fn time_way(name: &str, data: &[u8], size: usize, level: u32, dur: Duration) -> BoxResult<Timing> {
    let mut w = make_way(name, size, level)?;
    let pieces: Vec<&[u8]> = data.chunks_exact(size).collect();
    // Warm up and check: the first piece, outside the clock.
    w.run(pieces[0])?;
    w.finish()?;
    w.restart_sample();
    let (mut bytes, mut out, mut i) = (0usize, 0usize, 0usize);
    let sys0 = w.syscalls();
    let cpu0 = cpu_secs();
    let start = Instant::now();
    while i < 2 || start.elapsed() < dur {
        let p = pieces[i % pieces.len()];
        out += w.run(p)?;
        bytes += p.len();
        i += 1;
    }
    out += w.finish()?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let sys1 = w.syscalls();
    gunzip_check(&w.output(), pieces[0]).map_err(|e| format!("{name} {size} L{level}: {e}"))?;
    Ok(Timing {
        mb_s: bytes as f64 / 1e6 / secs,
        mb_per_cpu_s: bytes as f64 / 1e6 / cpu,
        out_ratio: out as f64 / bytes as f64,
        waits_per_req: (sys1.0 - sys0.0) as f64 / i as f64,
        kicks_per_req: (sys1.1 - sys0.1) as f64 / i as f64,
    })
}

struct Timing {
    mb_s: f64,
    mb_per_cpu_s: f64,
    out_ratio: f64,
    waits_per_req: f64,
    kicks_per_req: f64,
}

/// CPU seconds (user + system) of the whole process so far, every thread included.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `wd-bench sizes`: request sizes 4 KiB .. 8 MiB, levels 1 and 6, every way side by side.
pub fn sizes(args: &Args) -> BoxResult<()> {
    let path = args.get(&["--corpus"]).ok_or("--corpus FILE is required")?;
    let mib: usize = args.num(&["--mib"], 64);
    let reps: usize = args.num(&["--reps"], 5);
    let secs: f64 = args.num(&["--secs"], 0.5);
    let sizes: Vec<usize> = args
        .get(&["--sizes"])
        .unwrap_or_else(|| "4,16,64,256,1024,4096,8192".into())
        .split(',')
        .map(|k| k.parse::<usize>().map(|k| k << 10))
        .collect::<Result<_, _>>()?;
    let levels: Vec<u32> = args
        .get(&["--levels"])
        .unwrap_or_else(|| "1,6".into())
        .split(',')
        .map(|l| l.parse())
        .collect::<Result<_, _>>()?;
    let ways: Vec<&str> = match args.get(&["--ways"]) {
        Some(w) => WAYS
            .iter()
            .copied()
            .filter(|x| w.split(',').any(|y| y == *x))
            .collect(),
        None => WAYS.to_vec(),
    };
    if ways.first() != Some(&"direct") {
        return Err("--ways must include direct (the reference)".into());
    }
    let data = load(&path, mib)?;
    let dur = Duration::from_secs_f64(secs);
    let mut res = serde_json::Map::new();
    for &level in &levels {
        let mut per_size = serde_json::Map::new();
        for &size in &sizes {
            let mut mbs = vec![Vec::new(); ways.len()];
            let mut cpu = vec![Vec::new(); ways.len()];
            let mut waits = vec![Vec::new(); ways.len()];
            let mut kicks = vec![Vec::new(); ways.len()];
            let mut ratio = vec![0.0; ways.len()];
            for rep in 0..reps {
                for (wi, w) in ways.iter().enumerate() {
                    let t = time_way(w, &data, size, level, dur)?;
                    mbs[wi].push(t.mb_s);
                    cpu[wi].push(t.mb_per_cpu_s);
                    waits[wi].push(t.waits_per_req);
                    kicks[wi].push(t.kicks_per_req);
                    ratio[wi] = t.out_ratio;
                }
                eprintln!("sizes: L{level} {} KiB rep {}/{reps}", size >> 10, rep + 1);
            }
            let mut v = serde_json::Map::new();
            let direct = median(&mbs[0]);
            let direct_cpu = median(&cpu[0]);
            for (wi, w) in ways.iter().enumerate() {
                let m = median(&mbs[wi]);
                let c = median(&cpu[wi]);
                v.insert(
                    w.to_string(),
                    json!({"mb_s": m, "runs": mbs[wi], "out_ratio": ratio[wi], "vs_direct": m / direct,
                           "mb_per_cpu_s": c, "cpu_vs_direct": c / direct_cpu,
                           "waits_per_request": median(&waits[wi]), "kicks_per_request": median(&kicks[wi])}),
                );
            }
            per_size.insert(size.to_string(), Value::Object(v));
        }
        res.insert(format!("L{level}"), Value::Object(per_size));
    }
    println!(
        "{}",
        json!({"corpus_bytes": data.len(), "reps": reps, "secs_per_run": secs,
               "ways": ways, "sizes": sizes, "levels": levels, "results": res})
    );
    Ok(())
}

/// `wd-bench queues`: whole-stream compression of the corpus in memory on 1 and 2 queues.
pub fn queues(args: &Args) -> BoxResult<()> {
    let path = args.get(&["--corpus"]).ok_or("--corpus FILE is required")?;
    let mib: usize = args.num(&["--mib"], 64);
    let reps: usize = args.num(&["--reps"], 5);
    let data = load(&path, mib)?;
    let mut res = serde_json::Map::new();
    for level in [1u32, 6] {
        let mut mbs = vec![Vec::new(); 2];
        let mut sizes = [0usize; 2];
        let mut dec = Vec::new();
        for rep in 0..reps {
            for nq in [1usize, 2] {
                let opts = ZipOptions::default()
                    .format(Format::Gzip)
                    .level(level)
                    .queues(nq);
                let mut out = Vec::with_capacity(data.len() / 2);
                let t = Instant::now();
                compress_stream(
                    &mut &data[..],
                    &mut out,
                    &opts,
                    &zip::default_opener,
                    &mut |_, _| {},
                )?;
                mbs[nq - 1].push(data.len() as f64 / 1e6 / t.elapsed().as_secs_f64());
                sizes[nq - 1] = out.len();
                if rep == 0 {
                    gunzip_check(&out, &data)?;
                }
                if nq == 1 {
                    let mut back = Vec::with_capacity(data.len());
                    let t = Instant::now();
                    decompress_stream(
                        &mut &out[..],
                        &mut back,
                        Format::Gzip,
                        &zip::default_opener,
                        &mut |_, _| {},
                    )?;
                    dec.push(data.len() as f64 / 1e6 / t.elapsed().as_secs_f64());
                    if back != data {
                        return Err("decompress_stream did not give the input back".into());
                    }
                }
            }
            eprintln!("queues: L{level} rep {}/{reps}", rep + 1);
        }
        let (m1, m2) = (median(&mbs[0]), median(&mbs[1]));
        res.insert(
            format!("L{level}"),
            json!({"q1_mb_s": m1, "q2_mb_s": m2, "q2_vs_q1": m2 / m1,
                   "q1_runs": mbs[0], "q2_runs": mbs[1],
                   "q1_bytes": sizes[0], "q2_bytes": sizes[1],
                   "decompress_1q_mb_s": median(&dec)}),
        );
    }
    println!(
        "{}",
        json!({"corpus_bytes": data.len(), "reps": reps, "results": res})
    );
    Ok(())
}

fn io_paths(args: &Args) -> BoxResult<(BufReader<File>, BufWriter<File>)> {
    let p = args.positional();
    let [i, o] = p.as_slice() else {
        return Err("need IN and OUT".into());
    };
    let r = BufReader::with_capacity(1 << 20, File::open(i).map_err(|e| format!("{i}: {e}"))?);
    let w = BufWriter::with_capacity(1 << 20, File::create(o).map_err(|e| format!("{o}: {e}"))?);
    Ok((r, w))
}

/// `wd-bench gz [-l N] [-q Q] IN OUT`: one gzip stream through `compress_stream`.
pub fn gz_file(args: &Args) -> BoxResult<()> {
    let defaults = ZipOptions::default();
    let opts = ZipOptions::default()
        .format(Format::Gzip)
        .level(args.num(&["-l", "--level"], Level::new(6)))
        .queues(args.num(&["-q", "--queues"], defaults.queues))
        .chunk_size(args.num(&["--chunk-kib"], defaults.chunk_size >> 10) << 10);
    let (mut r, mut w) = io_paths(args)?;
    // A file's output can be gone back to: it gets the piece index.
    let size = r.get_ref().metadata()?.len() as usize;
    let pieces = size.div_ceil(opts.chunk_size);
    let opts = opts.index_pieces(pieces);
    let (st, index) =
        zip::compress_stream_indexed(&mut r, &mut w, &opts, &zip::default_opener, &mut |_, _| {})?;
    w.flush()?;
    if let Some(ix) = index {
        w.get_ref().write_all_at(&ix.bytes, ix.offset)?;
    }
    println!(
        "{}",
        json!({"bytes_in": st.bytes_in, "bytes_out": st.bytes_out, "queues": opts.queues})
    );
    Ok(())
}

/// `wd-bench gunzip IN OUT`: a gzip file with a piece index (WarpDrive's own) decoded piece
/// by piece on several queues; any other through `decompress_stream`.
pub fn gunzip_file(args: &Args) -> BoxResult<()> {
    let (mut r, mut w) = io_paths(args)?;
    if let Some(t) = wd_core::pieces::read_file_index(r.get_ref())? {
        let queues = ZipOptions::default().queues;
        let f = r.get_ref().try_clone()?;
        let mut none = |_: u64, _: u64| {};
        if wd_core::pieces::decode_file_pieces(
            &f,
            &t,
            &mut w,
            queues,
            &zip::default_opener,
            &mut none,
        )? {
            w.flush()?;
            println!(
                "{}",
                json!({"bytes_in": r.get_ref().metadata()?.len(), "bytes_out": t.total, "pieces": t.pieces.len()})
            );
            return Ok(());
        }
        // Not as the index says: start again in one piece.
        w.flush()?;
        w.get_mut().set_len(0)?;
        w.get_mut().rewind()?;
    }
    let st = decompress_stream(
        &mut r,
        &mut w,
        Format::Gzip,
        &zip::default_opener,
        &mut |_, _| {},
    )?;
    w.flush()?;
    println!(
        "{}",
        json!({"bytes_in": st.bytes_in, "bytes_out": st.bytes_out})
    );
    Ok(())
}

/// `wd-bench alloc-probe`: how long allocating and freeing a 64 KiB buffer takes on the
/// caller's thread, with the queue idle and while the device runs a long request (gzip
/// level 6 of `--mib` MiB), from the domain's buffer cache and as a new share (sizes 96 KiB
/// x 3^i, which the cache cannot supply): evidence for event-loop stalls.
pub fn alloc_probe(args: &Args) -> BoxResult<()> {
    let mib: usize = args.num(&["--mib"], 1);
    let path = args.get(&["--corpus"]).ok_or("--corpus FILE is required")?;
    let data = load(&path, mib)?;
    let mut q = Queue::open_soft_with(
        wd_core::soft_domain(),
        Direction::Compress,
        Default::default(),
    )?;
    let time_alloc = |q: &Queue, n: usize| -> BoxResult<(f64, f64)> {
        let t = Instant::now();
        let b = q.alloc(n)?;
        let a = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        drop(b);
        Ok((a, t.elapsed().as_secs_f64() * 1e3))
    };
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(time_alloc(&q, 64 << 10)?);
    }
    let mut busy = Vec::new();
    let mut busy_miss = Vec::new();
    let mut engine_ms = Vec::new();
    for i in 0..5u32 {
        let mut src = q.alloc(data.len())?;
        src.fill(&data);
        let dst = q.alloc(compress_bound(data.len()))?;
        let t = Instant::now();
        q.send(Request::new(ReqType::Gzip, src, dst).level(6))
            .map_err(|e| e.error)?;
        std::thread::sleep(Duration::from_micros(200));
        busy.push(time_alloc(&q, 64 << 10)?);
        // A size the domain's buffer cache cannot supply (it hands out buffers of 1-2x the
        // size asked; each probe is 3x the last): a new share.
        busy_miss.push(time_alloc(&q, (96 << 10) * 3usize.pow(i))?);
        q.recv_timeout(None)?.check()?;
        engine_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let med = |v: &[(f64, f64)], i: usize| {
        median(
            &v.iter()
                .map(|x| if i == 0 { x.0 } else { x.1 })
                .collect::<Vec<_>>(),
        )
    };
    println!(
        "{}",
        json!({"request_bytes": data.len(), "request_ms_median": median(&engine_ms),
               "alloc_ms_idle": med(&idle, 0), "free_ms_idle": med(&idle, 1),
               "alloc_ms_while_device_busy": med(&busy, 0), "free_ms_while_device_busy": med(&busy, 1),
               "alloc_ms_uncached_while_device_busy": med(&busy_miss, 0)})
    );
    Ok(())
}
