//! Waiting for devices, in one place: [`until`] is the loop every blocking receive runs
//! (one queue's [`crate::Queue::recv_timeout`], several queues' in the whole-stream
//! functions, and the Python binding's `Queue.recv`), and [`readable`] the one call that
//! sleeps until a queue's interrupt fires.
//!
//! The loop looks for what is ready, polls for a budget, then arms the interrupt and
//! sleeps in slices up to a deadline; after each sleep a hook may end the wait (the binding
//! checks Python's signals there). What differs between the callers is said by a
//! [`Waiter`] (what to look at, arm and sleep on) and a [`Policy`] (how long to poll and
//! sleep); the asyncio layer waits in its event loop instead.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Sleeps until one of `fds` (queues' readiness or interrupt fds) is readable or `timeout`
/// passes (`None`: no limit); returns the indices of the readable ones (empty on timeout).
/// A signal does not end the wait early.
pub fn readable(fds: &[RawFd], timeout: Option<Duration>) -> Result<Vec<usize>> {
    crate::sys::poll_readable(fds, timeout)
        .map_err(|e| Error::io("waiting for the device interrupt", e))
}

/// What [`until`] waits on: one queue, several, or a queue behind a lock.
pub trait Waiter {
    /// What a finished wait hands back.
    type Ready;
    /// The error of a failed wait; [`Error::Timeout`] comes through `From`.
    type Error: From<Error>;

    /// Takes what is ready without blocking (`None`: nothing yet). An error if nothing can
    /// come (nothing in flight).
    fn poll(&mut self) -> std::result::Result<Option<Self::Ready>, Self::Error>;

    /// Arms the interrupt(s) before a sleep; `false` if something is ready already (then
    /// [`Waiter::poll`] comes next instead of a sleep).
    fn arm(&mut self) -> std::result::Result<bool, Self::Error>;

    /// Sleeps until an armed interrupt fires or `timeout` passes (returning early is
    /// allowed), then checks that the device(s) can still answer.
    fn sleep(&mut self, timeout: Duration) -> std::result::Result<(), Self::Error>;

    /// Called after every sleep; an error ends the wait (the binding's signal check).
    fn after_sleep(&mut self) -> std::result::Result<(), Self::Error> {
        Ok(())
    }
}

/// How [`until`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// How long to poll before the first sleep (zero: sleep at once).
    pub budget: Duration,
    /// A first sleep of this length before any polling, for work that is expected to
    /// take long: the interrupt still ends it early, then polling takes over.
    pub nap: Option<Duration>,
    /// The longest single sleep: how often the device is checked and the hook called.
    pub slice: Duration,
    /// When the wait fails with [`Error::Timeout`] (`None`: never).
    pub deadline: Option<Instant>,
}

/// Polls between two readings of the clock: a poll is cheaper than reading it.
const POLLS_PER_CLOCK: u32 = 64;

