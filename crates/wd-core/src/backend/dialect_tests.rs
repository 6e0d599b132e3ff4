//! The ring driver on the `hisi_qm_v2` dialect, against a device played by the test: what
//! lands in the ring and the doorbell, and how answers come back. Runs everywhere; the
//! guest runs the same driver against the mainline `uacce` module. One file past 600 lines
//! on purpose: every test plays the same device through the helpers at its top.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::abi::{
    Cqe, Csum, Dialect, Direction, ReqType, Status, ZipSqe, CMD_CQ, CMD_SQ, RINGS_SIZE,
    V2_DOORBELL, V2_LSTBLK, V2_MMIO_SIZE,
};
use crate::backend::{Backend, DeviceKind};
use crate::dma::Domain;
use crate::error::{Error, Result};
use crate::queue::{Queue, Request};
use crate::ring::{Mmio, Region, Rings};
use crate::sys::EventFd;
use crate::zip::{gzip_header, zlib_header, GzipHeader};

const QN: u16 = 3;

fn heap_region(len: usize) -> Region {
    let words: Arc<Vec<AtomicU64>> = Arc::new((0..len / 8).map(|_| AtomicU64::new(0)).collect());
    let ptr = words.as_ptr() as *mut u8;
    // SAFETY: the words are 8-aligned, live as long as the owner, and only accessed
    // atomically (through the region).
    unsafe { Region::new(ptr, len, words) }
}

struct PlayedDevice {
    mmio: Mmio,
    rings: Rings,
    domain: Arc<Domain>,
    irq: EventFd,
    dialect: Dialect,
}

impl Backend for PlayedDevice {
    fn mmio(&self) -> &Mmio {
        &self.mmio
    }
    fn rings(&self) -> &Rings {
        &self.rings
    }
    fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }
    fn sqn(&self) -> u16 {
        QN
    }
    fn interrupt_fd(&self) -> BorrowedFd<'_> {
        self.irq.as_fd()
    }
    fn clear_interrupt(&self) {
        self.irq.drain();
    }
    fn kick(&self) {}
    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
    fn describe(&self) -> String {
        "played v2 device".into()
    }
    fn kind(&self) -> DeviceKind {
        DeviceKind::Soft
    }
    fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// A queue of `dialect` and the device side's views of its memory.
fn queue(dialect: Dialect, dir: Direction) -> (Queue, Mmio, Rings) {
    let mmio = Mmio::new(heap_region(V2_MMIO_SIZE));
    let rings = Rings::new(heap_region(RINGS_SIZE));
    let b = PlayedDevice {
        mmio: mmio.clone(),
        rings: rings.clone(),
        domain: Domain::soft(),
        irq: EventFd::new().unwrap(),
        dialect,
    };
    (Queue::new(Box::new(b), dir), mmio, rings)
}

fn last_doorbell(mmio: &Mmio) -> u64 {
    mmio.region().load64(V2_DOORBELL, Ordering::SeqCst)
}

/// Answers SQ entry `idx` as completion number `idx` (first pass, phase 1).
fn answer(rings: &Rings, idx: usize, status: u32, consumed: u32, produced: u32) {
    let mut e = rings.read_sqe(idx);
    e.dw[0] = consumed;
    e.dw[1] = produced;
    e.dw[3] = status;
    e.dw[31] = 0xc0ffee;
    rings.write_sqe(idx, &e);
    rings.write_cqe(idx, &Cqe::new(idx as u16, QN, true));
}

fn buf(q: &Queue, data: &[u8], cap: usize) -> crate::dma::DmaBuf {
    let mut b = q.alloc(cap).unwrap();
    b.fill(data);
    b
}

