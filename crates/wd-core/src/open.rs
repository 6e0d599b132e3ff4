//! Opening a queue: which device kinds exist, how a choice picks one, and the one table
//! that names every backend.
//!
//! A backend is a module under `backend/` that implements [`crate::backend::Backend`] and
//! offers three functions: `present(dir) -> bool` (a cheap look, nothing opened),
//! `open_queue(dir, &QueueOptions) -> Result<Queue>` and `list() -> Vec<DeviceEntry>` (what
//! the device listing shows of it). Adding one is that file, a [`DeviceKind`] variant, and
//! one line in [`HARDWARE`] (its place there is its preference under
//! [`DeviceChoice::Auto`] and in [`list_devices`]). [`DeviceChoice`] follows from
//! [`DeviceKind`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::abi::Direction;
use crate::backend::{self, DeviceKind};
use crate::error::{Error, Result};
use crate::queue::Queue;
use crate::sysfs::DeviceEntry;

/// How one backend is found and opened.
struct Entry {
    kind: DeviceKind,
    /// True if a queue of this direction can likely be opened now (nothing is opened).
    present: fn(Direction) -> bool,
    /// Opens a queue.
    open: fn(Direction, &QueueOptions) -> Result<Queue>,
    /// Its devices as the listing shows them, usable or not (nothing is opened).
    list: fn() -> Vec<DeviceEntry>,
}

/// Device backends outside the process, in order of preference for [`DeviceChoice::Auto`].
const HARDWARE: &[Entry] = &[
    Entry {
        kind: DeviceKind::Uacce,
        present: backend::uacce::present,
        open: backend::uacce::open_queue,
        list: backend::uacce::list,
    },
    Entry {
        kind: DeviceKind::Vfio,
        present: backend::vfio::present,
        open: backend::vfio::open_queue,
        list: backend::vfio::list,
    },
];

/// The in-process device: always there when built (the cargo feature `soft`), the last
/// resort of [`DeviceChoice::Auto`]. Without it, opening it is [`Error::NoDevice`]. The
/// listing leaves it out: it has no device to read (the Python package adds its own line).
const SOFT: Entry = Entry {
    kind: DeviceKind::Soft,
    present: |_| backend::soft::BUILT,
    open: backend::soft::open_queue,
    list: Vec::new,
};

fn entry(kind: DeviceKind) -> &'static Entry {
    HARDWARE.iter().find(|e| e.kind == kind).unwrap_or(&SOFT)
}

/// How long a backend's `present` answer is taken as known. Small one-shot calls choose
/// their device every time; a look at sysfs is several system calls.
const PRESENCE_TTL: Duration = Duration::from_secs(1);

/// The last answers of each hardware backend's `present`, per direction, and when each was
/// looked up.
struct Presence {
    seen: Mutex<Vec<(DeviceKind, Direction, Instant, bool)>>,
    #[cfg(test)]
    looks: std::sync::atomic::AtomicUsize,
}

impl Presence {
    const fn new() -> Self {
        Presence {
            seen: Mutex::new(Vec::new()),
            #[cfg(test)]
            looks: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// `e.present(dir)`, remembered for [`PRESENCE_TTL`] from `now`.
    fn get(&self, e: &Entry, dir: Direction, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = |t: Instant| {
            now.checked_duration_since(t)
                .is_some_and(|d| d < PRESENCE_TTL)
        };
        if let Some(&(_, _, t, v)) = seen.iter().find(|s| s.0 == e.kind && s.1 == dir) {
            if fresh(t) {
                return v;
            }
        }
        #[cfg(test)]
        self.looks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let v = (e.present)(dir);
        seen.retain(|s| !(s.0 == e.kind && s.1 == dir));
        seen.push((e.kind, dir, now, v));
        v
    }
}

static PRESENCE: Presence = Presence::new();

/// Whether `e` can likely give a queue of direction `dir` now (cached, see [`Presence`]).
fn present(e: &Entry, dir: Direction) -> bool {
    PRESENCE.get(e, dir, Instant::now())
}

/// The process's soft-device address space: every soft queue opened through
/// [`open_queue`] shares it, as all of a process's VFIO queues share one container.
pub fn soft_domain() -> Arc<crate::dma::Domain> {
    backend::soft::process_domain()
}

/// Which device a queue should come from: [`DeviceChoice::Auto`], or one [`DeviceKind`]
/// (`DeviceChoice::from(DeviceKind::Soft)`).
///
/// Spelled `auto`, or a kind's name (`soft`, `vfio`, `uacce`), exactly, as
/// [`std::str::FromStr`] reads and [`std::fmt::Display`] writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeviceChoice {
    /// A uacce device with a free queue, else an sdmdev device through VFIO, else soft.
    #[default]
    Auto,
    /// That kind of device; an error if there is none ([`DeviceKind::Soft`]: the
    /// in-process device, there whenever it is built).
    Only(DeviceKind),
}

impl DeviceChoice {
    /// Every choice, in the order the messages name them: `auto`, then every kind.
    pub const ALL: [DeviceChoice; DeviceKind::ALL.len() + 1] = {
        let mut all = [DeviceChoice::Auto; DeviceKind::ALL.len() + 1];
        let mut i = 0;
        while i < DeviceKind::ALL.len() {
            all[i + 1] = DeviceChoice::Only(DeviceKind::ALL[i]);
            i += 1;
        }
        all
    };

