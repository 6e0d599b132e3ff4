//! A queue belongs to the process that opened it: a fork child gets a clear error and
//! tears nothing down; the parent's queue keeps working.

use std::time::Duration;

use wd_core::{open_queue, DeviceKind, Direction, Error, Request};

/// fork() copies only the calling thread: a child forked while another test's thread holds
/// a lock (the allocator's, the queue pool's) would wait on it forever. One test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_fork_child_cannot_use_the_queue_and_the_parent_can() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut q = open_queue(Direction::Compress).unwrap();
    q.send(Request::nop().tag(1)).unwrap();
    q.recv_timeout(Some(Duration::from_secs(10))).unwrap();
    let buf = q.alloc(4096).unwrap();
    // SAFETY: the child only calls the driver and then _exit()s without unwinding.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut code = 0;
        if !matches!(q.send(Request::nop()), Err(e) if matches!(e.error, Error::Forked)) {
            code |= 1;
        }
        if !matches!(q.recv(), Err(Error::Forked)) {
            code |= 2;
        }
        if !buf.is_foreign() {
            code |= 4;
        }
        // Dropping must neither touch the parent's device nor hang on its thread.
        drop(buf);
        drop(q);
        // SAFETY: leaving the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child crashed: {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child saw the wrong behaviour"
    );
    assert!(!buf.is_foreign());
    for t in 0..100 {
        q.send(Request::nop().tag(t)).unwrap();
    }
    assert_eq!(q.flush(Some(Duration::from_secs(10))).unwrap().len(), 100);
}

/// The pin counter of an sdmdev parent, if the backend in use has one.
fn pinned_pages() -> Option<u64> {
    let dir = std::fs::read_dir("/sys/class/sdmdev").ok()?;
    let mut total = None;
    for e in dir.flatten() {
        if let Ok(s) = std::fs::read_to_string(e.path().join("stats/pinned_pages")) {
            *total.get_or_insert(0) += s.trim().parse::<u64>().unwrap();
        }
    }
    total
}

#[test]
fn a_killed_process_leaves_nothing_pinned_and_the_queue_opens_again() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe into a live array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child opens its own queue, reports and sleeps until killed.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut q = open_queue(Direction::Compress).expect("child: open a queue");
        // 2 MiB in and 3 MiB of room pin 5 MiB per running request: within the default
        // 8 MiB locked-memory limit of an ordinary user.
        let data: Vec<u8> = (0..2u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        for t in 0..6 {
            let mut src = q.alloc(data.len()).unwrap();
            src.fill(&data);
            let dst = q.alloc(3 << 20).unwrap();
            q.send(
                Request::new(wd_core::abi::ReqType::Gzip, src, dst)
                    .level(9)
                    .tag(t),
            )
            .unwrap();
        }
        // SAFETY: writing one byte from a live buffer to our pipe.
        unsafe { libc::write(fds[1], b"r".as_ptr().cast(), 1) };
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    // SAFETY: closing our copy of the write end, so a child that dies gives end-of-file.
    unsafe { libc::close(fds[1]) };
    // A child that hangs must fail the test, not hang it.
    let ready = wd_core::sys::poll_readable(&[fds[0]], Some(Duration::from_secs(60))).unwrap();
    let mut b = [0u8; 1];
    let n = if ready.is_empty() {
        0
    } else {
        // SAFETY: reading one byte into a live buffer from our pipe.
        unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) }
    };
    if n != 1 {
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        panic!("the child never got its requests going (it died or hung)");
    }
    std::thread::sleep(Duration::from_millis(30));
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
        libc::close(fds[0]);
    }
    if let Some(mut p) = pinned_pages() {
        // The kernel stops the queue and unpins when the dead process's files close.
        for _ in 0..100 {
            if p == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            p = pinned_pages().unwrap();
        }
        assert_eq!(p, 0, "pages still pinned after the process died");
    }
    // The device serves a new queue; on sdmdev it reuses the dead process's mdev rather
    // than making another.
    let mdevs = || {
        std::fs::read_dir("/sys/bus/mdev/devices")
            .map(|d| d.count())
            .ok()
    };
    let before = mdevs();
    let mut q = open_queue(Direction::Compress).unwrap();
    if q.kind() == DeviceKind::Vfio {
        assert_eq!(
            mdevs(),
            before,
            "opened a new mdev instead of reusing the free one"
        );
    }
    let mut src = q.alloc(10_000).unwrap();
    src.fill(&[5u8; 10_000]);
    q.send(Request::new(
        wd_core::abi::ReqType::Gzip,
        src,
        q.alloc(20_000).unwrap(),
    ))
    .unwrap();
    q.recv_timeout(Some(Duration::from_secs(60)))
        .unwrap()
        .check()
        .unwrap();
}

