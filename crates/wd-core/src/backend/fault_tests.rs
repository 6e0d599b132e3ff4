//! A device that misbehaves is contained: the soft device acts out each fault of
//! [`Fault`] and the ring driver must survive it with the right error, without handing back
//! (or freeing) a buffer the device may still write, and tear down cleanly.

use std::sync::Arc;
use std::time::Duration;

use crate::abi::Direction;
use crate::abi::{ReqType, ZipSqe};
use crate::backend::soft::{Fault, SoftBackend, SoftControl, SoftOptions};
use crate::dma::Domain;
use crate::error::Error;
use crate::queue::{Queue, Request};

const WAIT: Option<Duration> = Some(Duration::from_secs(20));
const SHORT: Option<Duration> = Some(Duration::from_millis(50));

/// A compression queue in a domain of its own whose device acts out `faults`.
fn faulty(faults: &[(u64, Fault)]) -> (Queue, Arc<Domain>) {
    let (q, domain, _) = faulty_paused(faults, false);
    (q, domain)
}

/// As [`faulty`], with the device's control handle; `paused` starts it held.
fn faulty_paused(faults: &[(u64, Fault)], paused: bool) -> (Queue, Arc<Domain>, SoftControl) {
    let domain = Domain::soft();
    let opts = SoftOptions {
        faults: faults.to_vec(),
        start_paused: paused,
        ..Default::default()
    };
    let b = SoftBackend::start(Arc::clone(&domain), Direction::Compress, opts).unwrap();
    let ctl = b.control();
    (Queue::new(Box::new(b), Direction::Compress), domain, ctl)
}

/// A zlib compression of 64 KiB of text into a buffer with room for it.
fn request(q: &Queue, tag: u64) -> Request {
    let data: Vec<u8> = (0..65536u32)
        .map(|i| b"warpdrive "[i as usize % 10])
        .collect();
    let mut src = q.alloc(data.len()).unwrap();
    src.fill(&data);
    let dst = q.alloc(data.len() + 4096).unwrap();
    Request::new(ReqType::Zlib, src, dst).tag(tag)
}

fn is_protocol(e: &Error) -> bool {
    matches!(e, Error::Protocol(_))
}

/// Every later call of a broken queue says so; nothing in flight was taken.
fn assert_broken(q: &mut Queue, in_flight: usize) {
    assert!(!q.is_usable());
    assert_eq!(q.outstanding(), in_flight, "nothing handed back");
    let e = q.recv().unwrap_err();
    assert!(is_protocol(&e) && e.to_string().contains("broken"), "{e}");
    let e = q.recv_timeout(SHORT).unwrap_err();
    assert!(is_protocol(&e), "{e}");
    let e = q.send(Request::nop()).unwrap_err().error;
    assert!(is_protocol(&e) && e.to_string().contains("broken"), "{e}");
    assert!(is_protocol(&q.arm_interrupt().unwrap_err()));
    let mut out = Vec::new();
    let e = q
        .run_borrowed(Request::without_buffers(ReqType::Zlib), b"x", &mut out, 64)
        .unwrap_err();
    assert!(is_protocol(&e), "{e}");
    assert!(out.is_empty());
    assert_eq!(q.outstanding(), in_flight);
}

#[test]
fn a_completion_naming_an_entry_past_the_ring_breaks_the_queue() {
    let (mut q, domain) = faulty(&[(0, Fault::WrongSlot(5000))]);
    q.send(request(&q, 1)).unwrap();
    let shares = domain.share_count();
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(is_protocol(&e) && e.to_string().contains("5000"), "{e}");
    assert_eq!(domain.share_count(), shares, "no buffer was freed");
    assert_broken(&mut q, 1);
    drop(q);
    assert_eq!(
        domain.share_count(),
        0,
        "dropping the queue frees its buffers"
    );
}

