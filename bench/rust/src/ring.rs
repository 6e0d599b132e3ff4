//! The ring: NOP round trips between the caller's thread and a device thread.
//!
//! Three ways to hand a request from one thread to another and get an answer back, with
//! the same two threads and the same batching (send B requests, then collect B answers):
//!
//! - `soft`: wd-core's soft device. 128-byte SQ entries, 16-byte CQ entries, doorbell
//!   store, phase bits: the real `hisi_qm_v1` protocol, served by the device thread.
//! - `pipe`: one `write(2)` per request (16 bytes) to a server thread blocked in
//!   `read(2)`, one `write(2)` per answer back: the "one system call per request" design.
//!   Reads take whatever is there, so they are batched when requests queue up.
//! - `rtrb`: a lock-free single-producer single-consumer ring (the `rtrb` crate) each
//!   way, carrying 128-byte requests and 16-byte answers (the sizes of SQ and CQ entries),
//!   served by a thread that polls without sleeping.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wd_core::{Direction, Queue, Request};

use crate::stats::{clock_cost_ns, median};
use crate::{Args, BoxResult};

/// Requests done before the clock starts (thread start-up, first cache misses).
const WARMUP: u64 = 2000;

#[derive(Default, Clone, Copy)]
struct Run {
    n: u64,
    secs: f64,
    /// Nanoseconds inside send calls (timed runs only), and the number of calls.
    send_ns: f64,
    send_calls: u64,
    /// Nanoseconds inside receive calls that returned at least one answer, and their count.
    recv_ns: f64,
    recv_calls: u64,
    kicks: u64,
    waits: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.n as f64 / self.secs
    }
}

fn open_soft(window: usize) -> BoxResult<Queue> {
    Ok(Queue::open_soft_with(
        wd_core::soft_domain(),
        Direction::Compress,
        wd_core::backend::soft::SoftOptions {
            reorder_window: window,
            ..Default::default()
        },
    )?)
}

/// NOPs through the soft device until `dur` passes or `limit` requests are done. `window`
/// is the device's reorder window: with more than 1 it takes up to that many requests per
/// pass (and completes them in reverse order), a diagnostic of per-request device costs.
fn soft_run(batch: usize, dur: Duration, limit: u64, timed: bool, window: usize) -> BoxResult<Run> {
    let mut q = open_soft(window)?;
    let mut reqs: Vec<Request> = Vec::with_capacity(batch);
    let mut done = Vec::with_capacity(batch);
    let mut r = Run::default();
    let mut one_batch = |q: &mut Queue, r: &mut Run, timed: bool| -> BoxResult<()> {
        reqs.extend((0..batch).map(|_| Request::nop()));
        while !reqs.is_empty() {
            if timed {
                let t = Instant::now();
                q.send_batch(&mut reqs)?;
                r.send_ns += t.elapsed().as_nanos() as f64;
                r.send_calls += 1;
            } else {
                q.send_batch(&mut reqs)?;
            }
        }
        let mut got = 0;
        while got < batch {
            done.clear();
            let k = if timed {
                let t = Instant::now();
                let k = q.recv_many(&mut done, batch)?;
                if k > 0 {
                    r.recv_ns += t.elapsed().as_nanos() as f64;
                    r.recv_calls += 1;
                }
                k
            } else {
                q.recv_many(&mut done, batch)?
            };
            got += k;
            if k == 0 {
                std::hint::spin_loop();
            }
        }
        Ok(())
    };
    let mut scratch = Run::default();
    for _ in 0..WARMUP.div_ceil(batch as u64) {
        one_batch(&mut q, &mut scratch, false)?;
    }
    let before = q.stats();
    let start = Instant::now();
    while r.n < limit && start.elapsed() < dur {
        for _ in 0..64 {
            one_batch(&mut q, &mut r, timed)?;
            r.n += batch as u64;
            if r.n >= limit {
                break;
            }
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    let st = q.stats();
    r.kicks = st.wakeups - before.wakeups;
    r.waits = st.waits - before.waits;
    Ok(r)
}

// ---------------------------------------------------------------- pipe ping-pong

const MSG: usize = 16;
const STOP: u64 = u64::MAX;

fn pipe_pair() -> BoxResult<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok((fds[0], fds[1]))
}

fn write_all(fd: RawFd, buf: &[u8]) {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe the live slice `buf[off..]`.
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "pipe write: {e}");
            continue;
        }
        off += n as usize;
    }
}

/// Reads at least one byte into `buf`; returns how many.
fn read_some(fd: RawFd, buf: &mut [u8]) -> usize {
    loop {
        // SAFETY: the pointer and length describe the live, writable slice `buf`.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return n as usize;
        }
        let e = std::io::Error::last_os_error();
        assert!(
            n < 0 && e.kind() == std::io::ErrorKind::Interrupted,
            "pipe read: {n} {e}"
        );
    }
}

