//! Memory a device may reach: one [`Domain`] per device address space (a VFIO container,
//! or the soft device's emulated IOMMU), a registry of every share in it, and
//! [`DmaBuf`], the only kind of memory the driver shares.
//!
//! Rules this module enforces:
//! - only anonymous, page-aligned memory that the driver allocated itself is shared
//!   (file-backed pages pinned for DMA corrupt file systems), with one exception: a domain
//!   whose device reaches the process's memory without pinning it (the soft device) may be
//!   *lent* a caller's memory for the life of a request ([`Domain::lend`]);
//! - shares never overlap; every share is undone when its buffer or its last lease drops;
//! - a buffer moves into the queue while a request uses it (see `queue.rs`), so no caller
//!   can touch, free or reuse it until the device has answered.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::sys::Mapping;

/// How a backend makes memory reachable by its device (`VFIO_IOMMU_MAP_DMA` for vfio,
/// nothing for the soft device, whose IOMMU is the registry itself).
pub trait IommuMapper: Send + Sync {
    /// Makes `[vaddr, vaddr + len)` reachable at `iova`.
    fn map(&self, iova: u64, vaddr: *mut u8, len: usize) -> Result<()>;
    /// Undoes a `map` of exactly that range.
    fn unmap(&self, iova: u64, len: usize) -> Result<()>;
    /// True if the device reaches process memory at its own addresses with no pinning and
    /// no system call, and stops touching memory for good once its queue has stopped: then
    /// a caller's memory may be lent for the life of a request instead of copied.
    fn lends_process_memory(&self) -> bool {
        false
    }
}

/// The soft device's IOMMU: the registry alone decides what the device may reach.
#[derive(Debug, Default)]
pub struct RegistryOnly;

impl IommuMapper for RegistryOnly {
    fn map(&self, _iova: u64, _vaddr: *mut u8, _len: usize) -> Result<()> {
        Ok(())
    }
    fn unmap(&self, _iova: u64, _len: usize) -> Result<()> {
        Ok(())
    }
    fn lends_process_memory(&self) -> bool {
        // The device is a thread of this process: a share is one registry entry, and
        // stopping the queue joins the thread.
        true
    }
}

/// One device address space and the registry of what is shared in it.
pub struct Domain {
    /// start IOVA -> share, non-overlapping.
    shares: RwLock<BTreeMap<u64, Share>>,
    mapper: Box<dyn IommuMapper>,
    /// Freed buffers kept shared for reuse: mapping, sharing and first-touch page faults
    /// cost more than small requests' data movement.
    cache: Mutex<BufferCache>,
}

/// One range the domain's devices may reach.
#[derive(Clone, Copy, Debug)]
struct Share {
    len: usize,
    /// Live leases that keep this share: 0 for a buffer's share (its [`DmaBuf`] undoes
    /// it), else a share made by [`Domain::lend`], undone when its last lease drops.
    leases: usize,
}

#[derive(Default)]
struct BufferCache {
    maps: Vec<Mapping>,
    bytes: usize,
    enabled: bool,
}

/// At most this many freed buffers are kept per domain.
const CACHE_MAX_BUFFERS: usize = 64;
/// At most this many bytes of freed buffers are kept per domain.
const CACHE_MAX_BYTES: usize = 64 << 20;

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("shares", &self.share_count())
            .finish()
    }
}

impl Domain {
    /// A domain whose shares are made real by `mapper`.
    pub fn new(mapper: Box<dyn IommuMapper>) -> Arc<Domain> {
        Arc::new(Domain {
            shares: RwLock::new(BTreeMap::new()),
            mapper,
            cache: Mutex::new(BufferCache::default()),
        })
    }

    /// Keeps freed buffers shared for reuse (bounded: 64 buffers, 64 MiB). The process-wide
    /// domains enable it; a domain made for one test or one job need not.
    pub fn enable_cache(&self) {
        self.cache.lock().expect("cache poisoned").enabled = true;
    }

    /// Unshares and frees every cached buffer.
    pub fn release_cache(&self) {
        let maps = {
            let mut c = self.cache.lock().expect("cache poisoned");
            c.bytes = 0;
            std::mem::take(&mut c.maps)
        };
        for m in maps {
            let _ = self.unshare(m.as_ptr() as u64, m.len());
        }
    }

    /// Buffers waiting in the cache.
    pub fn cached_buffers(&self) -> usize {
        self.cache.lock().expect("cache poisoned").maps.len()
    }