/// Waits for `w` as `p` says: polls, and once the budget is spent sleeps in slices on the
/// interrupt, until `w` has something ready, the deadline passes ([`Error::Timeout`]) or
/// `w` fails (its hook included).
pub fn until<W: Waiter>(w: &mut W, p: &Policy) -> std::result::Result<W::Ready, W::Error> {
    let mut nap = p.nap;
    let mut polling_since = Instant::now();
    let mut polls = 0u32;
    loop {
        if let Some(r) = w.poll()? {
            return Ok(r);
        }
        polls = polls.wrapping_add(1);
        let polling = nap.is_none() && !p.budget.is_zero();
        if polling && polls % POLLS_PER_CLOCK != 0 {
            std::hint::spin_loop();
            continue;
        }
        let now = Instant::now();
        let left = match p.deadline {
            Some(d) if now >= d => return Err(Error::Timeout.into()),
            Some(d) => Some(d - now),
            None => None,
        };
        let napping = nap.is_some();
        let sleep = match nap.take() {
            Some(n) => n,
            None if now.duration_since(polling_since) < p.budget => {
                std::hint::spin_loop();
                continue;
            }
            None => p.slice,
        };
        if w.arm()? {
            w.sleep(left.map_or(sleep, |l| l.min(sleep)))?;
            w.after_sleep()?;
        }
        if napping {
            // The nap covered most of the work: poll for its end.
            polling_since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A waiter that is ready at its `ready_at`-th poll, records what it was asked, and
    /// whose hook fails at its `fail_hook_at`-th call.
    #[derive(Default)]
    struct Scripted {
        polls: usize,
        ready_at: Option<usize>,
        /// Answers of `arm`, in order (then `true`).
        arms: Vec<bool>,
        sleeps: Vec<Duration>,
        hooks: usize,
        fail_hook_at: Option<usize>,
    }

    impl Waiter for Scripted {
        type Ready = usize;
        type Error = Error;

        fn poll(&mut self) -> Result<Option<usize>> {
            self.polls += 1;
            Ok((Some(self.polls) == self.ready_at).then_some(self.polls))
        }

        fn arm(&mut self) -> Result<bool> {
            Ok(if self.arms.is_empty() {
                true
            } else {
                self.arms.remove(0)
            })
        }

        fn sleep(&mut self, timeout: Duration) -> Result<()> {
            self.sleeps.push(timeout);
            Ok(())
        }

        fn after_sleep(&mut self) -> Result<()> {
            self.hooks += 1;
            match self.fail_hook_at {
                Some(n) if n == self.hooks => Err(Error::Closed),
                _ => Ok(()),
            }
        }
    }

    fn policy() -> Policy {
        Policy {
            budget: Duration::ZERO,
            nap: None,
            slice: Duration::from_secs(1),
            deadline: None,
        }
    }

    #[test]
    fn a_passed_deadline_is_a_timeout_without_a_sleep() {
        let mut w = Scripted::default();
        let p = Policy {
            deadline: Some(Instant::now()),
            ..policy()
        };
        assert!(matches!(until(&mut w, &p), Err(Error::Timeout)));
        assert_eq!((w.polls, w.sleeps.len()), (1, 0));
    }

    #[test]
    fn the_nap_comes_first_then_slices_until_ready() {
        let nap = Duration::from_millis(7);
        let mut w = Scripted {
            ready_at: Some(4),
            ..Default::default()
        };
        let p = Policy {
            nap: Some(nap),
            ..policy()
        };
        assert_eq!(until(&mut w, &p).unwrap(), 4);
        assert_eq!(w.sleeps, vec![nap, p.slice, p.slice]);
        assert_eq!(w.hooks, 3);
    }

    #[test]
    fn something_ready_at_arming_is_polled_without_sleeping() {
        let mut w = Scripted {
            ready_at: Some(3),
            arms: vec![false, false],
            ..Default::default()
        };
        assert_eq!(until(&mut w, &policy()).unwrap(), 3);
        assert!(w.sleeps.is_empty());
        assert_eq!(w.hooks, 0);
    }

    #[test]
    fn the_hook_ends_the_wait_with_its_error() {
        let mut w = Scripted {
            fail_hook_at: Some(3),
            ..Default::default()
        };
        assert!(matches!(until(&mut w, &policy()), Err(Error::Closed)));
        assert_eq!(w.sleeps.len(), 3);
    }

    #[test]
    fn no_sleep_goes_past_the_deadline() {
        let mut w = Scripted {
            fail_hook_at: Some(1),
            ..Default::default()
        };
        let start = Instant::now();
        let p = Policy {
            slice: Duration::from_secs(3600),
            deadline: Some(start + Duration::from_secs(60)),
            ..policy()
        };
        assert!(until(&mut w, &p).is_err());
        assert_eq!(w.sleeps.len(), 1);
        assert!(w.sleeps[0] <= Duration::from_secs(60), "{:?}", w.sleeps);
    }

    #[test]
    fn polling_spends_the_budget_before_the_first_sleep() {
        // Ready long before a whole hour of budget: no sleep at all.
        let mut w = Scripted {
            ready_at: Some(1000),
            ..Default::default()
        };
        let p = Policy {
            budget: Duration::from_secs(3600),
            ..policy()
        };
        assert_eq!(until(&mut w, &p).unwrap(), 1000);
        assert!(w.sleeps.is_empty());
    }
}