#[test]
fn a_gzip_compression_gets_its_header_from_the_driver() {
    let (mut q, mmio, rings) = queue(Dialect::V2, Direction::Compress);
    let src = buf(&q, b"hello", 4096);
    let dst = q.alloc(4096).unwrap();
    let (src_iova, dst_iova, cap) = (src.iova(), dst.iova(), dst.capacity());
    q.send(Request::new(ReqType::Gzip, src, dst).level(9).tag(42))
        .unwrap();
    assert_eq!(last_doorbell(&mmio), QN as u64 | CMD_SQ << 12 | 1 << 32);
    let e: ZipSqe = rings.read_sqe(0);
    assert_eq!((e.dw[7] >> 28, e.dw[9]), (0, 3), "type 0, gzip");
    assert_ne!(e.dw[13], 0, "the tag sits in dw13");
    assert_eq!(e.dw[26], 0);
    assert_eq!(e.dw[4], 5);
    assert_eq!(e.src(), src_iova);
    assert_eq!(e.dst(), dst_iova + 10, "the device writes after the header");
    assert_eq!(e.dw[14] as usize, cap - 10);
    assert_eq!(e.dw[3] & 0xff, 0xff, "pending until answered");
    // SAFETY: the destination belongs to the device until its completion, and the test
    // plays the device: IOVA = address in this domain.
    unsafe { std::ptr::copy_nonoverlapping(b"BODY".as_ptr(), (dst_iova + 10) as *mut u8, 4) };
    answer(&rings, 0, 0, 5, 4);
    let c = q.recv().unwrap().expect("a completion");
    assert_eq!(
        (c.tag, c.status(), c.consumed, c.produced),
        (42, Some(Status::Ok), 5, 14)
    );
    assert_eq!(c.checksum, 0xc0ffee, "dw31");
    let out = c.dst.as_ref().unwrap().as_slice();
    // The one gzip header WarpDrive writes. The engine compresses at its own level
    // whatever was asked, so the header names none (XFL 0), not the 9 asked for.
    assert_eq!(&out[..10], &gzip_header(0, &GzipHeader::default())[..]);
    assert_eq!(out[8], 0);
    assert_eq!(&out[10..], b"BODY");
    // Nothing is outstanding: the last store is the CQ doorbell with the new head.
    assert_eq!(last_doorbell(&mmio), QN as u64 | CMD_CQ << 12 | 1 << 32);
}

#[test]
fn the_sq_tail_is_stored_again_after_a_cq_doorbell_while_requests_are_out() {
    let (mut q, mmio, rings) = queue(Dialect::V2, Direction::Compress);
    for t in 0..2 {
        let r = Request::new(ReqType::Deflate, buf(&q, b"x", 64), q.alloc(64).unwrap());
        q.send(r.tag(t)).unwrap();
    }
    let e = rings.read_sqe(1);
    assert_eq!(
        (e.dw[7] >> 28, e.dw[13]),
        (3, 0),
        "deflate: type 3, tag in dw26"
    );
    assert_ne!(e.dw[26], 0);
    answer(&rings, 0, 0, 1, 1);
    let c = q.recv().unwrap().unwrap();
    assert_eq!((c.tag, c.produced), (0, 1), "no header on raw deflate");
    assert_eq!(last_doorbell(&mmio), QN as u64 | CMD_SQ << 12 | 2 << 32);
    assert_eq!(q.outstanding(), 1);
}

#[test]
fn a_decompression_skips_the_header_and_reads_the_end_of_stream() {
    let (mut q, _mmio, rings) = queue(Dialect::V2, Direction::Decompress);
    // A gzip header with a name: 10 + 4 bytes, then the body.
    let mut input = gzip_header(6, &GzipHeader::default());
    input[3] = 8;
    input.extend_from_slice(b"abc\0BODY");
    let src = buf(&q, &input, 4096);
    let src_iova = src.iova();
    q.send(Request::new(ReqType::Gzip, src, q.alloc(4096).unwrap()))
        .unwrap();
    let e = rings.read_sqe(0);
    assert_eq!((e.src(), e.dw[4]), (src_iova + 14, 4));
    answer(&rings, 0, 0x13 | V2_LSTBLK, 4, 100);
    let c = q.recv().unwrap().unwrap();
    assert_eq!(
        (c.status(), c.consumed, c.produced),
        (Some(Status::Ok), 18, 100)
    );
    // "done" without the last block: the input ended inside the stream.
    let src = buf(&q, &zlib_header(6), 64);
    q.send(Request::new(ReqType::Zlib, src, q.alloc(64).unwrap()))
        .unwrap();
    let e = rings.read_sqe(1);
    assert_eq!(e.dw[4], 0);
    answer(&rings, 1, 0, 0, 0);
    let c = q.recv().unwrap().unwrap();
    assert_eq!((c.status(), c.consumed), (Some(Status::NeedInput), 2));
}