    /// Takes a cached buffer of `len..=2*len` bytes (whole pages), if there is one.
    fn take_cached(&self, len: usize) -> Option<Mapping> {
        let want = crate::sys::round_to_pages(len);
        let mut c = self.cache.lock().expect("cache poisoned");
        let i = c
            .maps
            .iter()
            .enumerate()
            .filter(|(_, m)| m.len() >= want && m.len() <= 2 * want)
            .min_by_key(|(_, m)| m.len())
            .map(|(i, _)| i)?;
        let m = c.maps.swap_remove(i);
        c.bytes -= m.len();
        Some(m)
    }

    /// Keeps a buffer's memory in the cache, still shared, if the cache is enabled and has
    /// room for it; else hands it back.
    fn keep(&self, m: Mapping) -> std::result::Result<(), Mapping> {
        let mut c = self.cache.lock().expect("cache poisoned");
        if c.enabled && c.maps.len() < CACHE_MAX_BUFFERS && c.bytes + m.len() <= CACHE_MAX_BYTES {
            c.bytes += m.len();
            c.maps.push(m);
            return Ok(());
        }
        Err(m)
    }

    /// A buffer's memory comes back: keep it (still shared) or give it up.
    fn recycle(&self, m: Mapping) {
        let Err(m) = self.keep(m) else { return };
        // Unshare before the memory goes back to the system. A failure here can only come
        // from a backend that lost its IOMMU (device gone); the memory is freed regardless
        // because no device mapping to it can be used any more.
        let _ = self.unshare(m.as_ptr() as u64, m.len());
    }

    /// A domain for the soft device.
    pub fn soft() -> Arc<Domain> {
        Domain::new(Box::new(RegistryOnly))
    }

    /// Allocates a buffer of at least `len` bytes (rounded to pages) and shares it with
    /// every device of this domain (IOVA = virtual address). Its `len()` starts at 0.
    pub fn alloc(self: &Arc<Self>, len: usize) -> Result<DmaBuf> {
        if let Some(b) = self.alloc_cached(len) {
            return Ok(b);
        }
        let map = Mapping::anonymous(len).map_err(|e| Error::io("allocating a DMA buffer", e))?;
        self.share(map.as_ptr() as u64, map.as_ptr(), map.len())?;
        Ok(self.buffer(map))
    }

    /// A buffer of `len..=2*len` bytes (whole pages) from the cache, or `None` if the cache
    /// has none: never a new share, so never a system call (an event loop may call this
    /// where it must not wait for [`Domain::alloc`]). Its `len()` starts at 0.
    pub fn alloc_cached(self: &Arc<Self>, len: usize) -> Option<DmaBuf> {
        self.take_cached(len).map(|m| self.buffer(m))
    }

    fn buffer(self: &Arc<Self>, map: Mapping) -> DmaBuf {
        DmaBuf {
            map: Some(map),
            len: 0,
            domain: Arc::clone(self),
        }
    }

    fn share(&self, iova: u64, vaddr: *mut u8, len: usize) -> Result<()> {
        let mut shares = self.shares.write().expect("share registry poisoned");
        self.share_locked(&mut shares, iova, vaddr, len, 0)
    }

    fn share_locked(
        &self,
        shares: &mut BTreeMap<u64, Share>,
        iova: u64,
        vaddr: *mut u8,
        len: usize,
        leases: usize,
    ) -> Result<()> {
        let end = iova
            .checked_add(len as u64)
            .ok_or_else(|| Error::Share("range wraps the address space".into()))?;
        if let Some((&s, sh)) = shares.range(..end).next_back() {
            if s + sh.len as u64 > iova {
                return Err(Error::Share(format!(
                    "range {iova:#x}+{len:#x} overlaps the share at {s:#x}+{:#x}",
                    sh.len
                )));
            }
        }
        self.mapper.map(iova, vaddr, len)?;
        shares.insert(iova, Share { len, leases });
        Ok(())
    }

    fn unshare(&self, iova: u64, len: usize) -> Result<()> {
        let mut shares = self.shares.write().expect("share registry poisoned");
        match shares.get(&iova) {
            Some(sh) if sh.len == len && sh.leases == 0 => {}
            _ => {
                return Err(Error::Share(format!(
                    "no buffer share at {iova:#x}+{len:#x} to undo"
                )))
            }
        }
        self.mapper.unmap(iova, len)?;
        shares.remove(&iova);
        Ok(())
    }

    /// True if the domain's devices reach process memory at its own addresses, so that
    /// [`Domain::lend`] can lend a caller's memory instead of copying it (the soft device
    /// and uacce; not VFIO).
    pub fn lends(&self) -> bool {
        self.mapper.lends_process_memory()
    }

