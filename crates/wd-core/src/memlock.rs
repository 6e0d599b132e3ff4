//! Locked memory: how much a process's VFIO requests may have pinned, and how wd-core's jobs
//! share it. The one place that decides request sizes and concurrency under the limit.
//!
//! A kernel device pins a request's whole source and destination ranges while it runs
//! (one running request per queue), and VFIO charges the pins to the process's
//! `RLIMIT_MEMLOCK` unless it has `CAP_IPC_LOCK` (docs/abi.md sections 5 and 8). Over the
//! limit the request completes with `MEMLOCK_LIMIT`, which the driver reports as
//! [`Error::MemlockLimit`]. To stay under it, every job of this crate that runs VFIO
//! requests (the whole-stream and one-shot functions of [`crate::zip`]) first takes a
//! [`Reservation`] from the process-wide budget for what its queues can have pinned at
//! once, and sizes its pieces and queue count from what it got. Requests a program builds
//! itself are bounded by the kernel's check alone.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::backend::DeviceKind;
use crate::error::{Error, Result};
use crate::sys::{page_size, round_to_pages};

/// How long a job waits for other jobs of the process to release locked memory before it
/// gives up with [`Error::MemlockLimit`].
pub const WAIT_FOR_BUDGET: Duration = Duration::from_secs(30);

/// Bytes of whole pages spanned by `[addr, addr + len)`: what pinning the range locks.
pub fn pinned_span(addr: u64, len: u64) -> u64 {
    if len == 0 {
        return 0;
    }
    let p = page_size() as u64;
    let first = addr / p;
    let last = (addr + len - 1) / p;
    (last - first + 1) * p
}

/// The most one request reading `input` bytes into a destination buffer asked for with
/// `space` bytes can pin: the input's pages, and the destination's whole capacity, which
/// a domain's buffer cache may hand out at up to twice the size asked for.
pub fn request_pins(input: usize, space: usize) -> u64 {
    let src = if input == 0 { 0 } else { round_to_pages(input) };
    (src + 2 * round_to_pages(space)) as u64
}

/// True if `q`'s device pins request memory (a kernel device through VFIO), so that jobs
/// on it must fit the locked-memory limit; the in-process device pins nothing.
pub fn pins_pages(q: &crate::queue::Queue) -> bool {
    q.kind().pins_pages()
}

/// One request that does not come from a job of this module (the asyncio layer's calls,
/// which it sends on several queues at once) may pin at most this share of the limit.
pub const SINGLE_REQUEST_SHARE: u64 = 4;

/// True if one request reading `input` bytes into a buffer asked for with `space` bytes,
/// on a device of `kind`, may run as it is: the device pins nothing, no
/// limit applies, or it pins at most 1/[`SINGLE_REQUEST_SHARE`] of the limit. Otherwise
/// the caller should use the whole-stream functions, which split the work to fit.
pub fn single_request_fits(kind: DeviceKind, input: usize, space: usize) -> bool {
    if !kind.pins_pages() {
        return true;
    }
    match crate::sys::memlock_limit() {
        None => true,
        Some(l) => request_pins(input, space) <= l / SINGLE_REQUEST_SHARE,
    }
}

/// The error for a request (or job) that needs `needed` bytes pinned under the current
/// limit.
pub fn limit_error(needed: Option<u64>) -> Error {
    Error::MemlockLimit {
        needed,
        limit: crate::sys::memlock_limit(),
    }
}

/// Formats a byte count as `N bytes (X.Y MiB)`.
fn amount(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{b} bytes ({:.1} MiB)", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{b} bytes ({} KiB)", b.div_ceil(1024))
    }
}

/// The text of [`Error::MemlockLimit`]: what was refused, the numbers, and how to raise
/// the limit.
pub fn describe(needed: Option<u64>, limit: Option<u64>) -> String {
    let need = match needed {
        Some(n) => format!("needs {} of pinned memory", amount(n)),
        None => "needs more pinned memory than is left".into(),
    };
    let lim = match limit {
        Some(l) => format!("RLIMIT_MEMLOCK is {}", amount(l)),
        None => "RLIMIT_MEMLOCK is unlimited now".into(),
    };
    format!(
        "locked-memory limit reached: the request {need}, {lim}; raise it with `ulimit -l` \
         (in KiB), `memlock` in /etc/security/limits.conf or systemd's LimitMEMLOCK=, or give \
         the process CAP_IPC_LOCK"
    )
}

struct Budget {
    reserved: Mutex<u64>,
    freed: Condvar,
}