#[test]
fn a_completion_naming_an_empty_entry_breaks_the_queue() {
    let (mut q, domain) = faulty(&[(0, Fault::WrongSlot(7))]);
    q.send(request(&q, 1)).unwrap();
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(
        is_protocol(&e) && e.to_string().contains("no request"),
        "{e}"
    );
    assert_broken(&mut q, 1);
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_completion_naming_another_request_the_device_has_not_answered_is_refused() {
    // The device finishes request 0 but names entry 1 in its completion, and never
    // answers request 1 (it hangs on it, having written its output).
    let (mut q, domain, ctl) = faulty_paused(&[(0, Fault::WrongSlot(1)), (1, Fault::Hang)], true);
    q.send(request(&q, 10)).unwrap();
    q.send(request(&q, 11)).unwrap();
    ctl.resume();
    let shares = domain.share_count();
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(
        is_protocol(&e) && e.to_string().contains("not answered"),
        "{e}"
    );
    assert_eq!(
        domain.share_count(),
        shares,
        "request 1's buffers stay shared"
    );
    assert_broken(&mut q, 2);
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_repeated_completion_breaks_the_queue() {
    let (mut q, domain) = faulty(&[(0, Fault::Repeat)]);
    q.send(request(&q, 1)).unwrap();
    let c = q.recv_timeout(WAIT).unwrap();
    c.check().unwrap();
    assert_eq!(c.tag, 1);
    drop(c);
    q.send(request(&q, 2)).unwrap();
    // The repeat sits at the CQ head before request 2's completion.
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(is_protocol(&e) && e.to_string().contains("entry 0"), "{e}");
    assert_broken(&mut q, 1);
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_wrong_tag_breaks_the_queue_and_frees_nothing() {
    let (mut q, domain) = faulty(&[(0, Fault::Tag(0xdead))]);
    q.send(request(&q, 1)).unwrap();
    let shares = domain.share_count();
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(is_protocol(&e) && e.to_string().contains("0xdead"), "{e}");
    assert_eq!(
        domain.share_count(),
        shares,
        "the request's buffers were not freed"
    );
    assert_broken(&mut q, 1);
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_skipped_completion_times_out_and_the_others_arrive() {
    let (mut q, domain, ctl) = faulty_paused(&[(0, Fault::Drop)], true);
    q.send(request(&q, 1)).unwrap();
    q.send(request(&q, 2)).unwrap();
    ctl.resume();
    let c = q.recv_timeout(WAIT).unwrap();
    assert_eq!(c.tag, 2);
    c.check().unwrap();
    assert!(matches!(q.recv_timeout(SHORT), Err(Error::Timeout)));
    assert_eq!(q.outstanding(), 1);
    assert!(
        q.is_usable(),
        "a missing answer is not (yet) a broken protocol"
    );
    drop((c, q));
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_device_that_never_answers_times_out_and_tears_down() {
    let (mut q, domain) = faulty(&[(0, Fault::Hang)]);
    q.send(request(&q, 1)).unwrap();
    assert!(matches!(q.recv_timeout(SHORT), Err(Error::Timeout)));
    assert!(matches!(q.recv_timeout(SHORT), Err(Error::Timeout)));
    assert_eq!(q.outstanding(), 1);
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_late_answer_is_taken_after_a_timeout() {
    let (mut q, _domain) = faulty(&[(0, Fault::Late(Duration::from_millis(300)))]);
    q.send(request(&q, 1)).unwrap();
    assert!(matches!(q.recv_timeout(SHORT), Err(Error::Timeout)));
    let c = q.recv_timeout(WAIT).unwrap();
    c.check().unwrap();
    let out = c.dst.as_ref().unwrap().as_slice();
    let back = miniz_oxide::inflate::decompress_to_vec_zlib(out).unwrap();
    assert_eq!(back.len(), 65536);
    assert!(q.is_usable());
}

#[test]
fn an_answer_claiming_more_output_than_offered_breaks_the_queue() {
    let (mut q, domain) = faulty(&[(0, Fault::Overrun(100))]);
    q.send(request(&q, 1)).unwrap();
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(
        is_protocol(&e) && e.to_string().contains("output bytes"),
        "{e}"
    );
    assert_broken(&mut q, 1);
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_borrowed_run_whose_device_overruns_appends_nothing() {
    let (mut q, _domain) = faulty(&[(0, Fault::Overrun(100))]);
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(b"kept");
    let data = vec![7u8; 10000];
    let e = q
        .run_borrowed(
            Request::without_buffers(ReqType::Zlib),
            &data,
            &mut out,
            4096,
        )
        .unwrap_err();
    assert!(is_protocol(&e), "{e}");
    assert_eq!(out, b"kept", "nothing appended");
    // The lent share was exactly the space offered: the device could not write past it.
    // SAFETY: reading spare capacity the vector owns; the device is stopped (the failed
    // run stopped the queue), and these bytes were never lent past `4096`.
    let past = unsafe { std::slice::from_raw_parts(out.as_ptr().add(4 + 4096), 100) };
    assert!(
        past.iter().all(|&b| b != 0xee),
        "the IOMMU kept the device out"
    );
}

#[test]
fn a_device_writing_past_the_space_offered_inside_a_share_is_caught() {
    // A hand-made entry offers 1000 bytes of a 4096-byte buffer: the device can reach the
    // rest of the page, writes past `avail_out` and says so.
    let (mut q, domain) = faulty(&[(0, Fault::Overrun(64))]);
    let mut src = q.alloc(100).unwrap();
    src.fill(&[1u8; 100]);
    let dst = q.alloc(4096).unwrap();
    let sqe = ZipSqe::request(ReqType::Zlib, 0, 0, 0, src.iova(), 100, dst.iova(), 1000);
    // SAFETY: both buffers are shared and stay alive and untouched until the queue is
    // dropped (they drop after it, below).
    unsafe { q.send_raw(sqe, 1).unwrap() };
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(is_protocol(&e) && e.to_string().contains("1064"), "{e}");
    assert_broken(&mut q, 1);
    drop(q);
    let mut dst = dst;
    dst.set_len(4096);
    assert!(dst.as_slice()[1000..1064].iter().all(|&b| b == 0xee));
    drop((src, dst));
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn without_faults_the_same_requests_complete() {
    let (mut q, domain) = faulty(&[]);
    for t in 0..4 {
        q.send(request(&q, t)).unwrap();
    }
    for c in q.flush(WAIT).unwrap() {
        c.check().unwrap();
    }
    assert!(q.is_usable());
    drop(q);
    assert_eq!(domain.share_count(), 0);
}

#[test]
fn a_broken_queue_closes_and_frees_its_buffers() {
    // Closing is how a caller gives a broken queue up: it must not fail on the protocol
    // error that broke it, and the device is stopped before anything in flight is freed.
    let (mut q, domain) = faulty(&[(1, Fault::Repeat)]);
    q.send(request(&q, 1)).unwrap();
    q.send(request(&q, 2)).unwrap();
    q.send(request(&q, 3)).unwrap();
    q.recv_timeout(WAIT).unwrap().check().unwrap();
    q.recv_timeout(WAIT).unwrap().check().unwrap();
    let e = q.recv_timeout(WAIT).unwrap_err();
    assert!(is_protocol(&e), "{e}");
    assert!(!q.is_usable());
    let last = q.close().unwrap();
    assert!(last.is_empty(), "a broken queue hands nothing back");
    assert_eq!(domain.share_count(), 0, "closing frees its buffers");
}

#[test]
fn forged_result_words_are_reported_as_they_are_or_break_the_queue() {
    // The request's own slot with a status no device defines: a typed error naming it.
    let (mut q, domain) = faulty(&[(
        0,
        Fault::Forge {
            slot: 0,
            words: [10, 20, 0x77, 5],
        },
    )]);
    q.send(request(&q, 1)).unwrap();
    let c = q.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (c.tag, c.consumed, c.produced, c.status_raw),
        (1, 10, 20, 0x77)
    );
    assert!(matches!(
        c.check(),
        Err(Error::DeviceStatus { status: 0x77 })
    ));
    drop(c);
    q.close().unwrap();
    assert_eq!(domain.share_count(), 0);
    // A claim of more output than was offered, on the zero-copy path: the queue breaks and
    // the caller's vector keeps what it had.
    let (mut q, _) = faulty(&[(
        0,
        Fault::Forge {
            slot: 0,
            words: [10, 1 << 30, 0, 0],
        },
    )]);
    let mut out = b"kept".to_vec();
    let e = q
        .run_borrowed(
            Request::without_buffers(ReqType::Zlib),
            b"abc",
            &mut out,
            64,
        )
        .unwrap_err();
    assert!(is_protocol(&e), "{e}");
    assert_eq!(out, b"kept");
    q.close().unwrap();
}