    /// Lends `[ptr, ptr + len)` of the caller's memory to the domain's devices until the
    /// returned lease drops, if the domain can ([`IommuMapper::lends_process_memory`]):
    /// `None` if it cannot, or if the range overlaps a share without lying inside one (two
    /// requests lending overlapping slices of one object, say); the caller then copies
    /// instead.
    ///
    /// A range inside a share is reachable as it is. Inside a lent share, the new lease
    /// keeps that share until it drops too, so requests lending the same bytes at once do
    /// not take the memory away from each other. Inside a buffer's share, the caller must
    /// keep the buffer alive (a borrowed slice of a [`DmaBuf`] does).
    ///
    /// The lease only makes the range reachable; the caller must keep the memory alive and
    /// not write it (or, for output, not touch it) while a request may use it, and must stop
    /// the queue before dropping the lease if the request never completed.
    pub fn lend(self: &Arc<Self>, ptr: *const u8, len: usize) -> Option<Lease> {
        if len == 0 || !self.mapper.lends_process_memory() {
            return None;
        }
        let iova = ptr as u64;
        let mut shares = self.shares.write().expect("share registry poisoned");
        let keeps = match containing(&shares, iova, len) {
            Some(start) => {
                let sh = shares.get_mut(&start).expect("containing share");
                (sh.leases > 0).then(|| {
                    sh.leases += 1;
                    start
                })
            }
            None => {
                self.share_locked(&mut shares, iova, ptr as *mut u8, len, 1)
                    .ok()?;
                Some(iova)
            }
        };
        Some(Lease {
            domain: Arc::clone(self),
            iova,
            len,
            keeps,
        })
    }

    /// A lease of the lent share at `start` ended: the last one undoes it.
    fn end_lease(&self, start: u64) {
        let mut shares = self.shares.write().expect("share registry poisoned");
        let Some(sh) = shares.get_mut(&start) else {
            return;
        };
        sh.leases -= 1;
        if sh.leases == 0 {
            let len = sh.len;
            // Cannot fail for a domain that lends: its mapper has nothing to undo.
            let _ = self.mapper.unmap(start, len);
            shares.remove(&start);
        }
    }

    /// Runs `f` with every share `(iova, len)` while no share can be made or undone: a
    /// backend whose IOMMU lost its mappings (the last VFIO group left the container)
    /// replays them this way. Lock order: this registry, then the backend's own locks.
    pub fn with_shares_locked<R>(&self, f: impl FnOnce(&[(u64, usize)]) -> R) -> R {
        let shares = self.shares.write().expect("share registry poisoned");
        let list: Vec<(u64, usize)> = shares.iter().map(|(&a, sh)| (a, sh.len)).collect();
        f(&list)
    }

    /// Number of live shares (for tests and leak checks).
    pub fn share_count(&self) -> usize {
        self.shares.read().expect("share registry poisoned").len()
    }

    /// True if `[iova, iova + len)` lies inside one share. An empty range is always
    /// reachable.
    pub fn is_shared(&self, iova: u64, len: usize) -> bool {
        let shares = self.shares.read().expect("share registry poisoned");
        len == 0 || containing(&shares, iova, len).is_some()
    }

    /// Device side: the IOMMU check of a request. Returns `None` (a DMA fault) unless every
    /// range lies inside a share; the lock is not kept while the device works, so buffers can
    /// be allocated and freed meanwhile (the queue owns in-flight buffers, see
    /// [`DeviceAccess`]).
    pub fn device_access(&self, ranges: &[(u64, usize)]) -> Option<DeviceAccess> {
        let shares = self.shares.read().expect("share registry poisoned");
        ranges
            .iter()
            .all(|&(a, l)| l == 0 || containing(&shares, a, l).is_some())
            .then_some(DeviceAccess { _checked: () })
    }
}

/// The start of the share that `[iova, iova + len)` (not empty) lies inside, if any.
fn containing(shares: &BTreeMap<u64, Share>, iova: u64, len: usize) -> Option<u64> {
    let end = iova.checked_add(len as u64)?;
    let (&s, sh) = shares.range(..=iova).next_back()?;
    (end <= s + sh.len as u64).then_some(s)
}

/// Proof that a request's ranges were shared when the device checked them. They stay shared
/// and alive until the request completes because the driver guarantees it: the safe API
/// moves a request's buffers (or its owned input and that input's lease) into the queue
/// until its completion, and `Queue::send_raw` makes the same promise its caller's
/// obligation.
pub struct DeviceAccess {
    _checked: (),
}

impl DeviceAccess {
    /// The bytes at `[iova, iova + len)` for reading.
    ///
    /// # Safety
    /// The range must be one of those checked by [`Domain::device_access`] for a request
    /// still in flight, and nobody may write it while the slice lives (the queue's ownership
    /// of in-flight buffers guarantees both for requests the safe API built).
    pub unsafe fn read(&self, iova: u64, len: usize) -> &[u8] {
        if len == 0 {
            return &[];
        }
        // SAFETY: shared (so mapped, IOVA = vaddr) and not written meanwhile, per contract.
        unsafe { std::slice::from_raw_parts(iova as *const u8, len) }
    }