fn close(fd: RawFd) {
    // SAFETY: `fd` is a pipe end this module opened and closes once.
    unsafe { libc::close(fd) };
}

fn msg(tag: u64, kind: u64) -> [u8; MSG] {
    let mut m = [0u8; MSG];
    m[..8].copy_from_slice(&tag.to_le_bytes());
    m[8..].copy_from_slice(&kind.to_le_bytes());
    m
}

/// The pipe server: reads requests as they come, answers each with its own write.
fn pipe_server(rx: RawFd, tx: RawFd) {
    let mut buf = vec![0u8; 64 * MSG];
    let mut have = 0;
    loop {
        have += read_some(rx, &mut buf[have..]);
        let whole = have / MSG * MSG;
        for m in buf[..whole].chunks_exact(MSG) {
            let kind = u64::from_le_bytes(m[8..].try_into().expect("8 bytes"));
            if kind == STOP {
                return;
            }
            write_all(
                tx,
                &msg(u64::from_le_bytes(m[..8].try_into().expect("8")), 0),
            );
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
}

fn pipe_run(batch: usize, dur: Duration, limit: u64, timed: bool) -> BoxResult<Run> {
    let (req_r, req_w) = pipe_pair()?;
    let (ans_r, ans_w) = pipe_pair()?;
    let server = std::thread::spawn(move || pipe_server(req_r, ans_w));
    let mut buf = vec![0u8; 64 * MSG];
    let mut r = Run::default();
    let mut tag = 0u64;
    let mut one_batch = |r: &mut Run, timed: bool| {
        for _ in 0..batch {
            tag += 1;
            let m = msg(tag, 0);
            if timed {
                let t = Instant::now();
                write_all(req_w, &m);
                r.send_ns += t.elapsed().as_nanos() as f64;
                r.send_calls += 1;
            } else {
                write_all(req_w, &m);
            }
        }
        let mut got = 0;
        let mut have = 0;
        while got < batch * MSG {
            // The read blocks until an answer is there: only time the part after that
            // would need a clock inside the kernel, so a timed read counts its whole call.
            let t = timed.then(Instant::now);
            let end = (have + batch * MSG - got).min(buf.len());
            let k = read_some(ans_r, &mut buf[have..end]);
            if let Some(t) = t {
                r.recv_ns += t.elapsed().as_nanos() as f64;
                r.recv_calls += 1;
            }
            got += k;
            have = (have + k) % MSG;
        }
    };
    let mut scratch = Run::default();
    for _ in 0..WARMUP.div_ceil(batch as u64) {
        one_batch(&mut scratch, false);
    }
    let start = Instant::now();
    while r.n < limit && start.elapsed() < dur {
        for _ in 0..16 {
            one_batch(&mut r, timed);
            r.n += batch as u64;
            if r.n >= limit {
                break;
            }
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    write_all(req_w, &msg(0, STOP));
    server.join().map_err(|_| "pipe server panicked")?;
    for fd in [req_r, req_w, ans_r, ans_w] {
        close(fd);
    }
    Ok(r)
}

// ---------------------------------------------------------------- rtrb SPSC rings

/// A request the size of an SQ entry.
#[derive(Clone, Copy)]
struct Req {
    w: [u64; 16],
}

/// An answer the size of a CQ entry.
#[derive(Clone, Copy)]
struct Ans {
    w: [u64; 2],
}

fn rtrb_run(batch: usize, dur: Duration, limit: u64, timed: bool) -> BoxResult<Run> {
    let (mut req_tx, mut req_rx) = rtrb::RingBuffer::<Req>::new(1024);
    let (mut ans_tx, mut ans_rx) = rtrb::RingBuffer::<Ans>::new(1024);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let server = std::thread::spawn(move || loop {
        match req_rx.pop() {
            Ok(q) => {
                let mut a = Ans { w: [q.w[13], 0] };
                while let Err(rtrb::PushError::Full(back)) = ans_tx.push(a) {
                    a = back;
                    std::hint::spin_loop();
                }
            }
            Err(_) => {
                if stop2.load(Ordering::Relaxed) {
                    return;
                }
                std::hint::spin_loop();
            }
        }
    });
    let mut r = Run::default();
    let mut tag = 0u64;
    let mut one_batch = |r: &mut Run, timed: bool| {
        for _ in 0..batch {
            tag += 1;
            let mut q = Req { w: [0; 16] };
            q.w[9] = 0x7f;
            q.w[13] = tag;
            let t = timed.then(Instant::now);
            while let Err(rtrb::PushError::Full(back)) = req_tx.push(q) {
                q = back;
                std::hint::spin_loop();
            }
            if let Some(t) = t {
                r.send_ns += t.elapsed().as_nanos() as f64;
                r.send_calls += 1;
            }
        }
        let mut got = 0;
        while got < batch {
            let t = timed.then(Instant::now);
            match ans_rx.pop() {
                Ok(a) => {
                    std::hint::black_box(a.w);
                    got += 1;
                    if let Some(t) = t {
                        r.recv_ns += t.elapsed().as_nanos() as f64;
                        r.recv_calls += 1;
                    }
                }
                Err(_) => std::hint::spin_loop(),
            }
        }
    };
    let mut scratch = Run::default();
    for _ in 0..WARMUP.div_ceil(batch as u64) {
        one_batch(&mut scratch, false);
    }
    let start = Instant::now();
    while r.n < limit && start.elapsed() < dur {
        for _ in 0..64 {
            one_batch(&mut r, timed);
            r.n += batch as u64;
            if r.n >= limit {
                break;
            }
        }
    }
    r.secs = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    server.join().map_err(|_| "rtrb server panicked")?;
    Ok(r)
}

fn run_mode(mode: &str, batch: usize, dur: Duration, limit: u64, timed: bool) -> BoxResult<Run> {
    match mode {
        "soft" => soft_run(batch, dur, limit, timed, 1),
        "soft_window32" => soft_run(batch, dur, limit, timed, 32),
        "pipe" => pipe_run(batch, dur, limit, timed),
        "rtrb" => rtrb_run(batch, dur, limit, timed),
        _ => Err(format!("unknown mode {mode}: use soft, pipe or rtrb").into()),
    }
}

const MODES: [&str; 4] = ["soft", "pipe", "rtrb", "soft_window32"];

/// `wd-bench ring`: rates (untimed runs) and per-call costs (timed runs), interleaved.
pub fn bench(args: &Args) -> BoxResult<()> {
    let secs: f64 = args.num(&["--secs"], 0.5);
    let reps: usize = args.num(&["--reps"], 5);
    let batches: Vec<usize> = args
        .get(&["--batches"])
        .unwrap_or_else(|| "1,8,32".into())
        .split(',')
        .map(|b| b.parse())
        .collect::<Result<_, _>>()?;
    let dur = Duration::from_secs_f64(secs);
    let clock = clock_cost_ns();
    // rates[mode][batch] = per-repetition rates; costs likewise.
    let mut rates = vec![vec![Vec::new(); batches.len()]; MODES.len()];
    let mut send = vec![vec![Vec::new(); batches.len()]; MODES.len()];
    let mut recv = vec![vec![Vec::new(); batches.len()]; MODES.len()];
    let mut soft_sys = vec![(0u64, 0u64); batches.len()];
    for rep in 0..reps {
        eprintln!("ring: repetition {}/{reps}", rep + 1);
        for (bi, &b) in batches.iter().enumerate() {
            for (mi, m) in MODES.iter().enumerate() {
                let r = run_mode(m, b, dur, u64::MAX, false)?;
                rates[mi][bi].push(r.rate());
                if *m == "soft" {
                    soft_sys[bi].0 += r.kicks + r.waits;
                    soft_sys[bi].1 += r.n;
                }
                let t = run_mode(m, b, dur / 2, u64::MAX, true)?;
                // Each timed call also paid for one clock read.
                let per = |ns: f64, calls: u64| (ns - calls as f64 * clock).max(0.0) / t.n as f64;
                send[mi][bi].push(per(t.send_ns, t.send_calls));
                recv[mi][bi].push(per(t.recv_ns, t.recv_calls));
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (mi, m) in MODES.iter().enumerate() {
        let mut per_batch = serde_json::Map::new();
        for (bi, b) in batches.iter().enumerate() {
            let mut v = json!({
                "rate_median": median(&rates[mi][bi]),
                "rates": rates[mi][bi],
                "send_ns_median": median(&send[mi][bi]),
                "recv_ns_median": median(&recv[mi][bi]),
            });
            if *m == "soft" {
                v["driver_syscalls_per_request"] =
                    json!(soft_sys[bi].0 as f64 / soft_sys[bi].1.max(1) as f64);
            }
            per_batch.insert(b.to_string(), v);
        }
        out.insert(m.to_string(), Value::Object(per_batch));
    }
    let v = json!({
        "secs_per_run": secs,
        "reps": reps,
        "batches": batches,
        "clock_read_ns": clock,
        "modes": out,
    });
    println!("{v}");
    Ok(())
}

/// `wd-bench ring-count`: exactly N requests once (run under `strace -c -f`).
pub fn count(args: &Args) -> BoxResult<()> {
    let mode = args.get(&["--mode"]).unwrap_or_else(|| "soft".into());
    let n: u64 = args.num(&["--requests"], 100_000);
    let batch: usize = args.num(&["--batch"], 32);
    let r = run_mode(&mode, batch, Duration::MAX, n, false)?;
    println!(
        "{}",
        json!({"mode": mode, "requests": r.n, "batch": batch, "rate": r.rate(),
               "kicks": r.kicks, "waits": r.waits})
    );
    Ok(())
}
