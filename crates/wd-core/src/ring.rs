//! Raw access to memory shared with a device: the MMIO page and the ring region.
//!
//! Every access is an atomic operation on a naturally aligned word, so the driver and a
//! device running concurrently (the soft device's thread, the kernel, hardware) never race
//! in the Rust memory model's sense. Ordering is chosen by the callers: release before a
//! doorbell, acquire after a phase bit.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use crate::abi::{Cqe, ZipSqe, CQE_SIZE, CQ_OFFSET, RINGS_SIZE, RING_DEPTH, SQE_SIZE};

/// A window onto device-shared memory that keeps its backing mapping alive.
#[derive(Clone)]
pub struct Region {
    ptr: *mut u8,
    len: usize,
    _owner: Arc<dyn Send + Sync>,
}

// SAFETY: all access goes through atomics; the owner keeps the memory mapped.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .finish()
    }
}

impl Region {
    /// Wraps `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be 8-byte aligned and `len` bytes at it must stay mapped, readable and
    /// writable for as long as `owner` is alive, and be accessed by others only with
    /// atomic word operations (or by a device).
    pub unsafe fn new(ptr: *mut u8, len: usize, owner: Arc<dyn Send + Sync>) -> Region {
        assert_eq!(ptr as usize % 8, 0, "region must be 8-byte aligned");
        Region {
            ptr,
            len,
            _owner: owner,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length region.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(
            off % 4 == 0 && off + 4 <= self.len,
            "u32 offset {off:#x} out of region"
        );
        // SAFETY: in bounds and aligned (checked above; the base is 8-aligned); the memory
        // is live while `self` holds its owner, and only accessed atomically.
        unsafe { &*(self.ptr.add(off) as *const AtomicU32) }
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(
            off % 8 == 0 && off + 8 <= self.len,
            "u64 offset {off:#x} out of region"
        );
        // SAFETY: as in `u32_at`, with 8-byte alignment checked.
        unsafe { &*(self.ptr.add(off) as *const AtomicU64) }
    }

    /// Atomic 32-bit load.
    pub fn load32(&self, off: usize, order: Ordering) -> u32 {
        self.u32_at(off).load(order)
    }

    /// Atomic 32-bit store.
    pub fn store32(&self, off: usize, v: u32, order: Ordering) {
        self.u32_at(off).store(v, order)
    }

    /// Atomic 32-bit exchange.
    pub fn swap32(&self, off: usize, v: u32, order: Ordering) -> u32 {
        self.u32_at(off).swap(v, order)
    }

    /// Atomic 64-bit load.
    pub fn load64(&self, off: usize, order: Ordering) -> u64 {
        self.u64_at(off).load(order)
    }

    /// Atomic 64-bit store (a doorbell write).
    pub fn store64(&self, off: usize, v: u64, order: Ordering) {
        self.u64_at(off).store(v, order)
    }

    /// Atomic 64-bit exchange (software devices consume the CQ doorbell this way).
    pub fn swap64(&self, off: usize, v: u64, order: Ordering) -> u64 {
        self.u64_at(off).swap(v, order)
    }

    /// Sets every word to zero (ring reset before a device starts).
    pub fn zero(&self) {
        for off in (0..self.len / 8 * 8).step_by(8) {
            self.store64(off, 0, Ordering::Relaxed);
        }
    }
}

/// The ring region (region 1) seen as a submission ring and a completion ring.
#[derive(Clone, Debug)]
pub struct Rings {
    mem: Region,
}

impl Rings {
    /// Views `mem` as rings; it must be at least [`RINGS_SIZE`] bytes.
    pub fn new(mem: Region) -> Rings {
        assert!(mem.len() >= RINGS_SIZE, "ring region too small");
        Rings { mem }
    }

    fn sqe_off(idx: usize) -> usize {
        assert!(idx < RING_DEPTH);
        idx * SQE_SIZE
    }

    fn cqe_off(idx: usize) -> usize {
        assert!(idx < RING_DEPTH);
        CQ_OFFSET + idx * CQE_SIZE
    }

    /// Reads submission entry `idx` (relaxed; order it with a fence or an acquire).
    pub fn read_sqe(&self, idx: usize) -> ZipSqe {
        let base = Self::sqe_off(idx);
        let mut e = ZipSqe::default();
        for (i, w) in e.dw.iter_mut().enumerate() {
            *w = self.mem.load32(base + i * 4, Ordering::Relaxed);
        }
        e
    }