    /// The choice's name: `auto`, or the kind's ([`DeviceKind::name`]).
    pub const fn name(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Only(k) => k.name(),
        }
    }

    /// The names, quoted and separated by commas, for messages.
    fn names() -> String {
        let v: Vec<String> = DeviceChoice::ALL.iter().map(|c| format!("'{c}'")).collect();
        v.join(", ")
    }

    /// The one kind this choice insists on; `None` for [`DeviceChoice::Auto`].
    pub const fn kind(self) -> Option<DeviceKind> {
        match self {
            DeviceChoice::Auto => None,
            DeviceChoice::Only(k) => Some(k),
        }
    }

    /// The process default: `WARPDRIVE_DEVICE` (one of [`DeviceChoice::ALL`]'s names),
    /// else `Auto`.
    pub fn from_env() -> Result<DeviceChoice> {
        match std::env::var("WARPDRIVE_DEVICE") {
            Ok(v) => v.parse().map_err(|_| {
                Error::BadRequest(format!(
                    "WARPDRIVE_DEVICE={v:?}: use one of {}",
                    DeviceChoice::names()
                ))
            }),
            Err(_) => Ok(DeviceChoice::Auto),
        }
    }
}

impl From<DeviceKind> for DeviceChoice {
    fn from(k: DeviceKind) -> DeviceChoice {
        DeviceChoice::Only(k)
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = Error;

    /// Reads a choice's name (exactly); anything else is [`Error::BadRequest`].
    fn from_str(s: &str) -> Result<DeviceChoice> {
        DeviceChoice::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "device must be one of {}, not {s:?}",
                    DeviceChoice::names()
                ))
            })
    }
}

/// True if an sdmdev device can give a queue of direction `dir` right now (see
/// [`backend::vfio::present`]; the answer is remembered for a second).
pub fn vfio_present(dir: Direction) -> bool {
    present(entry(DeviceKind::Vfio), dir)
}

/// Every hardware device present, usable or not, in the order [`DeviceChoice::Auto`]
/// prefers their kinds (uacce devices, then sdmdev types), each kind read where the
/// environment says (`WARPDRIVE_UACCE_ROOT`, `WARPDRIVE_SYSFS_ROOT`, else `/sys/class/...`).
/// Nothing is opened; the soft device is not listed.
pub fn list_devices() -> Vec<DeviceEntry> {
    HARDWARE.iter().flat_map(|e| (e.list)()).collect()
}

/// The kind of device [`open_queue`] would use now.
pub fn default_device() -> DeviceKind {
    device_for(DeviceChoice::from_env().unwrap_or(DeviceChoice::Auto))
}

/// The kind of device [`open_queue_on`] would use for `choice` now.
pub(crate) fn device_for(choice: DeviceChoice) -> DeviceKind {
    match choice.kind() {
        Some(k) => k,
        None => {
            // One clock reading for every backend: each small one-shot call comes here.
            let now = Instant::now();
            HARDWARE
                .iter()
                .find(|e| PRESENCE.get(e, Direction::Compress, now))
                .map_or(DeviceKind::Soft, |e| e.kind)
        }
    }
}