/// Descriptors of this process that lead to VFIO: the container and groups
/// (`/dev/vfio/*`) and devices (`anon_inode:[vfio-device]`).
fn vfio_fds() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| t.starts_with("/dev/vfio/") || t.contains("vfio-device"))
        .collect()
}

/// Forks a child that runs `body` and then sleeps until killed; returns its pid once it
/// has reported `body`'s result (0 = as expected) through a pipe.
fn child_that_lingers(body: impl FnOnce() -> u8) -> (libc::pid_t, u8) {
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe into a live array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child runs `body`, writes one byte and sleeps; it never returns.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = body();
        // SAFETY: writing one byte from a live buffer to our pipe.
        unsafe { libc::write(fds[1], [code].as_ptr().cast(), 1) };
        // A child of a multi-threaded parent: sleep without the standard library's locks,
        // until killed or, at the latest, 10 s on (SIGALRM ends it).
        // SAFETY: alarm() only arms a timer of this process.
        unsafe { libc::alarm(10) };
        loop {
            // SAFETY: pause() only waits for a signal.
            unsafe { libc::pause() };
        }
    }
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(fds[1]) };
    let ready = wd_core::sys::poll_readable(&[fds[0]], Some(Duration::from_secs(30))).unwrap();
    let mut b = [255u8; 1];
    if !ready.is_empty() {
        // SAFETY: reading one byte into a live buffer from our pipe.
        unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) };
    }
    // SAFETY: closing our read end.
    unsafe { libc::close(fds[0]) };
    (pid, b[0])
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

#[test]
fn a_fork_child_holds_no_vfio_descriptor_of_its_parent() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut q = open_queue(Direction::Compress).unwrap();
    q.send(Request::nop().tag(1)).unwrap();
    q.recv_timeout(Some(Duration::from_secs(10))).unwrap();
    let before = vfio_fds();
    if q.kind() == DeviceKind::Vfio {
        assert!(
            before.len() >= 3,
            "expected container, group and device fds: {before:?}"
        );
    }
    let (pid, code) = child_that_lingers(|| {
        let held = vfio_fds();
        if !held.is_empty() {
            eprintln!("child holds its parent's VFIO descriptors: {held:?}");
            return 1;
        }
        // The queue still refuses, and dropping it touches nothing.
        if !matches!(q.send(Request::nop()), Err(e) if matches!(e.error, Error::Forked)) {
            return 2;
        }
        0
    });
    kill_and_reap(pid);
    assert_eq!(code, 0, "the child kept VFIO descriptors or used the queue");
    // The parent's queue is untouched.
    q.send(Request::nop().tag(2)).unwrap();
    assert_eq!(
        q.recv_timeout(Some(Duration::from_secs(10))).unwrap().tag,
        2
    );
}

#[test]
fn closing_a_queue_does_not_wait_for_a_fork_child() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let q = open_queue(Direction::Compress).unwrap();
    // The child lives on (10 s, unless killed after the close) while the parent closes.
    let (pid, code) = child_that_lingers(|| 0);
    assert_eq!(code, 0);
    let t = std::time::Instant::now();
    q.close().unwrap();
    let took = t.elapsed();
    kill_and_reap(pid);
    assert!(
        took < Duration::from_secs(2),
        "closing the queue took {took:?} while a fork child lived"
    );
}