static BUDGET: Budget = Budget {
    reserved: Mutex::new(0),
    freed: Condvar::new(),
};

/// Locked memory a job holds from the process's budget; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    bytes: u64,
}

impl Reservation {
    /// A reservation that holds nothing (no limit applies).
    pub fn none() -> Reservation {
        Reservation { bytes: 0 }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut r = BUDGET.reserved.lock().unwrap_or_else(|e| e.into_inner());
        *r -= self.bytes;
        BUDGET.freed.notify_all();
    }
}

/// Bytes the process's jobs hold now (for tests and diagnostics).
pub fn reserved() -> u64 {
    *BUDGET.reserved.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reserves locked memory for a job under the process's limit. `plan` gets the bytes
/// available and returns the job's plan and its cost (at most what is available), or
/// `None` if nothing fits; `smallest` is the cost of the smallest plan, for the error.
/// With no limit, `plan(u64::MAX)` is used and nothing is held. When nothing fits while
/// other jobs hold memory, waits for them (up to [`WAIT_FOR_BUDGET`]); when nothing fits
/// under the limit itself, fails at once with [`Error::MemlockLimit`].
pub fn reserve<T>(
    smallest: u64,
    plan: impl Fn(u64) -> Option<(T, u64)>,
) -> Result<(T, Reservation)> {
    let Some(limit) = crate::sys::memlock_limit() else {
        let (t, _) = plan(u64::MAX).ok_or_else(|| limit_error(Some(smallest)))?;
        return Ok((t, Reservation::none()));
    };
    let deadline = Instant::now() + WAIT_FOR_BUDGET;
    let mut r = BUDGET.reserved.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let avail = limit.saturating_sub(*r);
        if let Some((t, cost)) = plan(avail) {
            let cost = cost.min(avail);
            *r += cost;
            return Ok((t, Reservation { bytes: cost }));
        }
        let now = Instant::now();
        if *r == 0 || smallest > limit || now >= deadline {
            return Err(limit_error(Some(smallest)));
        }
        r = BUDGET
            .freed
            .wait_timeout(r, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The pieces of a compression job on VFIO queues: how many queues, and how big a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressPlan {
    /// Queues to spread pieces over.
    pub queues: usize,
    /// Bytes per piece.
    pub chunk: usize,
}

/// What `queues` queues running pieces of `chunk` bytes can have pinned at once.
pub fn compress_cost(queues: usize, chunk: usize) -> u64 {
    queues as u64 * request_pins(chunk, crate::zip::compress_bound(chunk))
}

/// The smallest piece a job falls back to.
pub const MIN_CHUNK: usize = 4096;
/// Pieces are not made smaller than this before the queue count is cut.
const PREFERRED_MIN_CHUNK: usize = 256 << 10;

/// The best compression plan within `avail` bytes of locked memory: the asked-for queues
/// and piece size if they fit; else smaller pieces (down to 256 KiB); else fewer queues;
/// else, on one queue, pieces down to 4 KiB. `None` if not even that fits.
pub fn plan_compress(want: CompressPlan, avail: u64) -> Option<(CompressPlan, u64)> {
    let fits = |p: CompressPlan| compress_cost(p.queues, p.chunk) <= avail;
    let mut p = CompressPlan {
        queues: want.queues.max(1),
        chunk: want.chunk.max(MIN_CHUNK),
    };
    while !fits(p) && p.chunk / 2 >= PREFERRED_MIN_CHUNK {
        p.chunk /= 2;
    }
    while !fits(p) && p.queues > 1 {
        p.queues -= 1;
    }
    while !fits(p) && p.chunk / 2 >= MIN_CHUNK {
        p.chunk /= 2;
    }
    fits(p).then(|| (p, compress_cost(p.queues, p.chunk)))
}

/// Reserves locked memory for a compression job on VFIO queues (see [`plan_compress`]).
pub fn reserve_compress(want: CompressPlan) -> Result<(CompressPlan, Reservation)> {
    reserve(compress_cost(1, MIN_CHUNK), |avail| {
        plan_compress(want, avail)
    })
}

/// Input and output buffer sizes of a decompression job on a VFIO queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InflatePlan {
    /// Input buffer bytes.
    pub input: usize,
    /// Output buffer bytes.
    pub output: usize,
}

/// The largest decompression buffers, at most `want`, within `avail`: the output halves
/// first (down to the input's size), then both, down to 4 KiB each.
pub fn plan_inflate(want: InflatePlan, avail: u64) -> Option<(InflatePlan, u64)> {
    let cost = |p: InflatePlan| request_pins(p.input, p.output);
    let mut p = want;
    while cost(p) > avail && p.output / 2 >= p.input.max(MIN_CHUNK) {
        p.output /= 2;
    }
    while cost(p) > avail && p.input / 2 >= MIN_CHUNK {
        p.input /= 2;
        p.output = (p.output / 2).max(MIN_CHUNK);
    }
    (cost(p) <= avail).then(|| (p, cost(p)))
}

/// Reserves locked memory for a decompression job on a VFIO queue (see [`plan_inflate`]).
pub fn reserve_inflate(want: InflatePlan) -> Result<(InflatePlan, Reservation)> {
    reserve(request_pins(MIN_CHUNK, MIN_CHUNK), |avail| {
        plan_inflate(want, avail)
    })
}

/// Reserves what one request reading `input` bytes into `space` bytes can pin, with the
/// output space cut down to what fits (at least `min_space`). Returns the space granted.
pub fn reserve_request(
    input: usize,
    space: usize,
    min_space: usize,
) -> Result<(usize, Reservation)> {
    let min_space = min_space.min(space);
    reserve(request_pins(input, min_space), |avail| {
        let mut s = space;
        while request_pins(input, s) > avail && s / 2 >= min_space.max(1) {
            s /= 2;
        }
        if request_pins(input, s) > avail {
            s = min_space;
        }
        let c = request_pins(input, s);
        (c <= avail).then_some((s, c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn spans_count_whole_pages() {
        let p = page_size() as u64;
        assert_eq!(pinned_span(0, 0), 0);
        assert_eq!(pinned_span(0, 1), p);
        assert_eq!(pinned_span(p - 1, 2), 2 * p);
        assert_eq!(pinned_span(p, p), p);
        assert_eq!(request_pins(1 << 20, 4096), MIB + 2 * p);
    }

    #[test]
    fn four_queues_of_one_mib_pieces_do_not_fit_eight_mib_and_the_plan_shrinks() {
        let want = CompressPlan {
            queues: 4,
            chunk: 1 << 20,
        };
        assert!(compress_cost(4, 1 << 20) > 8 * MIB);
        let (p, cost) = plan_compress(want, 8 * MIB).unwrap();
        assert!(cost <= 8 * MIB);
        // Pieces are halved before queues are cut.
        assert_eq!(p.queues, 4);
        assert_eq!(p.chunk, 512 << 10);
        // Unbounded: as asked.
        assert_eq!(plan_compress(want, u64::MAX).unwrap().0, want);
        // Tight: one queue, small pieces.
        let (p, cost) = plan_compress(want, 200 << 10).unwrap();
        assert!(cost <= 200 << 10);
        assert_eq!(p.queues, 1);
        assert!(p.chunk >= MIN_CHUNK && p.chunk < 256 << 10);
        // Less than the smallest request: nothing.
        assert!(plan_compress(want, compress_cost(1, MIN_CHUNK) - 1).is_none());
    }

    #[test]
    fn inflate_buffers_shrink_to_fit() {
        let want = InflatePlan {
            input: 1 << 20,
            output: 4 << 20,
        };
        assert_eq!(plan_inflate(want, u64::MAX).unwrap().0, want);
        let (p, cost) = plan_inflate(want, 8 * MIB).unwrap();
        assert!(cost <= 8 * MIB);
        assert_eq!(
            p,
            InflatePlan {
                input: 1 << 20,
                output: 2 << 20
            }
        );
        let (p, _) = plan_inflate(want, 64 << 10).unwrap();
        assert!(p.input >= MIN_CHUNK && p.output >= MIN_CHUNK);
        assert!(plan_inflate(want, 4096).is_none());
    }

    #[test]
    fn the_message_names_the_limit_the_amounts_and_the_fixes() {
        let m = describe(Some(10 * MIB), Some(8 * MIB));
        for want in [
            "RLIMIT_MEMLOCK",
            "10485760 bytes (10.0 MiB)",
            "8388608 bytes (8.0 MiB)",
            "ulimit -l",
            "limits.conf",
            "LimitMEMLOCK=",
            "CAP_IPC_LOCK",
        ] {
            assert!(m.contains(want), "{want:?} missing from {m}");
        }
        assert!(!m.to_lowercase().contains("dma fault"));
        let e = Error::MemlockLimit {
            needed: Some(3 * 4096),
            limit: Some(4096),
        };
        assert!(e.to_string().contains("12288 bytes (12 KiB)"), "{e}");
    }
}
