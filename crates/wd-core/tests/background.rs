//! A queue opened with `background` is served by a soft device thread at idle priority.
//! (Its own test binary: the only device threads in the process are this test's.)

use std::collections::BTreeMap;
use std::time::Duration;

use wd_core::{open_queue_with, DeviceKind, Direction, QueueOptions, Request};

/// The scheduling policy (`/proc/.../stat` field 41) of each soft device thread, by id.
fn soft_device_threads() -> BTreeMap<u32, u32> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let tid: u32 = e.unwrap().file_name().to_str().unwrap().parse().unwrap();
        let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
            continue; // the thread has exited since the listing
        };
        let (comm, rest) = stat.split_once(" (").unwrap().1.rsplit_once(") ").unwrap();
        if comm.starts_with("wd-soft") {
            // Field 3 (state) is the first after the name; the policy is field 41.
            let policy = rest.split(' ').nth(41 - 3).unwrap().parse().unwrap();
            out.insert(tid, policy);
        }
    }
    out
}

#[test]
fn background_device_thread_runs_at_idle_priority_and_serves_requests() {
    let mut normal = open_queue_with(
        DeviceKind::Soft.into(),
        Direction::Compress,
        QueueOptions::default(),
    )
    .unwrap();
    let before = soft_device_threads();
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(*before.values().next().unwrap(), libc::SCHED_OTHER as u32);

    let mut background = open_queue_with(
        DeviceKind::Soft.into(),
        Direction::Compress,
        QueueOptions::default().background(true),
    )
    .unwrap();
    let after = soft_device_threads();
    let new: Vec<_> = after
        .iter()
        .filter(|(t, _)| !before.contains_key(t))
        .collect();
    assert_eq!(new.len(), 1, "{after:?}");
    assert_eq!(*new[0].1, libc::SCHED_IDLE as u32);

    for q in [&mut normal, &mut background] {
        q.send(Request::nop().tag(7)).unwrap();
        let c = q.recv_timeout(Some(Duration::from_secs(20))).unwrap();
        c.check().unwrap();
        assert_eq!(c.tag, 7);
    }
}
