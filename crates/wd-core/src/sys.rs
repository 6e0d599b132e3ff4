//! Thin, audited wrappers over the system calls the driver needs: anonymous mappings,
//! eventfd, poll, resource limits and fork handling (a detector, and descriptors a fork
//! child gives up). Every `unsafe` block of the crate that talks to the kernel lives here
//! (with the uacce ioctls in sys/uacce.rs), or in vfio_sys.rs for VFIO.
//!
//! The calls go through `rustix` (and mappings through `memmap2`); `libc` is left only for
//! what rustix does not wrap: `sched_setscheduler`, `pthread_atfork` and `atexit`.

use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use rustix::event::{PollFd, PollFlags, Timespec};

/// The page size of this machine.
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// Rounds `n` up to a whole number of pages (at least one page).
pub fn round_to_pages(n: usize) -> usize {
    let p = page_size();
    n.max(1).div_ceil(p) * p
}

/// Moves the calling thread into the idle scheduling class (`SCHED_IDLE`): it then runs
/// only on a core no thread of normal priority wants. An unprivileged thread cannot move
/// back.
pub fn run_current_thread_at_idle_priority() -> io::Result<()> {
    // rustix has no wrapper for sched_setscheduler: libc it is.
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` is a valid sched_param that the
    // kernel only reads during the call.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A memory mapping owned by this value and unmapped on drop: anonymous memory the driver
/// shares with devices, or a region of a device file. Neither is inherited by a fork child
/// (`MADV_DONTFORK` here, `VM_DONTCOPY` from the kernel for device regions), so a child
/// never unmaps it: the address range may hold something else of the child's.
///
/// A thin wrapper over `memmap2`'s `MmapRaw` (read-write, raw pointers only), which adds
/// the fork rule: the map is not unmapped in a fork child.
#[derive(Debug)]
pub struct Mapping {
    /// Dropped (unmapped) by `Drop` in the process that made it, never in a fork child.
    map: ManuallyDrop<MmapRaw>,
    fork_gen: u64,
}

impl Mapping {
    fn new(map: MmapRaw) -> Mapping {
        Mapping {
            map: ManuallyDrop::new(map),
            fork_gen: fork_generation(),
        }
    }

    /// Zero-filled private memory of at least `len` bytes (whole pages), not inherited
    /// across fork: a child must never see memory a device may write.
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        let map = MmapOptions::new().len(round_to_pages(len)).map_anon()?;
        map.advise(memmap2::Advice::DontFork)?;
        Ok(Mapping::new(MmapRaw::from(map)))
    }

    /// `len` bytes of the file `fd` at `offset` (whole pages), shared, readable and
    /// writable (a device region).
    pub fn shared_fd(fd: &OwnedFd, offset: u64, len: usize) -> io::Result<Mapping> {
        let map = MmapOptions::new().offset(offset).len(len).map_raw(fd)?;
        Ok(Mapping::new(map))
    }

    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a mapping has at least one page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// True in a fork child of the process that made the mapping.
    pub fn is_foreign(&self) -> bool {
        self.fork_gen != fork_generation()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.is_foreign() {
            // The parent's range: left alone (the map is never dropped here).
            return;
        }
        // SAFETY: dropped exactly once, here, and `self.map` is not used afterwards;
        // nothing borrows the contents any more (borrows are tied to `&self` or hold the
        // owning Arc).
        unsafe { ManuallyDrop::drop(&mut self.map) };
    }
}

/// A non-blocking, close-on-exec eventfd: the queue's interrupt line.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    /// Creates a new eventfd with counter 0.
    pub fn new() -> io::Result<EventFd> {
        use rustix::event::EventfdFlags;
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, making the fd readable.
    pub fn signal(&self) {
        // EAGAIN (counter saturated) still leaves the fd readable, which is all a signal
        // needs.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Resets the counter; returns how many signals were pending.
    pub fn drain(&self) -> u64 {
        let mut v = [0u8; 8];
        // EAGAIN means nothing was pending.
        match rustix::io::read(&self.fd, &mut v) {
            Ok(8) => u64::from_ne_bytes(v),
            _ => 0,
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Waits until one of `fds` is readable or the timeout passes (`None` = forever).
/// Returns the indices of the readable fds (empty on timeout). EINTR is retried with the
/// remaining time.
pub fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|&fd| {
            // SAFETY: poll only reads the number for the call; one that is not open is
            // reported (POLLNVAL), never used for I/O.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            PollFd::from_borrowed_fd(fd, PollFlags::IN)
        })
        .collect();
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let left = deadline.map(|d| {
            let left = d.saturating_duration_since(std::time::Instant::now());
            // Round up to a whole millisecond, as poll(2) counts: a short wait does not
            // become a busy loop of zero timeouts.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i64;
            Timespec {
                tv_sec: ms / 1000,
                tv_nsec: (ms % 1000 * 1_000_000) as _,
            }
        });
        match rustix::event::poll(&mut pfds, left.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        return Ok(pfds
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.revents().is_empty())
            .map(|(i, _)| i)
            .collect());
    }
}

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
static FORK_HOOK: Once = Once::new();

/// Slots of the fork registry: descriptors a fork child must give up at once.
const FORK_FDS: usize = 512;
/// The registered descriptors (-1 = free slot).
static FORK_FD_SLOTS: [AtomicI32; FORK_FDS] = [const { AtomicI32::new(-1) }; FORK_FDS];
/// A /dev/null descriptor opened before the first registration: the child's stand-in.
static DEV_NULL: AtomicI32 = AtomicI32::new(-1);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
    // Give up the parent's device, group and container at once: while the child held them,
    // the parent could not close its queue (the kernel waits for every holder). Each number
    // now names /dev/null, so it stays occupied and a later close in the child closes only
    // that. Only atomics and dup3 here: async-signal-safe, as a child handler must be.
    let null = DEV_NULL.load(Ordering::Relaxed);
    if null < 0 {
        return;
    }
    // SAFETY: DEV_NULL is set once and never closed: the number stays open.
    let null = unsafe { BorrowedFd::borrow_raw(null) };
    for slot in &FORK_FD_SLOTS {
        let fd = slot.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: a registered number is open (its ParentOnlyFd unregisters it before
            // closing it); ManuallyDrop never closes it: its owner, the ParentOnlyFd, does.
            let mut target = ManuallyDrop::new(unsafe { OwnedFd::from_raw_fd(fd) });
            // Only replaces descriptor `fd` of this (child) process with a copy of the
            // /dev/null descriptor.
            let _ = rustix::io::dup3(null, &mut target, rustix::io::DupFlags::CLOEXEC);
            slot.store(-1, Ordering::Relaxed);
        }
    }
}

/// A descriptor a fork child gives up at once: a VFIO container, group or device. In the
/// child the number is reused for /dev/null (see [`fork_generation`]), so the parent's
/// device is not held by the child, and dropping this value there closes only that.
#[derive(Debug)]
pub struct ParentOnlyFd {
    fd: OwnedFd,
}

impl ParentOnlyFd {
    /// Registers `fd` so that fork children drop it. A fork by another thread between the
    /// call that made `fd` and this registration leaves that one descriptor in the child.
    pub fn new(fd: OwnedFd) -> io::Result<ParentOnlyFd> {
        fork_generation(); // installs the handler
        if DEV_NULL.load(Ordering::Acquire) < 0 {
            let null = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            let raw = std::os::fd::IntoRawFd::into_raw_fd(null);
            if DEV_NULL
                .compare_exchange(-1, raw, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: `raw` is ours and unused: another thread's descriptor won.
                drop(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
        let raw = fd.as_raw_fd();
        let slot = FORK_FD_SLOTS.iter().find(|s| {
            s.compare_exchange(-1, raw, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if slot.is_none() {
            return Err(io::Error::other(format!(
                "more than {FORK_FDS} VFIO descriptors open in one process"
            )));
        }
        Ok(ParentOnlyFd { fd })
    }

    /// True if `fd` is registered (for tests).
    pub fn is_registered(fd: RawFd) -> bool {
        FORK_FD_SLOTS
            .iter()
            .any(|s| s.load(Ordering::Relaxed) == fd)
    }
}

impl AsRawFd for ParentOnlyFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for ParentOnlyFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRef<OwnedFd> for ParentOnlyFd {
    fn as_ref(&self) -> &OwnedFd {
        &self.fd
    }
}

impl Drop for ParentOnlyFd {
    fn drop(&mut self) {
        // Unregister before the number is closed (and possibly reused by another file).
        let raw = self.fd.as_raw_fd();
        if let Some(s) = FORK_FD_SLOTS
            .iter()
            .find(|s| s.load(Ordering::Relaxed) == raw)
        {
            s.store(-1, Ordering::Release);
        }
    }
}

/// The process's locked-memory limit for pinned pages: `None` when nothing bounds it
/// (`RLIMIT_MEMLOCK` is infinite, or the process has `CAP_IPC_LOCK`, which VFIO lets pin
/// past the limit), else the soft limit in bytes.
pub fn memlock_limit() -> Option<u64> {
    // Miri (scripts/miri) runs no system calls: code checked under it sees no limit.
    if cfg!(miri) || has_cap_ipc_lock() {
        return None;
    }
    // `None` is RLIM_INFINITY.
    rustix::process::getrlimit(rustix::process::Resource::Memlock).current
}

/// Sets the soft `RLIMIT_MEMLOCK` (for tests and tools; lowering needs no privilege).
pub fn set_memlock_limit(bytes: u64) -> io::Result<()> {
    use rustix::process::Resource;
    let mut r = rustix::process::getrlimit(Resource::Memlock);
    r.current = Some(bytes);
    rustix::process::setrlimit(Resource::Memlock, r)?;
    Ok(())
}

/// True if this process may open `path` for reading and writing (`access(2)`, which uses
/// the real user; wd-core does not run set-user-ID).
pub fn may_read_write(path: &str) -> bool {
    use rustix::fs::Access;
    rustix::fs::access(path, Access::READ_OK | Access::WRITE_OK).is_ok()
}

/// True if the process's effective capabilities include `CAP_IPC_LOCK` (bit 14).
pub fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

/// A number that changes in a child process after every fork. Queues record it when they
/// open and refuse to work when it differs, without a system call on the hot path.
pub fn fork_generation() -> u64 {
    FORK_HOOK.call_once(|| {
        // rustix has no wrapper for pthread_atfork (a libc function, not a system call).
        // SAFETY: registers a handler that only touches an atomic, which is
        // async-signal-safe as pthread_atfork child handlers must be.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Runs `f` when the process exits normally (return from main, `exit`).
pub fn at_exit(f: extern "C" fn()) {
    // rustix has no wrapper for atexit (a libc function, not a system call).
    // SAFETY: registers a plain function; atexit has no other precondition.
    unsafe { libc::atexit(f) };
}

/// A process-wide value that belongs to one process: a fork child gets a fresh one, and
/// the parent's copy is left alone in the child (never used, never dropped there).
pub struct PerProcess<T> {
    slot: Mutex<Option<(u64, T)>>,
}

impl<T: Clone> PerProcess<T> {
    /// An empty slot (for a `static`).
    pub const fn new() -> PerProcess<T> {
        PerProcess {
            slot: Mutex::new(None),
        }
    }

    /// This process's value, made by `init` on first use.
    pub fn get_or_try_init<E>(&self, init: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        let gen = fork_generation();
        match slot.take() {
            Some((g, v)) if g == gen => {
                *slot = Some((g, v.clone()));
                return Ok(v);
            }
            Some(parents) => std::mem::forget(parents),
            None => {}
        }
        let v = init()?;
        *slot = Some((gen, v.clone()));
        Ok(v)
    }
}

impl<T: Clone> Default for PerProcess<T> {
    fn default() -> Self {
        PerProcess::new()
    }
}

pub mod uacce;

/// Faults in the pages of `[ptr, ptr + len)` (whole pages around it) without changing
/// their contents, so that a device reaching them through the process's page tables (SVA)
/// does not have to: `MADV_POPULATE_WRITE`, else `MADV_POPULATE_READ` (read-only memory),
/// best effort (kernels before 5.14 know neither; the device then faults them in).
pub fn populate(ptr: *const u8, len: usize) {
    use rustix::mm::Advice;
    if len == 0 {
        return;
    }
    let page = page_size();
    let start = ptr as usize / page * page;
    let end = (ptr as usize).saturating_add(len).div_ceil(page) * page;
    for advice in [Advice::LinuxPopulateWrite, Advice::LinuxPopulateRead] {
        // SAFETY: the advice only faults pages in (contents unchanged); an unmapped range
        // fails with ENOMEM and changes nothing.
        if unsafe { rustix::mm::madvise(start as *mut std::ffi::c_void, end - start, advice) }
            .is_ok()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_mappings_are_page_aligned_and_zeroed() {
        let m = Mapping::anonymous(10).unwrap();
        assert_eq!(m.len(), page_size());
        assert_eq!(m.as_ptr() as usize % page_size(), 0);
        // SAFETY: reading our own fresh mapping.
        let s = unsafe { std::slice::from_raw_parts(m.as_ptr(), m.len()) };
        assert!(s.iter().all(|&b| b == 0));
    }

    #[test]
    fn shared_file_mappings_start_at_the_offset_and_write_through() {
        let path = std::env::temp_dir().join(format!("wd-core-map-{}", std::process::id()));
        let page = page_size();
        let mut content = vec![1u8; page];
        content.extend(std::iter::repeat_n(2u8, page));
        std::fs::write(&path, &content).unwrap();
        let file: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap()
            .into();
        let m = Mapping::shared_fd(&file, page as u64, page).unwrap();
        assert_eq!(m.len(), page);
        // SAFETY: the mapping is ours, `page` bytes long, and nothing else writes the file.
        unsafe {
            assert_eq!(*m.as_ptr(), 2);
            *m.as_ptr().add(page - 1) = 7;
        }
        drop(m);
        let back = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(back[2 * page - 1], 7);
        assert_eq!(back[page - 1], 1);
    }

    #[test]
    fn poll_waits_for_its_timeout() {
        let e = EventFd::new().unwrap();
        let t = std::time::Instant::now();
        assert!(
            poll_readable(&[e.as_raw_fd()], Some(Duration::from_millis(30)))
                .unwrap()
                .is_empty()
        );
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn eventfd_signals_and_drains() {
        let e = EventFd::new().unwrap();
        assert!(poll_readable(&[e.as_raw_fd()], Some(Duration::ZERO))
            .unwrap()
            .is_empty());
        e.signal();
        e.signal();
        assert_eq!(
            poll_readable(&[e.as_raw_fd()], Some(Duration::ZERO)).unwrap(),
            vec![0]
        );
        assert_eq!(e.drain(), 2);
        assert_eq!(e.drain(), 0);
    }
}
