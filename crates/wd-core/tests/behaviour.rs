//! Behaviour every backend must show, run through `open_queue`: on the host against the
//! soft device, in the QEMU guest (`tests/guest/run`) against sdmdev through VFIO with
//! `WARPDRIVE_DEVICE=vfio` and against mainline uacce with `WARPDRIVE_DEVICE=uacce`.
//! Nothing here may depend on one backend's test knobs.

mod common;

use std::time::Duration;

use wd_core::abi::{ReqType, Status, ZipSqe};
use wd_core::zip::{compress_stream, decompress_stream, default_opener, Format};
use wd_core::{open_queue, Completion, DeviceKind, Direction, Error, Queue, Request};

const WAIT: Option<Duration> = Some(Duration::from_secs(60));

fn queue(dir: Direction) -> Queue {
    let q = open_queue(dir).expect("open a queue");
    // The guest run must really exercise the backend it asked for.
    if let Ok(want) = std::env::var("WARPDRIVE_DEVICE") {
        let want: DeviceKind = want.parse().expect("WARPDRIVE_DEVICE names a device kind");
        assert_eq!(q.kind(), want, "{} is not {want}", q.describe());
    }
    q
}

fn job(q: &mut Queue, t: ReqType, input: &[u8], space: usize) -> Completion {
    let mut src = q.alloc(input.len()).unwrap();
    src.fill(input);
    let dst = q.alloc(space).unwrap();
    q.send(Request::new(t, src, dst)).unwrap();
    q.recv_timeout(WAIT).unwrap()
}

fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            if i % 4096 < 2048 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as u8
            } else {
                b"accelerator queue "[i % 18]
            }
        })
        .collect()
}

