//! Requests on the caller's memory (`Queue::run_borrowed`, `zip::compress_one`, and
//! `Request::with_input`): the soft device reads and writes it in place through a lease, a
//! domain that cannot lend copies, and no share outlives the call or the request, even when
//! the device dies mid-request or the queue is dropped with the request in flight.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wd_core::abi::ReqType;
use wd_core::backend::soft::{SoftBackend, SoftOptions};
use wd_core::backend::{Backend, Mmio, Rings};
use wd_core::dma::{Domain, IommuMapper};
use wd_core::zip::{compress_one, decompress_one, Format};
use wd_core::{Direction, InputBytes, Queue, Request};

fn text(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"borrowed memory, read in place; "[i % 32] ^ (i / 4096) as u8)
        .collect()
}

fn inflate(format: Format, z: &[u8]) -> Vec<u8> {
    match format {
        Format::Deflate => miniz_oxide::inflate::decompress_to_vec(z).unwrap(),
        Format::Zlib => miniz_oxide::inflate::decompress_to_vec_zlib(z).unwrap(),
        Format::Gzip => {
            // RFC 1952 with the 10-byte header and 8-byte trailer this driver writes.
            let body = miniz_oxide::inflate::decompress_to_vec(&z[10..z.len() - 8]).unwrap();
            let n = z.len();
            assert_eq!(
                u32::from_le_bytes(z[n - 4..].try_into().unwrap()) as usize,
                body.len()
            );
            assert_eq!(
                u32::from_le_bytes(z[n - 8..n - 4].try_into().unwrap()),
                crc32fast::hash(&body)
            );
            body
        }
    }
}

/// The soft IOMMU without the ability to lend: stands for a device (VFIO) that cannot
/// reach the caller's memory for free.
struct NoLending;

impl IommuMapper for NoLending {
    fn map(&self, _: u64, _: *mut u8, _: usize) -> wd_core::Result<()> {
        Ok(())
    }
    fn unmap(&self, _: u64, _: usize) -> wd_core::Result<()> {
        Ok(())
    }
}