    /// The bytes at `[iova, iova + len)` for writing.
    ///
    /// # Safety
    /// As for [`DeviceAccess::read`], and nobody else may read or write the range while the
    /// slice lives (in particular it must not overlap a range passed to `read`).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn write(&self, iova: u64, len: usize) -> &mut [u8] {
        if len == 0 {
            return &mut [];
        }
        // SAFETY: shared (so mapped, IOVA = vaddr) and exclusively ours, per contract.
        unsafe { std::slice::from_raw_parts_mut(iova as *mut u8, len) }
    }
}

/// A caller's memory lent to a domain (see [`Domain::lend`]); the share is undone on drop.
#[derive(Debug)]
pub struct Lease {
    domain: Arc<Domain>,
    iova: u64,
    len: usize,
    /// The start of the lent share this lease keeps; `None` inside a buffer's share,
    /// which is not ours to keep or undo.
    keeps: Option<u64>,
}

impl Lease {
    /// The address the device uses for the lent range.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Length of the lent range.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: empty ranges are never lent.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(start) = self.keeps {
            self.domain.end_lease(start);
        }
    }
}

/// A page-aligned buffer shared with every device of its domain.
///
/// It has a capacity (whole pages) and a length (the meaningful bytes: the input of a
/// request, or what the device produced). Dropping it unshares and frees it.
pub struct DmaBuf {
    /// Always `Some` until `Drop` hands the memory back to the domain.
    map: Option<Mapping>,
    len: usize,
    domain: Arc<Domain>,
}

impl std::fmt::Debug for DmaBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmaBuf")
            .field("iova", &format_args!("{:#x}", self.iova()))
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl DmaBuf {
    fn map(&self) -> &Mapping {
        self.map.as_ref().expect("buffer memory present until drop")
    }

    /// The address the device uses for this buffer.
    pub fn iova(&self) -> u64 {
        self.map().as_ptr() as u64
    }

    /// Bytes available (a whole number of pages).
    pub fn capacity(&self) -> usize {
        self.map().len()
    }

    /// Meaningful bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no byte is meaningful.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the meaningful length (at most the capacity).
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "length {len} beyond capacity");
        self.len = len;
    }

    /// The meaningful bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is live, `len <= capacity`, and `&self` excludes writers
        // (the device only writes buffers the queue owns).
        unsafe { std::slice::from_raw_parts(self.map().as_ptr(), self.len) }
    }

    /// The meaningful bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.map().as_ptr(), self.len) }
    }

    /// The whole capacity, writable (fill it, then `set_len`).
    pub fn as_full_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, over the whole mapping.
        unsafe { std::slice::from_raw_parts_mut(self.map().as_ptr(), self.map().len()) }
    }

    /// Copies `data` in and sets the length; `data` must fit.
    pub fn fill(&mut self, data: &[u8]) {
        assert!(data.len() <= self.capacity(), "data larger than buffer");
        self.as_full_mut_slice()[..data.len()].copy_from_slice(data);
        self.len = data.len();
    }

    /// True in a fork child: the buffer's memory stayed with the parent, so its contents
    /// must not be touched here (bindings check this before handing out views).
    pub fn is_foreign(&self) -> bool {
        self.map().is_foreign()
    }

    /// The domain this buffer is shared in.
    pub fn domain(&self) -> &Arc<Domain> {
        &self.domain
    }

    /// Gives the buffer to its domain's cache, still shared, if the cache keeps it (it is
    /// enabled and has room): no system call. Else hands the buffer back unchanged;
    /// dropping it then unshares it (system calls on a device that pins pages), which a
    /// caller that must not wait (an event loop) can do on another thread.
    pub fn into_cache(mut self) -> std::result::Result<(), DmaBuf> {
        let map = self.map.take().expect("buffer memory present until drop");
        if map.is_foreign() {
            // A fork child: the share and the memory are the parent's (dropped as such).
            self.map = Some(map);
            return Err(self);
        }
        self.domain.keep(map).map_err(|map| {
            self.map = Some(map);
            self
        })
    }
}

impl Drop for DmaBuf {
    fn drop(&mut self) {
        let Some(map) = self.map.take() else { return };
        if map.is_foreign() {
            // A fork child: the share and the memory are the parent's.
            std::mem::forget(map);
            return;
        }
        self.domain.recycle(map);
    }
}

impl Drop for Domain {
    fn drop(&mut self) {
        self.release_cache();
    }
}

#[cfg(test)]
mod tests;
