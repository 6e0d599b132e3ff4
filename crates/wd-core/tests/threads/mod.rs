//! Thread counts for the teardown tests, taken once exited threads have left /proc.

use std::time::Duration;

/// Soft-device threads of this process (named `wd-soft-...`) once exited ones have left
/// `/proc/self/task` (at most 10 s): a queue that is gone must have left none.
pub fn device_threads_once_settled() -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("wd-soft"))
            .count();
        if n == 0 || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The threads of this process, once exited threads have left `/proc/self/task`: the
/// kernel (or qemu-user, much later) removes a thread there a moment after the join that
/// waited for it returned, so a count taken earlier (the baseline too) may include one.
/// A thread that lives on keeps the count above `want` for the whole 10 s.
pub fn threads_once_settled(want: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = std::fs::read_dir("/proc/self/task").unwrap().count();
        if n <= want || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