#[test]
fn nops_wrap_the_ring_several_times() {
    let mut q = queue(Direction::Compress);
    let total = 3 * 1024 + 100;
    let mut seen = vec![false; total];
    let (mut sent, mut got) = (0usize, 0usize);
    while got < total {
        let mut batch: Vec<Request> = (sent..(sent + 100).min(total))
            .map(|t| Request::nop().tag(t as u64))
            .collect();
        if !batch.is_empty() {
            match q.send_batch(&mut batch) {
                Ok(n) => sent += n,
                Err(Error::QueueFull) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let c = q.recv_timeout(WAIT).unwrap();
        c.check().unwrap();
        assert!(!seen[c.tag as usize]);
        seen[c.tag as usize] = true;
        got += 1;
    }
    assert!(seen.iter().all(|&s| s));
}

#[test]
fn device_statuses_arrive_typed() {
    let mut c = queue(Direction::Compress);
    let mut d = queue(Direction::Decompress);
    let data = mixed(100_000, 5);
    let r = job(&mut c, ReqType::Gzip, &data, 200_000);
    r.check().unwrap();
    let gz = r.dst.unwrap().as_slice().to_vec();
    let r = job(&mut c, ReqType::Zlib, b"x", 4096);
    assert_eq!(r.status(), Some(Status::OkNotShrunk));
    let r = job(&mut c, ReqType::Gzip, &mixed(50_000, 1), 100);
    assert_eq!(r.status(), Some(Status::OutputTooSmall));

    let r = job(&mut d, ReqType::Gzip, &gz, 200_000);
    assert_eq!(r.status(), Some(Status::Ok));
    assert_eq!(r.dst.unwrap().as_slice(), &data[..]);
    let mut bad = gz.clone();
    let n = bad.len();
    bad[n - 7] ^= 0x10;
    assert_eq!(
        job(&mut d, ReqType::Gzip, &bad, 200_000).status(),
        Some(Status::ChecksumError)
    );
    assert_eq!(
        job(&mut d, ReqType::Gzip, &gz[..n / 2], 200_000).status(),
        Some(Status::NeedInput)
    );
    assert_eq!(
        job(&mut d, ReqType::Gzip, &[7u8; 64], 4096).status(),
        Some(Status::DataError)
    );

    let mut sqe = ZipSqe::request(ReqType::Nop, 0, 0, 0, 0, 0, 0, 0);
    sqe.dw[9] = 0x44;
    // SAFETY: the entry names no memory.
    unsafe { d.send_raw(sqe, 1) }.unwrap();
    assert_eq!(
        d.recv_timeout(WAIT).unwrap().status(),
        Some(Status::BadRequest)
    );
}

#[test]
fn an_unshared_address_faults_and_nothing_is_touched() {
    let mut q = queue(Direction::Compress);
    let mut shared = q.alloc(8192).unwrap();
    shared.fill(&[0xAB; 8192]);
    let mut out = q.alloc(8192).unwrap();
    out.fill(&[0xCD; 8192]);
    let private = vec![0x11u8; 8192];
    let mut private_out = vec![0x22u8; 8192];
    // A uacce device reaches the whole address space of the process (SVA): there, what the
    // device cannot reach is what is not mapped at all (below mmap_min_addr).
    let (unshared_in, unshared_out) = if q.kind() == wd_core::DeviceKind::Uacce {
        (0x1000, 0x4000)
    } else {
        (private.as_ptr() as u64, private_out.as_mut_ptr() as u64)
    };
    let cases = [
        (unshared_in, 4096u32, out.iova(), 8192u32),
        (shared.iova(), 4096, unshared_out, 8192),
    ];
    for (i, (src, n, dst, space)) in cases.into_iter().enumerate() {
        let sqe = ZipSqe::request(ReqType::Gzip, 0, 1, 0, src, n, dst, space);
        // SAFETY: each entry names unshared memory (which must fault) and one of the two
        // shared buffers, which this test leaves alone until the completion.
        unsafe { q.send_raw(sqe, i as u64) }.unwrap();
        let c = q.recv_timeout(WAIT).unwrap();
        assert_eq!(c.status(), Some(Status::DmaFault), "case {i}");
    }
    assert!(shared.as_slice().iter().all(|&b| b == 0xAB));
    assert!(out.as_slice().iter().all(|&b| b == 0xCD));
    assert!(private.iter().all(|&b| b == 0x11));
    assert!(private_out.iter().all(|&b| b == 0x22));
    assert_eq!(q.stats().faults, 2);
}

fn round_trip(data: &[u8], format: Format, level: u32, chunk: usize) {
    let opts = common::piece_options(format, level, chunk);
    let mut comp = Vec::new();
    compress_stream(
        &mut &data[..],
        &mut comp,
        &opts,
        &default_opener,
        &mut |_, _| {},
    )
    .unwrap();
    let reference = match format {
        Format::Deflate => miniz_oxide::inflate::decompress_to_vec(&comp).unwrap(),
        Format::Zlib => miniz_oxide::inflate::decompress_to_vec_zlib(&comp).unwrap(),
        Format::Gzip => miniz_oxide::inflate::decompress_to_vec(&comp[10..comp.len() - 8]).unwrap(),
    };
    assert_eq!(
        reference,
        data,
        "{format:?} level {level} len {}",
        data.len()
    );
    let mut back = Vec::new();
    decompress_stream(
        &mut &comp[..],
        &mut back,
        format,
        &default_opener,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(back, data);
}

#[test]
fn streams_round_trip_across_piece_boundaries() {
    for format in [Format::Deflate, Format::Zlib, Format::Gzip] {
        for len in [0, 1, 4095, 4096, 4097, 3 * 4096 + 1] {
            round_trip(&mixed(len, len as u64), format, 6, 4096);
        }
        round_trip(&mixed(3 << 20, 9), format, 1, 1 << 20);
    }
}

#[test]
fn multi_member_gzip_reads_whole() {
    let a = mixed(70_000, 1);
    let b = mixed(3 << 20, 2);
    let mut gz = wd_core::zip::compress(&a, Format::Gzip, 1).unwrap();
    gz.extend(wd_core::zip::compress(&b, Format::Gzip, 6).unwrap());
    assert_eq!(
        wd_core::zip::decompress(&gz, Format::Gzip).unwrap(),
        [a, b].concat()
    );
}

#[test]
fn both_ways_of_waiting_deliver() {
    let mut q = queue(Direction::Compress);
    // 2 MiB in and 3 MiB of room: 5 MiB pinned on a kernel device, within an ordinary
    // user's default 8 MiB locked-memory limit.
    let data = mixed(2 << 20, 3);
    let r = job(&mut q, ReqType::Gzip, &data, 3 << 20);
    r.check().unwrap();
    assert!(
        q.stats().waits >= 1,
        "a 2 MiB request must make the driver sleep"
    );
    // Readiness through the fd, as an event loop would see it.
    let mut src = q.alloc(data.len()).unwrap();
    src.fill(&data);
    q.send(Request::new(ReqType::Zlib, src, q.alloc(3 << 20).unwrap()).level(6))
        .unwrap();
    let mut done = Vec::new();
    while done.is_empty() {
        if q.arm_interrupt().unwrap() {
            let r = wd_core::sys::poll_readable(&[q.readiness_fd()], WAIT).unwrap();
            assert_eq!(r, vec![0], "the interrupt fd never became readable");
            q.clear_readiness();
        }
        q.recv_many(&mut done, 8).unwrap();
    }
    done[0].check().unwrap();
}
