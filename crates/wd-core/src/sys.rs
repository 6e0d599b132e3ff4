//! Thin, audited wrappers over the system calls the driver needs: anonymous mappings,
//! eventfd, poll, resource limits and fork handling (a detector, and descriptors a fork
//! child gives up). Every `unsafe` block of the crate that talks to the
//! kernel lives here.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

/// The page size of this machine.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n <= 0 {
        4096
    } else {
        n as usize
    }
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
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    fork_gen: u64,
}

// SAFETY: the mapping is owned by this value; access to its contents is governed by the
// types built on it (borrows for DMA buffers, atomics for device memory).
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out raw pointers.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn map(len: usize, flags: libc::c_int, fd: RawFd, offset: u64) -> io::Result<Mapping> {
        // SAFETY: a new mapping chosen by the kernel; no existing memory is affected, and
        // the kernel validates fd, offset and length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: NonNull::new(p.cast::<u8>()).expect("mmap returned null"),
            len,
            fork_gen: fork_generation(),
        })
    }

    /// Zero-filled private memory of at least `len` bytes (whole pages), not inherited
    /// across fork: a child must never see memory a device may write.
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        let m = Mapping::map(
            round_to_pages(len),
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )?;
        // SAFETY: advice on our own fresh mapping.
        if unsafe { libc::madvise(m.ptr.as_ptr().cast(), m.len, libc::MADV_DONTFORK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(m)
    }

    /// `len` bytes of the file `fd` at `offset`, shared (a device region).
    pub fn shared_fd(fd: &OwnedFd, offset: u64, len: usize) -> io::Result<Mapping> {
        Mapping::map(len, libc::MAP_SHARED, fd.as_raw_fd(), offset)
    }

    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
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
            return;
        }
        // SAFETY: we own the mapping and nothing borrows it any more (borrows of the
        // contents are tied to `&self` or hold the owning Arc).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
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
        // SAFETY: eventfd has no memory preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    /// Adds one to the counter, making the fd readable.
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. EAGAIN (counter saturated) still leaves
        // the fd readable, which is all a signal needs.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter; returns how many signals were pending.
    pub fn drain(&self) -> u64 {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN means nothing was pending.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
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
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let ms: libc::c_int = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                // Round up so a short wait does not become a busy loop of zero timeouts.
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: `pfds` is a live array of `pfds.len()` pollfd structures.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        return Ok(pfds
            .iter()
            .enumerate()
            .filter(|(_, p)| p.revents != 0)
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
    for slot in &FORK_FD_SLOTS {
        let fd = slot.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: dup3 only replaces descriptor `fd` of this (child) process with a
            // copy of the /dev/null descriptor; no memory is involved.
            unsafe { libc::dup3(null, fd, libc::O_CLOEXEC) };
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
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit structure, which `r` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
        return None;
    }
    if r.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(r.rlim_cur)
    }
}

/// Sets the soft `RLIMIT_MEMLOCK` (for tests and tools; lowering needs no privilege).
pub fn set_memlock_limit(bytes: u64) -> io::Result<()> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit structure, which `r` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    r.rlim_cur = bytes;
    // SAFETY: setrlimit reads one rlimit structure, which `r` is.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True if this process may open `path` for reading and writing (`access(2)`, which uses
/// the real user; wd-core does not run set-user-ID).
pub fn may_read_write(path: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path alive for the call; access reads only it.
    unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) == 0 }
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
        // SAFETY: registers a handler that only touches an atomic, which is
        // async-signal-safe as pthread_atfork child handlers must be.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}

