//! Closing queues with requests in flight frees every share, on any backend (see
//! `behaviour.rs`). Alone in its binary: it counts process-wide shares, fds and maps.

mod threads;
use threads::{device_threads_once_settled, threads_once_settled};

use std::time::Duration;

use wd_core::abi::ReqType;
use wd_core::{open_queue, Direction, Request};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn cycle(data: &[u8], take_one: bool) -> wd_core::Queue {
    let mut q = open_queue(Direction::Compress).unwrap();
    for t in 0..8 {
        let mut src = q.alloc(data.len()).unwrap();
        src.fill(data);
        q.send(
            Request::new(ReqType::Gzip, src, q.alloc(2 << 20).unwrap())
                .level(9)
                .tag(t),
        )
        .unwrap();
    }
    if take_one {
        q.recv_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    q
}

#[test]
fn closing_queues_with_requests_in_flight_frees_everything() {
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| ((i % 251) ^ (i >> 9)) as u8)
        .collect();
    let first = cycle(&data, true);
    let domain = first.domain().clone();
    drop(first);
    // Freed buffers wait, still shared, in the domain's bounded cache; released, nothing
    // may remain.
    domain.release_cache();
    assert_eq!(domain.share_count(), 0);
    let (fds, tasks, m) = (count("/proc/self/fd"), count("/proc/self/task"), maps());
    for i in 0..10 {
        let q = cycle(&data, i % 2 == 0);
        assert!(q.outstanding() > 0);
        assert!(domain.share_count() >= 14, "in-flight buffers stay shared");
        drop(q);
        assert!(domain.cached_buffers() <= 64);
        domain.release_cache();
        assert_eq!(domain.share_count(), 0, "shares left after cycle {i}");
    }
    assert_eq!(count("/proc/self/fd"), fds, "fd leak");
    let now = threads_once_settled(tasks);
    assert!(now <= tasks, "thread leak: {tasks} -> {now}");
    assert_eq!(device_threads_once_settled(), 0, "device threads left");
    assert!(maps() <= m + 4, "mapping leak: {m} -> {}", maps());
}