    /// Writes submission entry `idx` (relaxed; publish it with a release doorbell).
    pub fn write_sqe(&self, idx: usize, e: &ZipSqe) {
        let base = Self::sqe_off(idx);
        for (i, w) in e.dw.iter().enumerate() {
            self.mem.store32(base + i * 4, *w, Ordering::Relaxed);
        }
    }

    /// Device side: writes only the result words of SQ entry `idx` (consumed, produced,
    /// status, checksum), all in the entry's first cache line; published by the completion.
    pub fn write_sqe_results(&self, idx: usize, e: &ZipSqe) {
        let base = Self::sqe_off(idx);
        for w in ZipSqe::RESULT_WORDS {
            self.mem.store32(base + w * 4, e.dw[w], Ordering::Relaxed);
        }
    }

    /// Driver side: reads the words a v1 completion needs (results and the echoed tag).
    pub fn read_sqe_results(&self, idx: usize) -> ZipSqe {
        let mut words = [0; 5];
        words[..4].copy_from_slice(&ZipSqe::RESULT_WORDS);
        words[4] = ZipSqe::TAG_WORD;
        self.read_sqe_words(idx, &words)
    }

    /// Driver side: reads `words` of SQ entry `idx` (the others read as 0): a dialect's
    /// result and tag words ([`crate::abi::Dialect::result_words`]).
    pub fn read_sqe_words(&self, idx: usize, words: &[usize]) -> ZipSqe {
        let base = Self::sqe_off(idx);
        let mut e = ZipSqe::default();
        for &w in words {
            e.dw[w] = self.mem.load32(base + w * 4, Ordering::Relaxed);
        }
        e
    }

    /// Reads completion entry `idx`: the phase word with acquire, so everything the device
    /// wrote before it (the entry, the results in the SQ entry, the data) is visible.
    pub fn read_cqe(&self, idx: usize) -> Cqe {
        let base = Self::cqe_off(idx);
        let w3 = self.mem.load32(base + 12, Ordering::Acquire);
        let mut c = Cqe::default();
        c.dw[3] = w3;
        for i in 0..3 {
            c.dw[i] = self.mem.load32(base + i * 4, Ordering::Relaxed);
        }
        c
    }

    /// Loads only the phase bit of completion entry `idx` (acquire).
    pub fn cqe_phase(&self, idx: usize) -> bool {
        (self.mem.load32(Self::cqe_off(idx) + 12, Ordering::Acquire) >> 16) & 1 == 1
    }

    /// Device side: writes completion entry `idx`, the phase word last with release.
    pub fn write_cqe(&self, idx: usize, c: &Cqe) {
        let base = Self::cqe_off(idx);
        for i in 0..3 {
            self.mem.store32(base + i * 4, c.dw[i], Ordering::Relaxed);
        }
        self.mem.store32(base + 12, c.dw[3], Ordering::Release);
    }

    /// Zeroes both rings.
    pub fn reset(&self) {
        self.mem.zero();
    }
}

/// The MMIO page (region 0).
#[derive(Clone, Debug)]
pub struct Mmio {
    mem: Region,
}

impl Mmio {
    /// Views `mem` as the MMIO page.
    pub fn new(mem: Region) -> Mmio {
        assert!(mem.len() >= crate::abi::MMIO_SIZE, "MMIO region too small");
        Mmio { mem }
    }

