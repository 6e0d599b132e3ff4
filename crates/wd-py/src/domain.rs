//! Where queues and buffers come from, and what a fork child may touch.
//!
//! The parent process uses the core's process-wide soft domain. A fork child must not: the
//! parent's device threads do not exist in the child, and one of them may have held the
//! domain's registry lock at the moment of the fork, which would leave it locked forever.
//! So each fork generation gets a fresh domain of its own, and objects made in an older
//! generation are left untouched (leaked) by the child.

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use wd_core::dma::Domain;
use wd_core::{Direction, Queue};

/// The current fork generation (0 in the process that imported the module, different in
/// every fork child).
pub fn generation() -> u64 {
    wd_core::sys::fork_generation()
}

/// `fork_generation() -> int`: changes in a child after every fork.
#[pyfunction]
pub fn fork_generation() -> u64 {
    generation()
}

/// Domain of each fork generation but the first. Locked only with the GIL held, so no
/// other Python thread can be inside it when Python forks.
static CHILD_DOMAIN: Mutex<Option<(u64, Arc<Domain>)>> = Mutex::new(None);

/// The soft-device address space of this process (see the module documentation).
pub fn soft_domain(_py: Python<'_>) -> Arc<Domain> {
    let g = generation();
    if g == 0 {
        return wd_core::soft_domain();
    }
    let mut slot = CHILD_DOMAIN.lock().unwrap_or_else(|p| p.into_inner());
    match &*slot {
        Some((sg, d)) if *sg == g => d.clone(),
        _ => {
            let d = Domain::soft();
            // The old generation's domain may be locked by a thread that does not exist
            // here; never drop it.
            if let Some(old) = slot.replace((g, d.clone())) {
                std::mem::forget(old);
            }
            d
        }
    }
}

/// Opens a soft-device queue in `domain`.
pub fn open_in(domain: &Arc<Domain>, dir: Direction) -> wd_core::Result<Queue> {
    Queue::open_soft_with(domain.clone(), dir, Default::default())
}

/// Parses `"compress"` / `"decompress"`.
pub fn parse_direction(py: Python<'_>, s: &str) -> PyResult<Direction> {
    match s {
        "compress" => Ok(Direction::Compress),
        "decompress" => Ok(Direction::Decompress),
        _ => Err(crate::errors::bad_request(
            py,
            format!("direction must be 'compress' or 'decompress', not {s:?}"),
        )),
    }
}

/// The name of a direction.
pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Compress => "compress",
        Direction::Decompress => "decompress",
    }
}
