//! Waiting for devices: the one call that sleeps until a queue's interrupt fires, used by
//! the backends' default wait, the whole-stream functions (several queues at once) and the
//! Python binding's blocking receive (which sleeps in slices to check for signals).
//!
//! The polling policy around it (how long to look at the completion ring before sleeping)
//! is the queue's: [`crate::Queue::recv_timeout`].

use std::os::fd::RawFd;
use std::time::Duration;

use crate::error::{Error, Result};

/// Sleeps until one of `fds` (queues' readiness or interrupt fds) is readable or `timeout`
/// passes (`None`: no limit); returns the indices of the readable ones (empty on timeout).
/// A signal does not end the wait early.
pub fn readable(fds: &[RawFd], timeout: Option<Duration>) -> Result<Vec<usize>> {
    crate::sys::poll_readable(fds, timeout)
        .map_err(|e| Error::io("waiting for the device interrupt", e))
}
