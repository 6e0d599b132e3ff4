//! A queue belongs to the process that opened it: a fork child gets a clear error and
//! tears nothing down; the parent's queue keeps working.

use std::time::Duration;

use wd_core::{open_queue, Direction, Error, Request};

#[test]
fn a_fork_child_cannot_use_the_queue_and_the_parent_can() {
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