/// Runs `f` when the process exits normally (return from main, `exit`).
pub fn at_exit(f: extern "C" fn()) {
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

/// The mainline `uacce` character device's ioctls (`include/uapi/misc/uacce/uacce.h` and
/// `hisi_qm.h`; docs/abi.md section 9.2).
pub mod uacce {
    use std::io;
    use std::os::fd::RawFd;

    /// `UACCE_CMD_START_Q = _IO('W', 0)`.
    pub const START_Q: libc::c_ulong = 0x5700;
    /// `UACCE_CMD_PUT_Q = _IO('W', 1)`.
    pub const PUT_Q: libc::c_ulong = 0x5701;
    /// `UACCE_CMD_QM_SET_QP_CTX = _IOWR('H', 10, struct hisi_qp_ctx)`.
    pub const QM_SET_QP_CTX: libc::c_ulong = 0xc004_480a;
    /// `UACCE_CMD_QM_SET_QP_INFO = _IOWR('H', 11, struct hisi_qp_info)`.
    pub const QM_SET_QP_INFO: libc::c_ulong = 0xc010_480b;
    /// mmap page offset of the MMIO region (`UACCE_QFRT_MMIO`).
    pub const QFRT_MMIO: u64 = 0;
    /// mmap page offset of the DUS region (`UACCE_QFRT_DUS`).
    pub const QFRT_DUS: u64 = 1;

    /// `struct hisi_qp_ctx`.
    #[repr(C)]
    #[derive(Debug, Default)]
    struct QpCtx {
        id: u16,
        qc_type: u16,
    }

    /// `struct hisi_qp_info`.
    #[repr(C)]
    #[derive(Debug, Default)]
    struct QpInfo {
        sqe_size: u32,
        sq_depth: u16,
        cq_depth: u16,
        reserved: u64,
    }

    const _: () = assert!(std::mem::size_of::<QpCtx>() == 4);
    const _: () = assert!(std::mem::size_of::<QpInfo>() == 16);

    fn check(rc: libc::c_int) -> io::Result<()> {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// `START_Q` or `PUT_Q` (no argument).
    pub fn command(fd: RawFd, req: libc::c_ulong) -> io::Result<()> {
        // SAFETY: these requests take no argument; no memory is passed.
        check(unsafe { libc::ioctl(fd, req, 0) })
    }

    /// `QM_SET_QP_CTX` with queue type `qc_type` (0 compress, 1 decompress): returns the
    /// queue number the kernel wrote back.
    pub fn set_qp_ctx(fd: RawFd, qc_type: u16) -> io::Result<u16> {
        let mut ctx = QpCtx { id: 0, qc_type };
        // SAFETY: `ctx` is a live, exclusive `struct hisi_qp_ctx`, as the request expects.
        check(unsafe { libc::ioctl(fd, QM_SET_QP_CTX, &mut ctx as *mut QpCtx) })?;
        Ok(ctx.id)
    }

    /// `QM_SET_QP_INFO`: the queue's `(sqe_size, sq_depth, cq_depth)`.
    pub fn qp_info(fd: RawFd) -> io::Result<(u32, u16, u16)> {
        let mut info = QpInfo::default();
        // SAFETY: `info` is a live, exclusive `struct hisi_qp_info`, as the request expects.
        check(unsafe { libc::ioctl(fd, QM_SET_QP_INFO, &mut info as *mut QpInfo) })?;
        Ok((info.sqe_size, info.sq_depth, info.cq_depth))
    }
}

/// Faults in the pages of `[ptr, ptr + len)` (whole pages around it) without changing
/// their contents, so that a device reaching them through the process's page tables (SVA)
/// does not have to: `MADV_POPULATE_WRITE`, else `MADV_POPULATE_READ` (read-only memory),
/// best effort (kernels before 5.14 know neither; the device then faults them in).
pub fn populate(ptr: *const u8, len: usize) {
    const MADV_POPULATE_READ: libc::c_int = 22;
    const MADV_POPULATE_WRITE: libc::c_int = 23;
    if len == 0 {
        return;
    }
    let page = page_size();
    let start = ptr as usize / page * page;
    let end = (ptr as usize).saturating_add(len).div_ceil(page) * page;
    for advice in [MADV_POPULATE_WRITE, MADV_POPULATE_READ] {
        // SAFETY: the advice only faults pages in (contents unchanged); an unmapped range
        // fails with ENOMEM and changes nothing.
        if unsafe { libc::madvise(start as *mut libc::c_void, end - start, advice) } == 0 {
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