/// How a queue is opened, beyond its device and direction. More options may come: outside
/// this crate start from `QueueOptions::default()` and set what differs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueOptions {
    /// On the soft device, run its thread at idle priority, so that it never keeps one of
    /// the caller's threads waiting for a core (see
    /// [`backend::soft::SoftOptions::background`]). A VFIO device works outside the
    /// process: there it changes nothing.
    pub background: bool,
}

impl QueueOptions {
    /// Sets [`QueueOptions::background`].
    pub fn background(mut self, on: bool) -> Self {
        self.background = on;
        self
    }
}

/// Opens a queue from `choice`.
pub fn open_queue_on(choice: DeviceChoice, dir: Direction) -> Result<Queue> {
    open_queue_with(choice, dir, QueueOptions::default())
}

/// Opens a queue from `choice`, with options. Under [`DeviceChoice::Auto`], each hardware
/// backend that is present is tried in turn (the last free instance may have gone since it
/// was seen, or none may be open to this user), then the soft device.
pub fn open_queue_with(choice: DeviceChoice, dir: Direction, opts: QueueOptions) -> Result<Queue> {
    if let Some(kind) = choice.kind() {
        return (entry(kind).open)(dir, &opts);
    }
    for e in HARDWARE.iter().filter(|e| present(e, dir)) {
        match (e.open)(dir, &opts) {
            Err(Error::NoDevice(_) | Error::Permission(_)) => continue,
            r => return r,
        }
    }
    (SOFT.open)(dir, &opts)
}

/// Opens a queue on the best device present: a uacce queue when one is free, else an
/// sdmdev queue through VFIO, else the in-process soft device (`WARPDRIVE_DEVICE` overrides, see
/// [`DeviceChoice::from_env`]).
pub fn open_queue(dir: Direction) -> Result<Queue> {
    open_queue_on(DeviceChoice::from_env()?, dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_entry() {
        for k in DeviceKind::ALL {
            assert_eq!(entry(k).kind, k);
        }
        for c in DeviceChoice::ALL {
            assert_eq!(c.to_string().parse::<DeviceChoice>().unwrap(), c);
        }
        // `auto`, then one choice per kind, named as the kind.
        let names: Vec<&str> = DeviceChoice::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["auto", "soft", "vfio", "uacce"]);
        for k in DeviceKind::ALL {
            assert_eq!(DeviceChoice::from(k).kind(), Some(k));
            assert_eq!(DeviceChoice::from(k).name(), k.name());
        }
        assert_eq!(DeviceChoice::default().kind(), None);
        let e = "gpu".parse::<DeviceChoice>().unwrap_err();
        assert!(e.to_string().contains("device must be"), "{e}");
        assert!(e.to_string().contains("'uacce'"), "{e}");
        assert_eq!(
            "uacce".parse::<DeviceChoice>().unwrap().kind(),
            Some(DeviceKind::Uacce)
        );
        // Auto's order: uacce, then vfio, then soft.
        let order: Vec<DeviceKind> = HARDWARE.iter().map(|e| e.kind).collect();
        assert_eq!(order, [DeviceKind::Uacce, DeviceKind::Vfio]);
    }

    #[test]
    fn presence_is_looked_up_once_a_second() {
        use std::sync::atomic::Ordering::Relaxed;
        // Every one-shot call chooses its device: without the cache each one scanned sysfs
        // (an openat of /sys/class/uacce per call, seen with strace).
        let p = Presence::new();
        let t0 = Instant::now();
        for e in HARDWARE {
            for i in 0..1000u32 {
                p.get(e, Direction::Compress, t0 + Duration::from_micros(i.into()));
            }
        }
        assert_eq!(p.looks.load(Relaxed), HARDWARE.len());
        // each direction on its own; a second later, a fresh look
        p.get(&HARDWARE[0], Direction::Decompress, t0);
        assert_eq!(p.looks.load(Relaxed), HARDWARE.len() + 1);
        let later = t0 + PRESENCE_TTL;
        assert_eq!(
            p.get(&HARDWARE[0], Direction::Compress, later),
            (HARDWARE[0].present)(Direction::Compress)
        );
        assert_eq!(p.looks.load(Relaxed), HARDWARE.len() + 2);
        // the process-wide cache answers as the backend does
        for e in HARDWARE {
            assert_eq!(
                present(e, Direction::Compress),
                (e.present)(Direction::Compress)
            );
        }
    }
}
