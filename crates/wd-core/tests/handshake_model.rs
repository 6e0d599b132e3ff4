//! Every interleaving of the two sleep/wake handshakes between the ring driver and a
//! software device, checked exhaustively: no run ends with a side asleep that nobody will
//! wake (a lost wake-up).
//!
//! - SQ side (`Queue::ring_sq_doorbell`, `DeviceThread::run`): the driver stores the SQ
//!   doorbell, then reads the idle flag and kicks a device that said it sleeps (taking the
//!   flag); the device consumes the CQ doorbell, stores the idle flag, re-reads the
//!   doorbell and sleeps only if nothing new came.
//! - CQ side (`Queue::recv_timeout`, `arm`, `DeviceThread::interrupt_if_armed`): the driver
//!   arms the interrupt on the CQ doorbell, re-checks the CQ and sleeps only if nothing
//!   came; the device posts a completion, then takes the CQ doorbell and signals if armed.
//!   A plain CQ doorbell (the new head after receiving) disarms.
//!
//! Those accesses are sequentially consistent in the code (SeqCst stores, loads, exchanges
//! and fences), so every execution is an interleaving of them: each step below is one of
//! those accesses. Wake-ups are tokens, as `unpark` and an eventfd are: one sent to a side
//! that is awake makes its next sleep return at once. The devices' timed sleeps (200 ms) and
//! the driver's sliced waits are left out: correctness must not rest on them.
//!
//! The same explorer runs deliberately broken variants, which must deadlock, so the check is
//! known to be able to fail.

use std::collections::HashSet;

/// The CQ doorbell register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum CqDoorbell {
    /// Taken by the device ("no command").
    Empty,
    /// A new head, no interrupt wanted.
    Head,
    /// Interrupt wanted.
    Arm,
}

