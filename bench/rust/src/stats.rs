//! Small helpers: medians and the cost of reading the clock.

use std::time::Instant;

/// The median of `v` (the mean of the two middle values for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Nanoseconds one `Instant::now()` costs (median of a few trials), to subtract from
/// timings of short calls.
pub fn clock_cost_ns() -> f64 {
    let mut trials = Vec::new();
    for _ in 0..7 {
        let n = 100_000;
        let t = Instant::now();
        let mut sink = t;
        for _ in 0..n {
            sink = std::hint::black_box(Instant::now());
        }
        let _ = sink;
        trials.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    median(&trials)
}
