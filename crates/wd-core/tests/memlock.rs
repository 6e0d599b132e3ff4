//! The locked-memory limit of an ordinary user (`RLIMIT_MEMLOCK`, 8 MiB by default): the
//! normal jobs fit it, and a limit too small for any request is its own clear error, never
//! a DMA fault. On the soft device nothing is pinned and everything works at any limit; in
//! the QEMU guest (`tests/guest/run`) this runs on sdmdev through VFIO as uid 65534, where
//! the kernel charges pins to the limit, and on mainline uacce (SVA), where nothing is pinned.
//!
//! One test function: the limit belongs to the whole process, so nothing may run beside it.

use std::time::Duration;

use wd_core::abi::ReqType;
use wd_core::zip::{compress, compress_stream, decompress, default_opener, Format, ZipOptions};
use wd_core::{open_queue, Direction, Error, Request};

const MIB: u64 = 1 << 20;

fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            if i % 8192 < 3000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            } else {
                b"locked memory "[i % 14]
            }
        })
        .collect()
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    decompress(gz, Format::Gzip).unwrap()
}

/// True when requests on this process's queues are charged to its RLIMIT_MEMLOCK: a kernel
/// device, and no CAP_IPC_LOCK.
fn pins_are_charged() -> bool {
    let q = open_queue(Direction::Compress).unwrap();
    q.kind().pins_pages() && !wd_core::sys::has_cap_ipc_lock()
}

#[test]
fn jobs_fit_the_default_limit_and_a_tiny_limit_is_a_clear_error() {
    let charged = pins_are_charged();
    eprintln!(
        "device {}, pins charged to RLIMIT_MEMLOCK: {charged}",
        wd_core::default_device()
    );

    // The default limit of an ordinary user.
    wd_core::sys::set_memlock_limit(8 * MIB).unwrap();

    // One 5 MiB one-shot call each way.
    let five = data(5 << 20, 5);
    let gz = compress(&five, Format::Gzip, 6).unwrap();
    assert_eq!(gunzip(&gz), five);

    // A gzip trailer that claims far less than the member decodes to (damage, or a member
    // of more than 4 GiB, whose ISIZE is its size modulo 2^32) is only a first guess: the
    // output still grows a request's worth at a time, not one claimed byte per request.
    let third = data(300_000, 3);
    let mut lying = compress(&third, Format::Gzip, 1).unwrap();
    let n = lying.len();
    lying[n - 4..].copy_from_slice(&1u32.to_le_bytes());
    let submitted = || {
        let q = wd_core::pool::take(Direction::Decompress).unwrap();
        let s = q.stats().submitted;
        wd_core::pool::give_back(q).unwrap();
        s
    };
    let before = submitted();
    match decompress(&lying, Format::Gzip) {
        Err(Error::BadData(e)) => assert!(e.to_string().contains("checksum"), "{e}"),
        other => panic!("a wrong ISIZE: {other:?}"),
    }
    let requests = submitted() - before;
    assert!(
        requests <= 8,
        "{requests} requests for 300,000 bytes of output claimed as 1"
    );

    // A 15 MB file through compress_stream with four queues asked for (what would pin
    // 4 x (1 MiB + 2 MiB) without the budget).
    let big = data(15_000_000, 15);
    let opts = ZipOptions::default().queues(4);
    let mut out = Vec::new();
    compress_stream(
        &mut &big[..],
        &mut out,
        &opts,
        &default_opener,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(gunzip(&out), big);

    // Our own multi-piece gzip decodes piece by piece on two queues within the limit (the
    // pieces in flight are as many as the budget holds), not only as one stream; on a
    // device that cannot say that a piece ends where a block starts (uacce), as one stream.
    let indexed = compress(&big, Format::Gzip, 1).unwrap();
    let table = wd_core::pieces::read_index(&indexed).expect("an indexed stream");
    let q = wd_core::pool::take(Direction::Decompress).unwrap();
    let (apart, device) = (q.checks_block_ends(), q.describe());
    wd_core::pool::give_back(q).unwrap();
    let parallel =
        wd_core::pieces::decompress_pieces(&indexed, &table, None, 2, &default_opener).unwrap();
    if apart {
        assert!(
            parallel.as_deref() == Some(&big[..]),
            "the pieces did not decode"
        );
    } else {
        assert!(parallel.is_none(), "pieces decoded apart on {device}");
    }
    assert_eq!(
        wd_core::memlock::reserved(),
        0,
        "the decoder kept its budget"
    );

    // Three jobs at once share the one budget.
    std::thread::scope(|s| {
        let jobs: Vec<_> = (0..3)
            .map(|i| {
                let big = &big;
                s.spawn(move || {
                    let part = &big[i * 4_000_000..(i + 1) * 4_000_000];
                    let gz = compress(part, Format::Gzip, 1).unwrap();
                    assert_eq!(gunzip(&gz), part);
                })
            })
            .collect();
        for j in jobs {
            j.join().unwrap();
        }
    });
    assert_eq!(
        wd_core::memlock::reserved(),
        0,
        "a job kept its locked memory"
    );

    // A limit below the smallest request (one page in, one page out).
    wd_core::sys::set_memlock_limit(4096).unwrap();
    let small = data(100_000, 1);
    match compress(&small, Format::Gzip, 6) {
        Err(e @ Error::MemlockLimit { .. }) if charged => {
            let m = e.to_string();
            assert!(
                m.contains("RLIMIT_MEMLOCK") && m.contains("4096 bytes"),
                "{m}"
            );
            assert!(m.contains("ulimit -l") && m.contains("CAP_IPC_LOCK"), "{m}");
        }
        Ok(gz) if !charged => assert_eq!(gunzip(&gz), small),
        other => {
            panic!("charged={charged}: want the memlock error only when charged, got {other:?}")
        }
    }

    // A request of the caller's own, past the limit: the device refuses to pin it, and
    // the completion says so with the request's size, never as a DMA fault.
    let mut q = open_queue(Direction::Compress).unwrap();
    let mut src = q.alloc(1 << 20).unwrap();
    src.fill(&big[..1 << 20]);
    let dst = q.alloc(2 << 20).unwrap();
    q.send(Request::new(ReqType::Gzip, src, dst)).unwrap();
    let c = q.recv_timeout(Some(Duration::from_secs(60))).unwrap();
    match c.check() {
        Err(Error::MemlockLimit {
            needed: Some(n),
            limit: Some(4096),
        }) if charged => assert!(n >= 3 * MIB, "needed {n}"),
        Ok(()) if !charged => {}
        other => panic!("charged={charged}: got {other:?}"),
    }
    drop(q);
    wd_core::sys::set_memlock_limit(8 * MIB).unwrap();
}
