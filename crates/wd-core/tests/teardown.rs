//! Dropping queues with requests in flight leaks nothing: no fd, no mapping, no thread, no
//! share. This file holds a single test so that no other test of the process opens or
//! closes anything while it counts.

mod threads;
use threads::{device_threads_once_settled, threads_once_settled};

use std::time::Duration;

use wd_core::abi::ReqType;
use wd_core::backend::soft::{SoftBackend, SoftOptions};
use wd_core::dma::Domain;
use wd_core::{Direction, Queue, Request};

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn count_maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn count_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn cycle(domain: &std::sync::Arc<Domain>, paused: bool) {
    let b = SoftBackend::start(
        domain.clone(),
        Direction::Compress,
        SoftOptions {
            start_paused: paused,
            ..Default::default()
        },
    )
    .unwrap();
    let mut q = Queue::new(Box::new(b), Direction::Compress);
    let data = vec![9u8; 300_000];
    for t in 0..50 {
        let mut src = q.alloc(data.len()).unwrap();
        src.fill(&data);
        let dst = q.alloc(400_000).unwrap();
        q.send(Request::new(ReqType::Gzip, src, dst).level(9).tag(t))
            .unwrap();
    }
    for _ in 0..200 {
        q.send(Request::nop()).unwrap();
    }
    // Take a few, leave the rest in flight, and drop.
    if !paused {
        let _ = q.recv_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    assert!(q.outstanding() > 0);
    drop(q);
}

#[test]
fn dropping_queues_with_requests_in_flight_leaks_nothing() {
    let domain = Domain::soft();
    // Warm up lazily created process state (allocator arenas, the fork hook).
    cycle(&domain, false);
    let (fds, maps, threads) = (count_fds(), count_maps(), count_threads());
    for i in 0..20 {
        cycle(&domain, i % 2 == 0);
        assert_eq!(domain.share_count(), 0, "shares left after cycle {i}");
    }
    assert_eq!(count_fds(), fds, "fd leak");
    let now = threads_once_settled(threads);
    assert!(now <= threads, "thread leak: {threads} -> {now}");
    assert_eq!(device_threads_once_settled(), 0, "device threads left");
    // The allocator may keep a mapping or two of its own; queue memory (rings, MMIO page,
    // 100 DMA buffers a cycle) would show up as thousands.
    let now = count_maps();
    assert!(now <= maps + 4, "mapping leak: {maps} -> {now}");
}