/// Where each side is in its program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Dev {
    /// Read the SQ doorbell.
    Look,
    /// Serve one request and post its completion.
    Serve,
    /// After a completion: take the CQ doorbell, signal if armed.
    TakeAfterPost,
    /// Idle: take the CQ doorbell.
    TakeIdle,
    /// Store idle = 1.
    SayIdle,
    /// Re-read the SQ doorbell.
    Recheck,
    /// Sleep until kicked.
    Sleep,
    /// Store idle = 0.
    Wake,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Drv {
    /// Send the next request if allowed (store the SQ doorbell), else receive.
    Send,
    /// Read the idle flag after the doorbell.
    ReadIdle,
    /// Take the idle flag (exchange with 0) and kick if it was set.
    Kick,
    /// Look at the CQ.
    Look,
    /// Tell the device the new head (plain CQ doorbell).
    NewHead,
    /// Arm the interrupt.
    Arm,
    /// Re-check the CQ after arming.
    Recheck,
    /// Sleep until the interrupt.
    Sleep,
    Done,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct State {
    // Shared memory.
    db_sq: u8,
    idle: bool,
    db_cq: CqDoorbell,
    posted: u8,
    // Wake-up tokens.
    dev_token: bool,
    drv_token: bool,
    // Device.
    dev: Dev,
    head: u8,
    armed: bool,
    // Driver.
    drv: Drv,
    sent: u8,
    seen: u8,
}

/// Which variant of the protocol to explore.
#[derive(Clone, Copy, Default)]
struct Breakage {
    /// The device re-reads the doorbell before it says it is idle.
    device_rechecks_first: bool,
    /// The driver reads the idle flag before it rings the doorbell.
    driver_reads_idle_first: bool,
    /// The driver sleeps after arming without re-checking the CQ.
    no_recheck_after_arm: bool,
    /// The device takes the CQ doorbell before it posts the completion.
    device_takes_before_post: bool,
}

struct Model {
    total: u8,
    in_flight: u8,
    broken: Breakage,
}

impl Model {
    fn start(&self) -> State {
        State {
            db_sq: 0,
            idle: false,
            db_cq: CqDoorbell::Empty,
            posted: 0,
            dev_token: false,
            drv_token: false,
            dev: Dev::Look,
            head: 0,
            armed: false,
            drv: if self.broken.driver_reads_idle_first {
                Drv::ReadIdle
            } else {
                Drv::Send
            },
            sent: 0,
            seen: 0,
        }
    }

    fn take_cq_doorbell(s: &mut State) {
        match s.db_cq {
            CqDoorbell::Empty => {}
            CqDoorbell::Head => s.armed = false,
            CqDoorbell::Arm => s.armed = true,
        }
        s.db_cq = CqDoorbell::Empty;
    }

    /// The device's next step, if it can move.
    fn dev_step(&self, s: &State) -> Option<State> {
        let mut n = *s;
        match s.dev {
            Dev::Done => return None,
            Dev::Look if s.head == self.total => n.dev = Dev::Done,
            Dev::Look if s.db_sq != s.head => {
                n.dev = Dev::Serve;
            }
            Dev::Look => n.dev = Dev::TakeIdle,
            Dev::Serve => {
                n.head += 1;
                if self.broken.device_takes_before_post {
                    Model::take_cq_doorbell(&mut n);
                    n.dev = Dev::TakeAfterPost;
                } else {
                    n.posted += 1;
                    n.dev = Dev::TakeAfterPost;
                }
            }
            Dev::TakeAfterPost => {
                if self.broken.device_takes_before_post {
                    n.posted += 1;
                } else {
                    Model::take_cq_doorbell(&mut n);
                }
                if n.armed {
                    n.armed = false;
                    n.drv_token = true;
                }
                n.dev = Dev::Look;
            }
            Dev::TakeIdle => {
                Model::take_cq_doorbell(&mut n);
                n.dev = if self.broken.device_rechecks_first {
                    Dev::Recheck
                } else {
                    Dev::SayIdle
                };
            }
            Dev::SayIdle => {
                n.idle = true;
                n.dev = if self.broken.device_rechecks_first {
                    Dev::Sleep
                } else {
                    Dev::Recheck
                };
            }
            Dev::Recheck => {
                let nothing_new = s.db_sq == s.head;
                n.dev = match (self.broken.device_rechecks_first, nothing_new) {
                    (false, true) => Dev::Sleep,
                    (false, false) => Dev::Wake,
                    (true, true) => Dev::SayIdle,
                    (true, false) => Dev::Look,
                };
            }
            Dev::Sleep if s.dev_token => {
                n.dev_token = false;
                n.dev = Dev::Wake;
            }
            Dev::Sleep => return None,
            Dev::Wake => {
                n.idle = false;
                n.dev = Dev::Look;
            }
        }
        Some(n)
    }

    /// The driver's next step, if it can move.
    fn drv_step(&self, s: &State) -> Option<State> {
        let mut n = *s;
        let may_send = s.sent < self.total && s.sent - s.seen < self.in_flight;
        match s.drv {
            Drv::Done => return None,
            Drv::Send if s.seen == self.total => n.drv = Drv::Done,
            Drv::Send if may_send => {
                n.db_sq += 1;
                n.sent += 1;
                n.drv = if self.broken.driver_reads_idle_first {
                    Drv::Look
                } else {
                    Drv::ReadIdle
                };
            }
            Drv::Send => n.drv = Drv::Look,
            Drv::ReadIdle => {
                n.drv = if s.idle {
                    Drv::Kick
                } else if self.broken.driver_reads_idle_first {
                    Drv::Send
                } else {
                    Drv::Look
                };
            }
            Drv::Kick => {
                if s.idle {
                    n.idle = false;
                    n.dev_token = true;
                }
                n.drv = if self.broken.driver_reads_idle_first {
                    Drv::Send
                } else {
                    Drv::Look
                };
            }
            Drv::Look if s.posted > s.seen => {
                n.seen += 1;
                n.drv = Drv::NewHead;
            }
            Drv::Look if may_send || s.seen == s.sent => {
                // Room for another request, or nothing in flight: send (or finish).
                n.drv = if self.broken.driver_reads_idle_first {
                    Drv::ReadIdle
                } else {
                    Drv::Send
                };
            }
            Drv::Look => n.drv = Drv::Arm,
            Drv::NewHead => {
                n.db_cq = CqDoorbell::Head;
                n.drv = if self.broken.driver_reads_idle_first {
                    Drv::ReadIdle
                } else {
                    Drv::Send
                };
            }
            Drv::Arm => {
                n.db_cq = CqDoorbell::Arm;
                n.drv = if self.broken.no_recheck_after_arm {
                    Drv::Sleep
                } else {
                    Drv::Recheck
                };
            }
            Drv::Recheck => {
                n.drv = if s.posted > s.seen {
                    Drv::Look
                } else {
                    Drv::Sleep
                };
            }
            Drv::Sleep if s.drv_token => {
                n.drv_token = false;
                n.drv = Drv::Look;
            }
            Drv::Sleep => return None,
        }
        Some(n)
    }

    /// Explores every reachable state; returns how many there are and the first one where
    /// nothing can move before both sides are done.
    fn explore(&self) -> (usize, Option<State>) {
        let mut seen = HashSet::new();
        let mut todo = vec![self.start()];
        let mut stuck = None;
        while let Some(s) = todo.pop() {
            if !seen.insert(s) {
                continue;
            }
            let next: Vec<State> = [self.dev_step(&s), self.drv_step(&s)]
                .into_iter()
                .flatten()
                .collect();
            if next.is_empty() && !(s.dev == Dev::Done && s.drv == Drv::Done) {
                stuck.get_or_insert(s);
            }
            todo.extend(next);
        }
        (seen.len(), stuck)
    }
}

fn check(total: u8, in_flight: u8, broken: Breakage) -> (usize, Option<State>) {
    Model {
        total,
        in_flight,
        broken,
    }
    .explore()
}

#[test]
fn no_lost_wake_up_in_any_interleaving() {
    for in_flight in 1..=3 {
        let (states, stuck) = check(4, in_flight, Breakage::default());
        assert!(stuck.is_none(), "lost wake-up: {stuck:?}");
        assert!(states > 100, "the model explored only {states} states");
    }
}

#[test]
fn the_explorer_finds_each_broken_variant() {
    let variants = [
        Breakage {
            device_rechecks_first: true,
            ..Default::default()
        },
        Breakage {
            driver_reads_idle_first: true,
            ..Default::default()
        },
        Breakage {
            no_recheck_after_arm: true,
            ..Default::default()
        },
        Breakage {
            device_takes_before_post: true,
            ..Default::default()
        },
    ];
    for (i, b) in variants.into_iter().enumerate() {
        let (_, stuck) = check(2, 1, b);
        assert!(stuck.is_some(), "variant {i} should lose a wake-up");
    }
}
