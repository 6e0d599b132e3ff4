//! Measures the ring itself: NOP round trips per second through the soft device at
//! batch 1 and batch 32, with the system calls the driver made (kicks and waits).
//!
//! ```text
//! cargo run --release --example ring_nop [-- SECONDS_PER_RUN]
//! cargo run --release --example ring_nop -- --requests N [--batch B]
//! ```
//! The first form prints the median of 5 runs for each batch size, and their ratio. The
//! second sends exactly N NOPs (batch B, default 32) once and prints what the driver
//! counted: run it under `strace -c -f` at two values of N and divide the difference in
//! system calls by the difference in N to get system calls per request.

use std::time::{Duration, Instant};

use wd_core::{open_queue, Direction, Request};

/// Runs NOP round trips in batches until `dur` passes or `limit` requests are done.
fn run(batch: usize, dur: Duration, limit: u64) -> (f64, u64, u64, u64) {
    let mut q = open_queue(Direction::Compress).expect("open a queue");
    let mut reqs = Vec::with_capacity(batch);
    let mut done = Vec::with_capacity(batch);
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < dur && n < limit {
        for _ in 0..(limit - n).div_ceil(batch as u64).min(1000) {
            reqs.extend((0..batch).map(|_| Request::nop()));
            while !reqs.is_empty() {
                q.send_batch(&mut reqs).expect("send");
            }
            let mut got = 0;
            while got < batch {
                done.clear();
                got += q.recv_many(&mut done, batch).expect("recv");
                if got < batch && done.is_empty() {
                    std::hint::spin_loop();
                }
            }
            n += batch as u64;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let st = q.stats();
    (n as f64 / secs, n, st.wakeups, st.waits)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(limit) = flag("--requests") {
        let batch = flag("--batch").unwrap_or(32) as usize;
        let (rate, n, kicks, waits) = run(batch, Duration::MAX, limit);
        println!(
            "{n} NOPs at batch {batch} on {}: {rate:.0} requests/s, driver counted {kicks} kicks and {waits} waits",
            wd_core::default_device()
        );
        return;
    }
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let dur = Duration::from_secs_f64(secs);
    println!("NOP round trips through the soft device ring (median of 5 runs of {secs} s)");
    let mut rates = Vec::new();
    for batch in [1usize, 32] {
        let mut r = Vec::new();
        let (mut reqs, mut syscalls) = (0u64, 0u64);
        for _ in 0..5 {
            let (rate, n, kicks, waits) = run(batch, dur, u64::MAX);
            r.push(rate);
            reqs += n;
            syscalls += kicks + waits;
        }
        let m = median(r);
        rates.push(m);
        println!(
            "batch {batch:>2}: {:>12.0} requests/s   {:>7.1} ns/request   driver system calls per request: {:.6}",
            m,
            1e9 / m,
            syscalls as f64 / reqs as f64
        );
    }
    println!("batch 32 / batch 1: {:.2}x", rates[1] / rates[0]);
}