/// A compress device in `domain` that holds every request until resumed.
fn paused_device(domain: &Arc<Domain>) -> SoftBackend {
    SoftBackend::start(
        domain.clone(),
        Direction::Compress,
        SoftOptions {
            start_paused: true,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn the_soft_device_works_in_the_callers_memory_and_no_share_outlives_the_call() {
    let domain = Domain::soft();
    let b = paused_device(&domain);
    let ctl = b.control();
    let mut q = Queue::new(Box::new(b), Direction::Compress);
    let before = domain.share_count();
    let data = text(300_000);
    let (out, shares_during) = std::thread::scope(|s| {
        let h = s.spawn(|| compress_one(&mut q, &data, Format::Gzip, 6).unwrap());
        // While the device holds the request, exactly the two leases are shared: the
        // input in place and the output's spare capacity; no buffer was allocated.
        let mut during = 0;
        for _ in 0..2000 {
            during = domain.share_count();
            if during > before {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        let settled = domain.share_count();
        ctl.resume();
        assert_eq!(during, settled);
        (h.join().unwrap(), settled)
    });
    assert_eq!(
        shares_during,
        before + 2,
        "input and output lent, nothing more"
    );
    assert!(
        !domain.is_shared(data.as_ptr() as u64, 1),
        "the input is no longer shared"
    );
    assert_eq!(
        domain.share_count(),
        before,
        "the leases ended with the call"
    );
    assert_eq!(domain.cached_buffers(), 0, "no buffer was used");
    assert!(inflate(Format::Gzip, &out) == data);
    assert_eq!(q.stats().submitted, 1);
}

#[test]
fn every_format_round_trips_lent_and_copied_alike() {
    let data = text(200_001);
    let lending = Queue::open_soft(Direction::Compress).unwrap();
    let copying = Queue::open_soft_with(
        Domain::new(Box::new(NoLending)),
        Direction::Compress,
        Default::default(),
    )
    .unwrap();
    let mut dec = Queue::open_soft(Direction::Decompress).unwrap();
    for mut q in [lending, copying] {
        for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
            for input in [&data[..], &data[..1], &[][..]] {
                let z = compress_one(&mut q, input, format, 1).unwrap();
                assert!(inflate(format, &z) == input, "{format:?} {}", input.len());
                // One stream: decoded on this queue whatever its output size.
                let back = decompress_one(&mut dec, &z, format).unwrap();
                assert!(back.as_deref() == Some(input), "{format:?} {}", input.len());
            }
        }
        assert_eq!(q.outstanding(), 0);
    }
}

#[test]
fn input_inside_a_shared_buffer_is_used_as_it_is_and_stays_shared() {
    let mut q = Queue::open_soft(Direction::Compress).unwrap();
    let mut buf = q.alloc(100_000).unwrap();
    buf.fill(&text(100_000));
    let shares = q.domain().share_count();
    let z = compress_one(&mut q, &buf.as_slice()[10..90_000], Format::Zlib, 6).unwrap();
    assert!(inflate(Format::Zlib, &z) == buf.as_slice()[10..90_000]);
    assert_eq!(q.domain().share_count(), shares);
    assert!(q.domain().is_shared(buf.iova(), buf.capacity()));
}

#[test]
fn overlapping_leases_are_refused_nested_ones_leave_the_outer_share() {
    let d = Domain::soft();
    let mem = vec![0u8; 10_000];
    let p = mem.as_ptr();
    let outer = d.lend(p, 8000).expect("lend");
    assert_eq!(d.share_count(), 1);
    // Straddling the end of the lent range: the caller must copy instead.
    assert!(d.lend(p.wrapping_add(4000), 5000).is_none());
    let inner = d
        .lend(p.wrapping_add(100), 100)
        .expect("inside an existing share");
    drop(inner);
    assert!(
        d.is_shared(p as u64, 8000),
        "the inner lease took nothing away"
    );
    drop(outer);
    assert_eq!(d.share_count(), 0);
    // Two leases of the same bytes (two requests on one object): the share lasts until
    // the last one ends, whichever ends first.
    let first = d.lend(p, 8000).expect("lend");
    let second = d.lend(p, 8000).expect("the same range again");
    let third = d.lend(p.wrapping_add(8), 80).expect("inside it");
    drop(first);
    assert!(d.is_shared(p as u64, 8000), "still lent to the others");
    drop(second);
    assert!(d.is_shared(p as u64, 8000), "still lent to the third");
    drop(third);
    assert_eq!(d.share_count(), 0, "the last lease undid the share");
    assert!(d.lend(p, 0).is_none(), "nothing to lend");
    let no = Domain::new(Box::new(NoLending));
    assert!(no.lend(p, 10).is_none(), "this domain cannot lend");
}

#[test]
fn bad_requests_are_refused_before_anything_is_lent() {
    let mut q = Queue::open_soft(Direction::Compress).unwrap();
    let shares = q.domain().share_count();
    let mut out = Vec::new();
    let e = q
        .run_borrowed(
            Request::without_buffers(ReqType::Gzip).level(12),
            b"x",
            &mut out,
            100,
        )
        .unwrap_err();
    assert!(e.to_string().contains("level"), "{e}");
    let e = compress_one(&mut q, &vec![0u8; (1 << 20) + 1], Format::Gzip, 1).unwrap_err();
    assert!(e.to_string().contains("one request"), "{e}");
    // A request without buffers cannot be sent the ordinary way.
    assert!(q.send(Request::without_buffers(ReqType::Gzip)).is_err());
    assert_eq!((q.domain().share_count(), out.len()), (shares, 0));
    assert_eq!(q.stats().submitted, 0);
}

/// A soft device that is declared dead once `dead` is set (as a removed device would be).
struct Dying {
    inner: SoftBackend,
    dead: Arc<AtomicBool>,
}

impl Backend for Dying {
    fn mmio(&self) -> &Mmio {
        self.inner.mmio()
    }
    fn rings(&self) -> &Rings {
        self.inner.rings()
    }
    fn domain(&self) -> &Arc<Domain> {
        self.inner.domain()
    }
    fn interrupt_fd(&self) -> BorrowedFd<'_> {
        self.inner.interrupt_fd()
    }
    fn clear_interrupt(&self) {
        self.inner.clear_interrupt()
    }
    fn kick(&self) {
        self.inner.kick()
    }
    fn check_alive(&self) -> wd_core::Result<()> {
        if self.dead.load(Ordering::SeqCst) {
            return Err(wd_core::Error::Protocol("device removed".into()));
        }
        Ok(())
    }
    fn stop(&mut self) -> wd_core::Result<()> {
        self.inner.stop()
    }
    fn describe(&self) -> String {
        "dying".into()
    }
    fn kind(&self) -> wd_core::backend::DeviceKind {
        self.inner.kind()
    }
}

#[test]
fn a_device_that_dies_mid_request_is_stopped_before_the_leases_end() {
    let domain = Domain::soft();
    let inner = paused_device(&domain);
    let dead = Arc::new(AtomicBool::new(true));
    let mut q = Queue::new(
        Box::new(Dying {
            inner,
            dead: dead.clone(),
        }),
        Direction::Compress,
    );
    let data = text(50_000);
    let mut out = b"kept".to_vec();
    let e = q
        .run_borrowed(
            Request::without_buffers(ReqType::Gzip).level(1),
            &data,
            &mut out,
            100_000,
        )
        .unwrap_err();
    assert!(e.to_string().contains("removed"), "{e}");
    assert_eq!(out, b"kept", "nothing appended");
    assert!(
        !q.is_usable(),
        "stopped: its device can no longer touch the memory"
    );
    assert_eq!(domain.share_count(), 0, "the leases ended");
}

/// Bytes `range` of a shared vector, as one request's owned input.
struct Part(Arc<Vec<u8>>, std::ops::Range<usize>);

// SAFETY: the vector is never written after it is shared in an `Arc`, and its elements
// live on the heap, so the range stays the same wherever `Part` moves.
unsafe impl InputBytes for Part {
    fn bytes(&self) -> &[u8] {
        &self.0[self.1.clone()]
    }
}

/// Sends `input` with a fresh output buffer on `q` (level 1 gzip).
fn send_owned(q: &mut Queue, input: impl InputBytes, tag: u64) {
    let dst = q.alloc(400_000).unwrap();
    q.send(
        Request::with_input(ReqType::Gzip, input, dst)
            .level(1)
            .tag(tag),
    )
    .unwrap();
}

/// The gzip stream a completion carries, checked against `want`.
fn check_gzip(c: &wd_core::Completion, want: &[u8]) {
    c.check().unwrap();
    let z = c.dst.as_ref().expect("output buffer back").as_slice();
    assert!(inflate(Format::Gzip, z) == want, "tag {}", c.tag);
}

#[test]
fn an_owned_input_is_read_in_place_and_its_lease_ends_with_the_completion() {
    let domain = Domain::soft();
    let b = paused_device(&domain);
    let ctl = b.control();
    let mut q = Queue::new(Box::new(b), Direction::Compress);
    let data: Arc<[u8]> = text(300_000).into();
    send_owned(&mut q, Arc::clone(&data), 1);
    let dst_and_input = domain.share_count();
    assert!(domain.is_shared(data.as_ptr() as u64, data.len()), "lent");
    assert_eq!(domain.cached_buffers(), 0);
    // The same bytes twice more, whole and in part: one share, kept by three leases.
    send_owned(&mut q, Arc::clone(&data), 2);
    let whole = Arc::new(data.to_vec());
    send_owned(&mut q, Part(Arc::clone(&whole), 0..200_000), 3);
    // Overlapping the third request's range without lying inside it: copied instead.
    send_owned(&mut q, Part(Arc::clone(&whole), 100_000..300_000), 4);
    assert_eq!(Arc::strong_count(&data), 3, "the queue holds the inputs");
    assert_eq!(
        Arc::strong_count(&whole),
        2,
        "the copied input is already dropped"
    );
    ctl.resume();
    let mut done = q.flush(Some(Duration::from_secs(30))).unwrap();
    done.sort_by_key(|c| c.tag);
    let lent: Vec<bool> = done.iter().map(|c| c.src.is_none()).collect();
    assert_eq!(
        lent,
        [true, true, true, false],
        "only the overlapping one was copied"
    );
    check_gzip(&done[0], &data);
    check_gzip(&done[1], &data);
    check_gzip(&done[2], &whole[..200_000]);
    check_gzip(&done[3], &whole[100_000..]);
    assert_eq!(
        Arc::strong_count(&data),
        1,
        "inputs dropped with their completions"
    );
    assert_eq!(Arc::strong_count(&whole), 1);
    assert!(
        !domain.is_shared(data.as_ptr() as u64, 1),
        "no lease outlived its request"
    );
    assert!(!domain.is_shared(whole.as_ptr() as u64, 1));
    // Four output buffers and one copy, still shared until dropped; no lent range left.
    assert_eq!(domain.share_count(), dst_and_input - 1 + 4);
}

#[test]
fn a_domain_that_cannot_lend_copies_owned_inputs_and_hands_the_copy_back() {
    let mut q = Queue::open_soft_with(
        Domain::new(Box::new(NoLending)),
        Direction::Compress,
        Default::default(),
    )
    .unwrap();
    let data = text(100_000);
    send_owned(&mut q, data.clone(), 7);
    send_owned(&mut q, Vec::new(), 8);
    let done = q.flush(None).unwrap();
    let c = done.iter().find(|c| c.tag == 7).unwrap();
    check_gzip(c, &data);
    assert!(c.src.as_ref().expect("the copy").as_slice() == data);
    let empty = done.iter().find(|c| c.tag == 8).unwrap();
    check_gzip(empty, b"");
}

#[test]
fn a_refused_owned_input_request_lends_nothing_and_gives_the_input_back() {
    let mut q = Queue::open_soft(Direction::Compress).unwrap();
    let data: Arc<[u8]> = text(10_000).into();
    let dst = q.alloc(100_000).unwrap();
    let shares = q.domain().share_count();
    let e = q
        .send(Request::with_input(ReqType::Gzip, Arc::clone(&data), dst).level(12))
        .unwrap_err();
    assert!(e.error.to_string().contains("level"), "{e}");
    assert_eq!(q.domain().share_count(), shares);
    assert_eq!(
        Arc::strong_count(&data),
        2,
        "the refused request still holds it"
    );
    let (src, dst) = e.request.into_buffers();
    assert!(src.is_none() && dst.is_some());
    assert_eq!(Arc::strong_count(&data), 1);
    assert_eq!(q.stats().submitted, 0);
}

#[test]
fn dropping_a_queue_with_owned_inputs_in_flight_ends_their_leases_then_frees_them() {
    let domain = Domain::soft();
    let b = paused_device(&domain);
    let mut q = Queue::new(Box::new(b), Direction::Compress);
    let data: Arc<[u8]> = text(50_000).into();
    for tag in 0..3 {
        send_owned(&mut q, Arc::clone(&data), tag);
    }
    assert!(domain.is_shared(data.as_ptr() as u64, data.len()));
    // The device never read them: stopping it leaves them untouched, then they go.
    drop(q);
    assert_eq!(Arc::strong_count(&data), 1);
    assert!(!domain.is_shared(data.as_ptr() as u64, 1));
    assert_eq!(
        domain.share_count(),
        0,
        "output buffers and leases all undone"
    );
}

#[test]
fn one_stream_that_outgrows_the_output_guess_is_continued_on_the_same_queue() {
    // 1 MiB that compresses far more than 4:1: the first request's space (4x the input,
    // at least 64 KiB) is too small, and the stream goes on with more.
    let data: Vec<u8> = text(1 << 20)
        .chunks(4096)
        .flat_map(|c| c[..64].repeat(64))
        .collect();
    let mut c = Queue::open_soft(Direction::Compress).unwrap();
    let lending = Queue::open_soft(Direction::Decompress).unwrap();
    let copying = Queue::open_soft_with(
        Domain::new(Box::new(NoLending)),
        Direction::Decompress,
        Default::default(),
    )
    .unwrap();
    for mut dec in [lending, copying] {
        for format in [Format::Deflate, Format::Zlib] {
            let z = compress_one(&mut c, &data, format, 6).unwrap();
            assert!(z.len() * 4 < data.len(), "{format:?}: {} bytes", z.len());
            let back = decompress_one(&mut dec, &z, format).unwrap();
            assert!(back.as_deref() == Some(&data[..]), "{format:?}");
            // The limit still holds across continuations.
            let e = wd_core::zip::decompress_one_limited(&mut dec, &z, format, Some(300_000))
                .unwrap_err();
            assert!(e.to_string().contains("300000"), "{e}");
            assert_eq!(dec.outstanding(), 0);
        }
    }
}

#[test]
fn a_kept_output_vector_gives_the_same_results_as_a_new_one() {
    // `compress_into` and `decompress_into` write into the caller's vector (cleared
    // first, capacity kept) and must offer the device the same room as the forms that
    // return a new vector: same output, and the same point where a decompression runs out
    // of room or over its limit.
    use wd_core::zip::{compress, compress_into, decompress_into, decompress_limited};
    let data = text(200_000);
    // Stale content and more capacity than any one request here needs.
    let mut kept = vec![0xa5u8; 3 << 20];
    for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
        for level in [1, 6] {
            let z = compress(&data, format, level).unwrap();
            compress_into(&data, format, level, &mut kept).unwrap();
            assert_eq!(kept, z, "{format:?} level {level}");
            assert!(kept.capacity() >= 3 << 20, "the capacity is kept");

            kept.resize(1000, 0x5a);
            let sink = decompress_into(&z, format, None, &mut kept, Vec::new()).unwrap();
            assert!(sink.is_none(), "one request's output is in the kept vector");
            assert_eq!(kept, data, "{format:?} level {level}");
            assert!(kept.capacity() >= 3 << 20, "the capacity is kept");
            // A limit below the output fails the same way, room or not.
            let e = decompress_limited(&z, format, Some(70_000)).unwrap_err();
            let e2 = decompress_into(&z, format, Some(70_000), &mut kept, Vec::new()).unwrap_err();
            assert_eq!(e.to_string(), e2.to_string());
        }
    }
    // Two gzip members are not one request's output: they are streamed into the sink, and
    // the kept vector is left empty (its room is not held while the stream runs).
    let mut two = compress(&data[..1000], Format::Gzip, 1).unwrap();
    two.extend(compress(&data[1000..3000], Format::Gzip, 1).unwrap());
    kept.resize(10, 1);
    let sink = decompress_into(&two, Format::Gzip, None, &mut kept, Vec::new()).unwrap();
    assert_eq!(sink.as_deref(), Some(&data[..3000]));
    assert!(kept.is_empty());
    // Input of several requests: compressed in pieces (with the piece index, which the
    // reusing decompression reads too).
    let big = text(3 << 20);
    let whole = compress(&big, Format::Gzip, 1).unwrap();
    kept.resize(7, 7);
    compress_into(&big, Format::Gzip, 1, &mut kept).unwrap();
    assert_eq!(kept, whole);
    let sink = decompress_into(&whole, Format::Gzip, None, &mut kept, Vec::new()).unwrap();
    assert!(sink.is_none());
    assert_eq!(kept, big);
}
