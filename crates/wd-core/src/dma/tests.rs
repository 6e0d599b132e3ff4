//! Unit tests of `dma.rs`: sharing and unsharing, overlap and range checks, the buffer
//! cache, and lending (with a mock IOMMU that records or refuses mappings).

use super::*;

#[test]
fn buffers_are_shared_until_dropped() {
    let d = Domain::soft();
    let mut b = d.alloc(100).unwrap();
    assert_eq!(b.capacity(), crate::sys::page_size());
    assert_eq!(b.iova() as usize % crate::sys::page_size(), 0);
    assert!(d.is_shared(b.iova(), b.capacity()));
    assert!(d.is_shared(b.iova() + 10, 20));
    assert!(!d.is_shared(b.iova(), b.capacity() + 1));
    b.fill(b"hello");
    assert_eq!(b.as_slice(), b"hello");
    let iova = b.iova();
    drop(b);
    assert!(!d.is_shared(iova, 1));
    assert_eq!(d.share_count(), 0);
}

#[test]
fn freed_buffers_are_reused_while_shared_and_released_on_demand() {
    let d = Domain::soft();
    d.enable_cache();
    let a = d.alloc(100_000).unwrap();
    let iova = a.iova();
    drop(a);
    assert_eq!((d.cached_buffers(), d.share_count()), (1, 1));
    assert!(d.is_shared(iova, 100_000), "a cached buffer stays shared");
    // Too small a request does not take a buffer more than twice its size.
    let small = d.alloc(4096).unwrap();
    assert_ne!(small.iova(), iova);
    let b = d.alloc(90_000).unwrap();
    assert_eq!(b.iova(), iova, "reused");
    assert_eq!(d.cached_buffers(), 0);
    drop((b, small));
    d.release_cache();
    assert_eq!((d.cached_buffers(), d.share_count()), (0, 0));
}

#[test]
fn the_cache_alone_is_asked_without_a_new_share() {
    let d = Domain::soft();
    assert!(
        d.alloc_cached(100).is_none(),
        "a disabled cache has nothing"
    );
    d.enable_cache();
    assert!(
        d.alloc_cached(100_000).is_none(),
        "an empty cache has nothing"
    );
    assert_eq!(d.share_count(), 0, "and asking shares nothing");
    let a = d.alloc(100_000).unwrap();
    let iova = a.iova();
    assert_eq!(a.into_cache().map_err(|b| b.iova()), Ok(()));
    assert_eq!((d.cached_buffers(), d.share_count()), (1, 1));
    assert!(
        d.alloc_cached(40_000).is_none(),
        "more than twice the size asked for"
    );
    let b = d.alloc_cached(90_000).expect("cached");
    assert_eq!((b.iova(), b.len()), (iova, 0));
    assert_eq!((d.cached_buffers(), d.share_count()), (0, 1));
    drop(b);
    d.release_cache();
    assert_eq!(d.share_count(), 0);
}

#[test]
fn a_buffer_the_cache_has_no_room_for_comes_back_whole() {
    let d = Domain::soft();
    let off = d.alloc(4096).unwrap();
    let iova = off.iova();
    // The cache is not enabled: the buffer comes back, still shared, until dropped.
    let back = off.into_cache().expect_err("not kept");
    assert_eq!(back.iova(), iova);
    assert!(d.is_shared(iova, 4096));
    drop(back);
    assert_eq!(d.share_count(), 0);
    d.enable_cache();
    let mut kept = Vec::new();
    for _ in 0..CACHE_MAX_BUFFERS {
        kept.push(d.alloc(4096).unwrap());
    }
    let extra = d.alloc(4096).unwrap();
    for b in kept {
        b.into_cache().expect("room for every one");
    }
    assert_eq!(d.cached_buffers(), CACHE_MAX_BUFFERS);
    let extra = extra.into_cache().expect_err("the cache is full");
    drop(extra);
    assert_eq!(
        d.share_count(),
        CACHE_MAX_BUFFERS,
        "the one not kept was unshared"
    );
    d.release_cache();
    assert_eq!(d.share_count(), 0);
}

#[test]
fn overlapping_shares_are_refused() {
    let d = Domain::soft();
    let b = d.alloc(3 * 4096).unwrap();
    let base = b.iova();
    for (a, l) in [
        (base, 1),
        (base + 4096, 4096),
        (base - 4096, 4097),
        (base + 8191, 10),
    ] {
        let e = d.share(a, a as *mut u8, l).unwrap_err();
        assert!(
            matches!(e, Error::Share(ref m) if m.contains("overlaps")),
            "{e}"
        );
    }
    // Adjacent ranges are fine.
    d.share(base + b.capacity() as u64, std::ptr::null_mut(), 4096)
        .unwrap();
    d.unshare(base + b.capacity() as u64, 4096).unwrap();
    assert!(d.unshare(base + 1, 4096).is_err());
    drop(b);
    assert_eq!(d.share_count(), 0);
}