#[test]
fn a_bad_or_short_header_is_answered_by_the_driver_through_an_empty_request() {
    let (mut q, _mmio, rings) = queue(Dialect::V2, Direction::Decompress);
    for (i, (input, want)) in [
        (&b"PK\x03\x04"[..], Status::DataError),
        (
            &gzip_header(6, &GzipHeader::default())[..6],
            Status::NeedInput,
        ),
        // FHCRC set and wrong: refused as zlib refuses it.
        (
            &b"\x1f\x8b\x08\x02\0\0\0\0\0\x03\x12\x34"[..],
            Status::DataError,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        q.send(Request::new(
            ReqType::Gzip,
            buf(&q, input, 64),
            q.alloc(64).unwrap(),
        ))
        .unwrap();
        let e = rings.read_sqe(i);
        assert_eq!((e.dw[4], e.dw[14]), (0, 0), "the device sees nothing to do");
        // Whatever the device says about an empty request, the driver's status stands.
        answer(&rings, i, 0x0e, 0, 0);
        let c = q.recv().unwrap().unwrap();
        // A header cut short is taken and held by the driver, as a v1 device takes it.
        let taken = if want == Status::NeedInput {
            input.len()
        } else {
            0
        };
        assert_eq!((c.status(), c.consumed, c.produced), (Some(want), taken, 0));
    }
    // v3: zlib in an entry of type 3, the header still the driver's.
    let (mut q, _mmio, rings) = queue(Dialect::V3, Direction::Compress);
    let r = Request::new(ReqType::Zlib, buf(&q, b"abc", 64), q.alloc(64).unwrap()).level(1);
    q.send(r).unwrap();
    let e = rings.read_sqe(0);
    assert_eq!((e.dw[7] >> 28, e.dw[13]), (3, 0));
    answer(&rings, 0, 0, 3, 5);
    let c = q.recv().unwrap().unwrap();
    // Level 1 was asked; the header names the default (FLEVEL 2), as the engine's own.
    assert_eq!(&c.dst.as_ref().unwrap().as_slice()[..2], &zlib_header(0));
    assert_eq!(&zlib_header(0), b"\x78\x9c");
    assert_eq!(c.produced, 7);
}

#[test]
fn a_checksum_choice_is_answered_by_the_driver_over_the_input() {
    // What compress_one and every whole piece of compress_stream send: raw deflate with
    // the checksum the gzip or zlib trailer needs.
    let (mut q, _mmio, rings) = queue(Dialect::V2, Direction::Compress);
    let data = b"the checksum of these bytes";
    for (i, (csum, want)) in [
        (Csum::Crc32, crate::zip::crc32(0, data)),
        (Csum::Adler32, crate::zip::adler32(1, data)),
    ]
    .into_iter()
    .enumerate()
    {
        let r = Request::new(ReqType::Deflate, buf(&q, data, 64), q.alloc(128).unwrap())
            .checksum(csum)
            .level(1);
        q.send(r).unwrap();
        let e = rings.read_sqe(i);
        assert_eq!((e.dw[7] >> 28, e.dw[9], e.dw[4]), (3, 1, data.len() as u32));
        // The played device answers 0xc0ffee in dw31: not what was asked for.
        answer(&rings, i, 0, data.len() as u32, 9);
        let c = q.recv().unwrap().unwrap();
        assert_eq!(
            (c.status(), c.consumed, c.produced, c.checksum),
            (Some(Status::Ok), data.len(), 9, want)
        );
    }
    // Borrowed memory (compress_one's way) gets the same answer.
    let (mut q, stop, t) = threaded(Direction::Compress);
    let mut out = Vec::new();
    let c = q
        .run_borrowed(
            Request::without_buffers(ReqType::Deflate).checksum(Csum::Crc32),
            data,
            &mut out,
            64,
        )
        .unwrap();
    assert_eq!(c.checksum, crate::zip::crc32(0, data));
    stop.store(true, Ordering::Release);
    t.join().unwrap();
    // A decompression has no input checksum to give.
    let (mut q, _mmio, _rings) = queue(Dialect::V2, Direction::Decompress);
    let r = Request::new(ReqType::Deflate, buf(&q, b"x", 64), q.alloc(64).unwrap())
        .checksum(Csum::Crc32);
    let e = q.send(r).unwrap_err().error;
    assert!(
        matches!(&e, Error::BadRequest(m) if m.contains("hisi_qm_v2")),
        "{e}"
    );
}

#[test]
fn a_piece_is_a_stateful_stream_and_a_nop_is_an_empty_deflate() {
    let (mut q, _mmio, rings) = queue(Dialect::V2, Direction::Compress);
    let r = Request::new(ReqType::Deflate, buf(&q, b"x", 64), q.alloc(64).unwrap()).partial();
    q.send(r).unwrap();
    let e = rings.read_sqe(0);
    assert_eq!((e.dw[7] >> 25) & 7, 0b110, "stateful, new, sync flush");
    assert_ne!(e.dw[22], 0, "the stream context buffer");
    answer(&rings, 0, 0, 1, 3);
    q.recv().unwrap().unwrap().check().unwrap();
    // The context buffer came with the queue: using it shares nothing more.
    let shares = q.domain().share_count();
    let r = Request::new(ReqType::Deflate, buf(&q, b"y", 64), q.alloc(64).unwrap()).partial();
    assert_eq!(
        q.domain().share_count(),
        shares + 2,
        "the request's two buffers"
    );
    q.send(r).unwrap();
    let e2 = rings.read_sqe(1);
    assert_eq!((e2.dw[22], e2.dw[23]), (e.dw[22], e.dw[23]));
    answer(&rings, 1, 0, 1, 3);
    q.recv().unwrap().unwrap().check().unwrap();
    q.send(Request::nop().tag(7)).unwrap();
    let e = rings.read_sqe(2);
    assert_eq!((e.dw[9], e.dw[4], e.dw[14]), (1, 0, 0));
    answer(&rings, 2, 0x0e, 0, 0);
    let c = q.recv().unwrap().unwrap();
    assert_eq!((c.tag, c.status(), c.produced), (7, Some(Status::Ok), 0));
}

#[test]
fn a_continued_decompression_goes_on_with_the_devices_stream() {
    let (mut q, _mmio, rings) = queue(Dialect::V2, Direction::Decompress);
    let header = gzip_header(6, &GzipHeader::default());
    // The header is cut short: the driver takes those bytes and holds them (as a v1
    // device takes them); the device holds no stream yet.
    q.send(Request::new(
        ReqType::Gzip,
        buf(&q, &header[..4], 64),
        q.alloc(64).unwrap(),
    ))
    .unwrap();
    assert_eq!(rings.read_sqe(0).dw[4], 0, "the device sees nothing to do");
    answer(&rings, 0, 0, 0, 0);
    let c = q.recv().unwrap().unwrap();
    assert_eq!((c.status(), c.consumed), (Some(Status::NeedInput), 4));
    // So a continued request finishes the header and starts the stream: the rest of the
    // header is skipped, stream_new is set.
    let mut input = header[4..].to_vec();
    input.extend_from_slice(b"BODY");
    let src = buf(&q, &input, 64);
    let src_iova = src.iova();
    q.send(Request::new(ReqType::Gzip, src, q.alloc(64).unwrap()).continue_stream())
        .unwrap();
    let e = rings.read_sqe(1);
    assert_eq!((e.src(), e.dw[4]), (src_iova + 6, 4));
    assert_eq!((e.dw[7] >> 25) & 7, 0b111, "stateful, new");
    // The device stops for output room and hands back its state words.
    let mut e = rings.read_sqe(1);
    e.dw[15] = 0x11;
    e.dw[28] = 0x22;
    e.dw[29] = 0x33;
    e.dw[30] = 0x44;
    rings.write_sqe(1, &e);
    answer(&rings, 1, 0x0e, 4, 64);
    let c = q.recv().unwrap().unwrap();
    assert_eq!((c.status(), c.consumed), (Some(Status::OutputTooSmall), 10));
    // The next continued request goes on: no header skipped, the words handed on.
    let src = buf(&q, b"more", 64);
    let src_iova = src.iova();
    q.send(Request::new(ReqType::Gzip, src, q.alloc(64).unwrap()).continue_stream())
        .unwrap();
    let e = rings.read_sqe(2);
    assert_eq!((e.src(), e.dw[4]), (src_iova, 4));
    assert_eq!((e.dw[7] >> 25) & 7, 0b011, "stateful, continued");
    assert_eq!(
        (e.dw[15], e.dw[28], e.dw[29], e.dw[30], e.dw[31]),
        (0x11, 0x22, 0x33, 0x44, 0xc0ffee)
    );
    answer(&rings, 2, 0x13 | V2_LSTBLK, 4, 10);
    let c = q.recv().unwrap().unwrap();
    assert_eq!((c.status(), c.consumed), (Some(Status::Ok), 4));
    // The stream ended: a continued request now starts a new one.
    let src = buf(&q, &header, 64);
    q.send(Request::new(ReqType::Gzip, src, q.alloc(64).unwrap()).continue_stream())
        .unwrap();
    let e = rings.read_sqe(3);
    assert_eq!((e.dw[4], (e.dw[7] >> 25) & 7), (0, 0b111));
}

/// A v2 device on a thread: takes SQ doorbells only (as the soft parent does) and
/// "compresses" by copying, so that the framing around it can be checked.
fn threaded(dir: Direction) -> (Queue, Arc<AtomicBool>, std::thread::JoinHandle<()>) {
    let (q, mmio, rings) = queue(Dialect::V2, dir);
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let t = std::thread::spawn(move || {
        let mut head = 0usize;
        while !s.load(Ordering::Acquire) {
            let db = last_doorbell(&mmio);
            let tail = (db >> 32) as u16 as usize;
            if (db >> 12) & 0xf != CMD_SQ || tail == head {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            while head != tail {
                let e = rings.read_sqe(head);
                let n = (e.dw[4] as usize).min(e.dw[14] as usize);
                // SAFETY: the driver lent both ranges for the request (soft domain:
                // address = IOVA) and does not touch them until the completion.
                unsafe {
                    std::ptr::copy_nonoverlapping(e.src() as *const u8, e.dst() as *mut u8, n)
                };
                let st = if dir == Direction::Decompress {
                    0x13 | V2_LSTBLK
                } else {
                    0
                };
                answer(&rings, head, st, e.dw[4], n as u32);
                head += 1;
            }
        }
    });
    (q, stop, t)
}

#[test]
fn run_borrowed_frames_the_callers_memory() {
    let (mut q, stop, t) = threaded(Direction::Compress);
    let mut out = b"prefix".to_vec();
    let c = q
        .run_borrowed(
            Request::without_buffers(ReqType::Zlib),
            b"payload",
            &mut out,
            64,
        )
        .unwrap();
    assert_eq!(
        (c.status(), c.consumed, c.produced),
        (Some(Status::Ok), 7, 9)
    );
    assert_eq!(out, b"prefix\x78\x9cpayload");
    // Less room than the header: nothing is written.
    let mut out = Vec::new();
    let c = q
        .run_borrowed(
            Request::without_buffers(ReqType::Gzip),
            b"payload",
            &mut out,
            5,
        )
        .unwrap();
    assert_eq!(c.status(), Some(Status::OutputTooSmall));
    assert!(out.is_empty());
    stop.store(true, Ordering::Release);
    t.join().unwrap();

    let (mut q, stop, t) = threaded(Direction::Decompress);
    let mut input = zlib_header(6).to_vec();
    input.extend_from_slice(b"body");
    let mut out = Vec::new();
    let c = q
        .run_borrowed(
            Request::without_buffers(ReqType::Zlib),
            &input,
            &mut out,
            64,
        )
        .unwrap();
    assert_eq!(
        (c.status(), c.consumed, c.produced),
        (Some(Status::Ok), 6, 4)
    );
    assert_eq!(out, b"body");
    stop.store(true, Ordering::Release);
    t.join().unwrap();
}

#[test]
fn a_raw_entry_is_read_back_by_its_own_type() {
    let (mut q, _mmio, rings) = queue(Dialect::V2, Direction::Compress);
    // A hand-made gzip entry (type 0: tag in dw13) and one of a type no device knows.
    for (i, dw9) in [(0usize, 3u32), (1, 0x44)] {
        let mut sqe = Dialect::V2.encode(ReqType::Gzip, 0, 0, 0, 0x1000, 10, 0x3000, 10);
        sqe.dw[9] = dw9;
        // SAFETY: the entry names memory no device of this test touches.
        unsafe { q.send_raw(sqe, i as u64) }.unwrap();
        let e = rings.read_sqe(i);
        assert_ne!(
            e.dw[13], 0,
            "the driver's tag goes where the entry's type puts it"
        );
        assert_eq!(e.dw[26], 0);
        answer(&rings, i, 0x21, 0, 0);
        let c = q.recv().unwrap().unwrap();
        assert_eq!((c.tag, c.status()), (i as u64, Some(Status::BadRequest)));
    }
}

#[test]
fn only_v1_queues_take_a_level() {
    for (d, takes) in [
        (Dialect::V1, true),
        (Dialect::V2, false),
        (Dialect::V3, false),
    ] {
        let (q, _, _) = queue(d, Direction::Compress);
        assert_eq!(q.takes_level(), takes, "{d:?}");
    }
    #[cfg(feature = "soft")]
    assert!(Queue::open_soft(Direction::Compress).unwrap().takes_level());
}

#[test]
fn a_stream_cut_inside_its_header_ends_as_truncated_on_v2() {
    // On v2 the driver reads the zlib/gzip header itself and answers a header it cannot
    // finish with an empty request (need input, nothing consumed). At the end of the input
    // that answer cannot change: the stream must end as truncated, not ask again forever.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (format, input) in [
            (crate::Format::Zlib, &[0x78u8][..]),
            (crate::Format::Gzip, &[0x1f, 0x8b, 8, 0][..]),
        ] {
            let (q, stop, t) = threaded(Direction::Decompress);
            let q = std::sync::Mutex::new(Some(q));
            let open = |_: Direction| Ok(q.lock().unwrap().take().expect("one queue"));
            let r = crate::zip::decompress_stream_limited(
                &mut &input[..],
                &mut Vec::new(),
                format,
                None,
                &open,
                &mut |_, _| {},
            );
            stop.store(true, Ordering::Release);
            t.join().unwrap();
            tx.send((format, r.map(|_| ()))).unwrap();
        }
    });
    for _ in 0..2 {
        let (format, r) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("decompress_stream did not return within 60 s");
        match r {
            Err(Error::BadData(e)) => {
                assert_eq!(e.kind(), crate::DataErrorKind::Truncated, "{format:?}")
            }
            other => panic!("{format:?}: want a truncated-stream error, got {other:?}"),
        }
    }
}

