//! The blocking `recv`: the core's wait loop run without the GIL, with the queue's lock
//! taken only for each short driver call and signals checked after each sleep.

use std::time::Duration;

use pyo3::prelude::*;
use wd_core::wait::Waiter;
use wd_core::{Completion, Queue};

use super::PyQueue;
use crate::domain::generation;

/// Longest sleep of a blocking `recv` between checks for signals.
pub(super) const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A blocking `recv` as the core's [`Waiter`]: it runs without the GIL, takes the queue's
/// lock only for each short driver call (never while sleeping), and checks for signals,
/// with the GIL, after each sleep.
pub(super) struct Blocking<'a>(pub(super) &'a PyQueue);

/// Why a blocking `recv` ended without a completion.
pub(super) enum Stop {
    /// The driver's error (a timeout among them).
    Core(wd_core::Error),
    /// The exception a signal handler raised.
    Signal(PyErr),
}

impl From<wd_core::Error> for Stop {
    fn from(e: wd_core::Error) -> Stop {
        Stop::Core(e)
    }
}

impl Blocking<'_> {
    /// Runs `f` on the open queue, under its lock.
    fn locked<R>(&self, f: impl FnOnce(&mut Queue) -> wd_core::Result<R>) -> Result<R, Stop> {
        if self.0.gen != generation() {
            return Err(Stop::Core(wd_core::Error::Forked));
        }
        let mut g = self.0.inner.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_mut() {
            Some(q) => Ok(f(q)?),
            None => Err(Stop::Core(wd_core::Error::Closed)),
        }
    }
}

impl Waiter for Blocking<'_> {
    type Ready = Completion;
    type Error = Stop;

    fn poll(&mut self) -> Result<Option<Completion>, Stop> {
        self.locked(|q| q.recv_in_flight())
    }

    fn arm(&mut self) -> Result<bool, Stop> {
        self.locked(|q| q.arm_interrupt())
    }

    fn sleep(&mut self, timeout: Duration) -> Result<(), Stop> {
        wd_core::wait::readable(&[self.0.fd], Some(timeout))?;
        self.locked(|q| {
            q.clear_readiness();
            Ok(())
        })
    }

    fn after_sleep(&mut self) -> Result<(), Stop> {
        Python::attach(|py| py.check_signals()).map_err(Stop::Signal)
    }
}
