//! Idle queues kept for the whole-stream functions (`zip`), so a small `compress` call does
//! not start a device (a thread, or an mdev) each time. Bounded: a few queues per direction
//! and device kind; a queue comes back only if it is healthy and idle.

use std::sync::{Arc, Mutex};

use crate::abi::Direction;
use crate::backend::DeviceKind;
use crate::error::Result;
use crate::queue::Queue;
use crate::sys::PerProcess;

/// Idle queues kept per (device kind, direction).
const MAX_IDLE: usize = 4;

type Idle = Arc<Mutex<Vec<(DeviceKind, Direction, Queue)>>>;

fn idle() -> Idle {
    static POOL: PerProcess<Idle> = PerProcess::new();
    POOL.get_or_try_init(|| {
        // Statics are never dropped: close idle queues (and remove their mdevs) at exit.
        crate::sys::at_exit(close_idle_at_exit);
        Ok::<_, std::convert::Infallible>(Idle::default())
    })
    .unwrap_or_else(|never| match never {})
}

extern "C" fn close_idle_at_exit() {
    clear();
}

/// A queue of direction `dir` on the process's default device: an idle pooled one, else a
/// newly opened one. Give it back with [`give_back`]. `WARPDRIVE_DEVICE` is read once per
/// call, and a bad value is an error whether or not a queue is idle.
pub fn take(dir: Direction) -> Result<Queue> {
    let choice = crate::DeviceChoice::from_env()?;
    let kind = crate::open::device_for(choice);
    let found = {
        let pool = idle();
        let mut v = pool.lock().expect("pool poisoned");
        // Last in, first out: the most recently used device is the likeliest to be awake.
        v.iter()
            .rposition(|(k, d, _)| *k == kind && *d == dir)
            .map(|i| v.remove(i).2)
    };
    let mut q = match found {
        Some(q) => q,
        None => crate::open_queue_on(choice, dir)?,
    };
    q.set_pooled(true);
    Ok(q)
}

/// Returns a queue taken with [`take`] for reuse; any other queue, or one with requests
/// still in flight, is closed instead.
pub fn give_back(mut q: Queue) -> Result<()> {
    if !q.is_usable() {
        // Broken by its device, closed, or inherited across fork: there is nothing to wait
        // for. Dropping it stops its device (a fork child's drop touches nothing).
        drop(q);
        return Ok(());
    }
    if !q.is_pooled() || q.outstanding() > 0 {
        q.close()?;
        return Ok(());
    }
    let kind = q.kind();
    let pool = idle();
    let mut v = pool.lock().expect("pool poisoned");
    let same = v
        .iter()
        .filter(|(k, d, _)| *k == kind && *d == q.direction())
        .count();
    if same < MAX_IDLE {
        q.end_streams();
        v.push((kind, q.direction(), q));
        return Ok(());
    }
    drop(v);
    q.close()?;
    Ok(())
}

/// Closes every idle queue (their devices stop, their mdevs go).
pub fn clear() {
    let pool = idle();
    let queues: Vec<_> = std::mem::take(&mut *pool.lock().expect("pool poisoned"));
    drop(queues);
}