#[test]
fn the_header_names_no_level_where_the_engine_takes_none() {
    // v2/v3 entries carry no level: the same input at levels 1 and 9 is the same stream,
    // header included, whoever writes the header (the driver for zlib, the framing here
    // for gzip).
    let data = b"the same input at two levels".repeat(3);
    let (mut q, stop, t) = threaded(Direction::Compress);
    for format in [crate::Format::Gzip, crate::Format::Zlib] {
        let fast = crate::zip::compress_one(&mut q, &data, format, 1).unwrap();
        let small = crate::zip::compress_one(&mut q, &data, format, 9).unwrap();
        assert!(
            fast == small,
            "{format:?}: {:?} vs {:?}",
            &fast[..10],
            &small[..10]
        );
        match format {
            crate::Format::Gzip => assert_eq!(fast[8], 0, "XFL names no level"),
            _ => assert_eq!(&fast[..2], b"\x78\x9c", "FLEVEL 2, zlib's default"),
        }
    }
    stop.store(true, Ordering::Release);
    t.join().unwrap();
}

#[test]
fn an_inflater_fed_a_header_byte_by_byte_goes_on_on_v2() {
    // A gzip file object reads its input in small pieces. On v2 the driver reads the
    // header: each piece that ends inside it must be taken, or the decoder asks for the
    // same piece again forever.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (q, stop, t) = threaded(Direction::Decompress);
        let mut header = gzip_header(6, &GzipHeader::default());
        header[3] = 8;
        header.extend_from_slice(b"name\0");
        let mut inf = crate::codec::Inflater::on_queue(q, Some(crate::Format::Gzip));
        let mut out = Vec::new();
        let mut r = Ok(());
        for b in &header[..header.len() - 1] {
            match inf.inflate(std::slice::from_ref(b), &mut out, None) {
                Ok(d) if d.consumed == 1 && !d.finished => {}
                other => {
                    r = Err(format!("a header byte: {other:?}"));
                    break;
                }
            }
        }
        if r.is_ok() {
            let mut last = vec![header[header.len() - 1]];
            last.extend_from_slice(b"BODY");
            r = match inf.inflate(&last, &mut out, None) {
                Ok(d) if d.consumed == 5 && d.finished => Ok(()),
                other => Err(format!("the last piece: {other:?}")),
            };
        }
        let name = inf.gzip_header().and_then(|h| h.name);
        drop(inf);
        stop.store(true, Ordering::Release);
        t.join().unwrap();
        tx.send((r, out, name)).unwrap();
    });
    let (r, out, name) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the inflater did not return within 60 s");
    r.unwrap();
    assert_eq!(out, b"BODY");
    assert_eq!(name.as_deref(), Some(&b"name"[..]));
}