    /// The underlying region.
    pub fn region(&self) -> &Region {
        &self.mem
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Mapping;

    fn rings() -> Rings {
        let map = Arc::new(Mapping::anonymous(RINGS_SIZE).unwrap());
        // SAFETY: the region covers the mapping, which `map` keeps alive.
        let r = unsafe { Region::new(map.as_ptr(), map.len(), map.clone()) };
        Rings::new(r)
    }

    #[test]
    fn sqe_and_cqe_round_trip_through_memory() {
        let r = rings();
        let mut e = ZipSqe::default();
        for (i, w) in e.dw.iter_mut().enumerate() {
            *w = i as u32 * 0x0101_0101;
        }
        r.write_sqe(1023, &e);
        assert_eq!(r.read_sqe(1023), e);
        assert_eq!(r.read_sqe(0), ZipSqe::default());
        let c = Cqe::new(77, 0, true);
        r.write_cqe(1023, &c);
        assert_eq!(r.read_cqe(1023), c);
        assert!(r.cqe_phase(1023));
        assert!(!r.cqe_phase(0));
        r.reset();
        assert_eq!(r.read_sqe(1023), ZipSqe::default());
    }

    #[test]
    #[should_panic(expected = "out of region")]
    fn out_of_bounds_access_panics() {
        let r = rings();
        r.mem.load32(r.mem.len(), Ordering::Relaxed);
    }

    /// Rings on the heap: no mmap, so the tests below also run under Miri.
    fn heap_region(len: usize) -> Region {
        let words: Arc<Vec<AtomicU64>> =
            Arc::new((0..len / 8).map(|_| AtomicU64::new(0)).collect());
        let ptr = words.as_ptr() as *mut u8;
        // SAFETY: the words are 8-aligned, live as long as the owner, and only accessed
        // atomically (through the region).
        unsafe { Region::new(ptr, len, words) }
    }

    #[test]
    fn heap_rings_round_trip_entries_at_both_ends() {
        let r = Rings::new(heap_region(RINGS_SIZE));
        let mut e = ZipSqe::default();
        e.dw[13] = 0xabcd;
        e.dw[4] = 99;
        for idx in [0, 1, RING_DEPTH - 1] {
            r.write_sqe(idx, &e);
            assert_eq!(r.read_sqe(idx), e);
            let mut res = e;
            res.set_result(crate::abi::Status::OkNotShrunk, 1, 2, 3);
            r.write_sqe_results(idx, &res);
            let back = r.read_sqe_results(idx);
            assert_eq!(
                (back.consumed(), back.produced(), back.checksum()),
                (1, 2, 3)
            );
            assert_eq!(
                (back.tag(), back.input_len()),
                (0xabcd, 0),
                "results and tag only"
            );
            r.write_cqe(idx, &Cqe::new(idx as u16, 0, true));
            assert!(r.cqe_phase(idx));
            assert_eq!(r.read_cqe(idx).sq_head() as usize, idx);
        }
    }

    /// A buffer the two threads hand over through the rings, as DMA memory is: plain bytes
    /// written without atomics, so a missing release/acquire pair is a data race.
    struct Plain(*mut u32);
    // SAFETY: the pointee outlives both threads (joined below); who may touch it when is
    // what the rings' orderings decide, which is what this test checks.
    unsafe impl Send for Plain {}

    #[test]
    fn buffers_handed_over_through_the_rings_are_ordered() {
        const N: usize = 6;
        let rings = Rings::new(heap_region(RINGS_SIZE));
        let mmio = heap_region(crate::abi::MMIO_SIZE);
        let mut bufs = vec![0u32; 2 * N];
        let base = bufs.as_mut_ptr();
        let p = Plain(base);
        let (dev_rings, dev_mmio) = (rings.clone(), mmio.clone());
        let device = std::thread::spawn(move || {
            let p = p;
            let mut head = 0;
            while head < N {
                // The device's doorbell load (acquire), then the entries (relaxed).
                let tail = dev_mmio.load64(crate::abi::DOORBELL_SQ, Ordering::Acquire) as usize;
                if tail == head {
                    std::thread::yield_now();
                    continue;
                }
                let mut e = dev_rings.read_sqe(head);
                let i = e.input_len() as usize;
                // SAFETY: slot `i` of the input was written before the doorbell's release;
                // the output slot is the device's until its completion is posted.
                unsafe { *p.0.add(N + i) = *p.0.add(i) * 2 };
                e.set_result(crate::abi::Status::Ok, 1, 1, 0);
                dev_rings.write_sqe_results(head, &e);
                dev_rings.write_cqe(head, &Cqe::new(head as u16, 0, true));
                head += 1;
            }
        });
        for i in 0..N {
            // SAFETY: the input slot is the driver's until the doorbell below.
            unsafe { *base.add(i) = i as u32 + 100 };
            let mut e = ZipSqe::default();
            e.dw[4] = i as u32;
            rings.write_sqe(i, &e);
            mmio.store64(crate::abi::DOORBELL_SQ, i as u64 + 1, Ordering::SeqCst);
        }
        for i in 0..N {
            while !rings.cqe_phase(i) {
                std::thread::yield_now();
            }
            let c = rings.read_cqe(i);
            assert_eq!(rings.read_sqe_results(c.sq_head() as usize).consumed(), 1);
            // SAFETY: the phase bit was read with acquire after the device's release.
            assert_eq!(unsafe { *base.add(N + i) }, 2 * (i as u32 + 100));
        }
        device.join().unwrap();
        assert_eq!(bufs[N..], [200, 202, 204, 206, 208, 210]);
    }
}