#[test]
fn empty_ranges_are_always_reachable_and_wrapping_ones_never() {
    let d = Domain::soft();
    assert!(d.is_shared(0x1000, 0));
    assert!(!d.is_shared(u64::MAX - 2, 10));
    assert!(d.device_access(&[(5, 0)]).is_some());
    assert!(d.device_access(&[(5, 1)]).is_none());
}

/// What the mock IOMMU was asked: ("map" or "unmap", iova, len).
type IommuLog = Arc<Mutex<Vec<(&'static str, u64, usize)>>>;

/// An IOMMU that records what it is asked and refuses one address: the registry is
/// tested without mmap or ioctl (so under Miri too).
struct MockIommu {
    log: IommuLog,
    refuse: u64,
}

impl IommuMapper for MockIommu {
    fn map(&self, iova: u64, _vaddr: *mut u8, len: usize) -> Result<()> {
        if iova == self.refuse {
            return Err(Error::Share("refused by the mock IOMMU".into()));
        }
        self.log.lock().unwrap().push(("map", iova, len));
        Ok(())
    }
    fn unmap(&self, iova: u64, len: usize) -> Result<()> {
        self.log.lock().unwrap().push(("unmap", iova, len));
        Ok(())
    }
    fn lends_process_memory(&self) -> bool {
        true
    }
}

fn mock(refuse: u64) -> (Arc<Domain>, IommuLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let d = Domain::new(Box::new(MockIommu {
        log: Arc::clone(&log),
        refuse,
    }));
    (d, log)
}

#[test]
fn lent_memory_is_mapped_once_kept_by_every_lease_and_unmapped_by_the_last() {
    let (d, log) = mock(0);
    let mut mem = vec![0u8; 256];
    let base = mem.as_mut_ptr();
    let iova = base as u64;
    let whole = d.lend(base, 256).unwrap();
    // A range inside a lent share keeps it; one overlapping its end is refused.
    let part = d.lend(base.wrapping_add(16), 32).unwrap();
    assert!(d.lend(base.wrapping_add(200), 100).is_none());
    assert!(d.lend(base, 0).is_none(), "empty ranges are never lent");
    assert_eq!(*log.lock().unwrap(), [("map", iova, 256)]);
    assert!(d.is_shared(iova + 16, 32));
    assert!(!d.is_shared(iova + 250, 10));
    // The device writes the part and reads the whole, as it would for a request.
    let access = d.device_access(&[(iova, 256), (iova + 16, 32)]).unwrap();
    // SAFETY: both ranges are lent and checked; `mem` is not touched while the slices
    // live, and the written one is dropped before the read one is made.
    unsafe { access.write(iova + 16, 32) }.fill(7);
    // SAFETY: as above.
    let seen: u32 = unsafe { access.read(iova, 256) }
        .iter()
        .map(|&b| b as u32)
        .sum();
    assert_eq!(seen, 7 * 32);
    drop(whole);
    assert_eq!(d.share_count(), 1, "the inner lease still keeps the share");
    assert_eq!(log.lock().unwrap().len(), 1);
    drop(part);
    assert_eq!(d.share_count(), 0);
    assert_eq!(
        *log.lock().unwrap(),
        [("map", iova, 256), ("unmap", iova, 256)]
    );
    assert!(
        d.device_access(&[(iova, 1)]).is_none(),
        "a DMA fault once unshared"
    );
    assert_eq!(mem[16..48], [7; 32]);
}

#[test]
fn a_share_the_iommu_refuses_is_not_registered() {
    let mut mem = vec![0u8; 64];
    let (d, log) = mock(mem.as_mut_ptr() as u64);
    assert!(d.lend(mem.as_mut_ptr(), 64).is_none());
    let e = d
        .share(mem.as_ptr() as u64, mem.as_mut_ptr(), 64)
        .unwrap_err();
    assert!(e.to_string().contains("refused"), "{e}");
    assert_eq!(d.share_count(), 0);
    assert!(log.lock().unwrap().is_empty());
    // Registry-only shares of other ranges still work, and wrapping ranges never do.
    d.share(0x1000, std::ptr::null_mut(), 0x1000).unwrap();
    assert!(d.share(u64::MAX - 10, std::ptr::null_mut(), 100).is_err());
    assert!(
        d.unshare(0x1000, 0x800).is_err(),
        "only the exact range is undone"
    );
    d.unshare(0x1000, 0x1000).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [("map", 0x1000, 0x1000), ("unmap", 0x1000, 0x1000)]
    );
}
