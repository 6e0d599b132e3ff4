//! Requests on memory the driver does not own: a caller's hand-made entry
//! ([`Queue::send_raw`]) and one request run on the caller's slices
//! ([`Queue::run_borrowed`]), lent to the device in place or copied through buffers.

use std::sync::Arc;

use crate::abi::ZipSqe;
use crate::error::{Error, Result};

use super::{Completion, Framing, Queue, Request};

impl Queue {
    /// Submits a hand-made entry, addresses and all (for device bring-up and fault tests).
    /// The entry's tag word is replaced by the driver's own; `tag` comes back in the
    /// completion, which carries no buffers.
    ///
    /// # Safety
    /// Every address range in `sqe` must be either not shared with the device (it will then
    /// answer `DMA_FAULT` and touch nothing) or memory that nobody reads or writes until the
    /// completion arrives and that stays alive until then.
    pub unsafe fn send_raw(&mut self, sqe: ZipSqe, tag: u64) -> Result<()> {
        // SAFETY: the caller keeps this function's contract, which is `submit_entry`'s.
        unsafe {
            self.submit_entry(
                sqe,
                Request::nop().tag(tag),
                Framing::default(),
                true,
                false,
            )
        }
    }

    /// Submits `sqe`, whose addresses the caller vouches for, keeping `req` (its buffers, if
    /// any, dropped) as the request the completion answers: its type, level and tag.
    ///
    /// # Safety
    /// As for [`Queue::send_raw`]: every address range in `sqe` is either not shared with
    /// the device or memory that nobody else reads or writes, and that stays alive, until
    /// the completion arrives.
    /// `raw`: `sqe` is a caller's hand-made entry ([`Queue::send_raw`]), read back as its
    /// own type says rather than as `req`'s. `lend`: the caller will only wait for it (see
    /// `ring_sq`).
    pub(super) unsafe fn submit_entry(
        &mut self,
        sqe: ZipSqe,
        req: Request,
        framing: Framing,
        raw: bool,
        lend: bool,
    ) -> Result<()> {
        self.alive()?;
        if self.is_full() {
            self.stats.full_retries += 1;
            return Err(Error::QueueFull);
        }
        let req = Request {
            src: None,
            input: None,
            dst: None,
            ..req
        };
        self.place_entry(sqe, req, None, framing, raw);
        self.ring_sq(lend);
        Ok(())
    }

    /// Runs one request on the caller's memory and waits for it: the device reads `input`
    /// and appends at most `out_space` bytes to `out`. `req` gives the work
    /// ([`Request::without_buffers`] with its level and flags); its buffers, if any, are
    /// ignored. Nothing else may be in flight on the queue.
    ///
    /// Where the device can reach the caller's memory directly (the soft device:
    /// [`Domain::lend`]) nothing is copied; otherwise (VFIO, where sharing user memory costs
    /// system calls and pins pages) the data goes through buffers of the domain's cache.
    /// The completion carries no buffers; `produced` bytes were appended to `out` whatever
    /// the status. If waiting fails, the queue is stopped (it is unusable afterwards) so that
    /// no device touches the caller's memory once this returns.
    ///
    /// The calling thread only waits, so on a device that runs in this process it runs the
    /// request itself when the device's thread is not already at work
    /// ([`Stats::served_here`]): no wake-up, and no wait for that thread to get a core.
    ///
    /// [`Domain::lend`]: crate::dma::Domain::lend
    /// [`Stats::served_here`]: crate::queue::Stats::served_here
    pub fn run_borrowed(
        &mut self,
        req: Request,
        input: &[u8],
        out: &mut Vec<u8>,
        out_space: usize,
    ) -> Result<Completion> {
        self.alive()?;
        if self.outstanding > 0 {
            return Err(Error::BadRequest(
                "run_borrowed needs a queue with nothing in flight".into(),
            ));
        }
        if input.len() > u32::MAX as usize || out_space > u32::MAX as usize {
            return Err(Error::BadRequest("buffer larger than 4 GiB - 1".into()));
        }
        self.check_request_shape(&req)?;
        out.reserve(out_space);
        let domain = Arc::clone(self.domain());
        let framing = self.frame(&req, input, out_space);
        let spare = &mut out.spare_capacity_mut()[..out_space];
        Self::write_header(&framing, &req, spare);
        let lent_in = domain.lend(input.as_ptr(), input.len());
        let lent_out = domain.lend(spare.as_ptr().cast(), spare.len());
        let (Some(src), Some(dst)) = (
            lent_in
                .as_ref()
                .map(|l| l.iova())
                .or(input.is_empty().then_some(0)),
            lent_out.as_ref().map(|l| l.iova()),
        ) else {
            return self.run_copied(req, input, out, out_space, framing);
        };
        let sqe = self.entry(
            &req,
            &framing,
            framing.device_part(src, input.len(), dst, out_space),
        )?;
        // SAFETY: both ranges are lent to the domain until the leases drop at the end of
        // this function; `input` is borrowed shared and `out`'s spare capacity exclusively
        // for all of it, so nobody else reads or writes them. The request either completes
        // below, or the queue is stopped first (which, for a domain that lends memory, ends
        // every access of its device).
        unsafe { self.submit_entry(sqe, req, framing, false, true)? };
        let c = match self.recv_timeout(None) {
            Ok(c) => c,
            Err(e) => {
                let _ = self.stop_device();
                return Err(e);
            }
        };
        // SAFETY: the driver's header and then the device filled `c.produced` bytes at the
        // start of the spare capacity (a completion claiming more than the space offered
        // breaks the queue instead), and its completion was read with acquire ordering.
        unsafe { out.set_len(out.len() + c.produced) };
        drop((lent_in, lent_out));
        Ok(c)
    }

    /// `run_borrowed` through the domain's buffers: copy in, run, copy out.
    fn run_copied(
        &mut self,
        req: Request,
        input: &[u8],
        out: &mut Vec<u8>,
        out_space: usize,
        framing: Framing,
    ) -> Result<Completion> {
        let mut src = self.alloc(input.len().max(1))?;
        src.fill(input);
        let mut dst = self.alloc(out_space.max(1))?;
        if framing.hdr_out > 0 {
            let h = crate::zip::request_header(req.req_type);
            dst.as_full_mut_slice()[..h.len()].copy_from_slice(&h);
        }
        // The device is offered exactly `out_space`, not the buffer's whole pages, so both
        // ways of running stop at the same point.
        let sqe = self.entry(
            &req,
            &framing,
            framing.device_part(src.iova(), input.len(), dst.iova(), out_space),
        )?;
        let req = Request {
            src: Some(src),
            dst: Some(dst),
            ..req
        };
        self.place(sqe, req, None, framing);
        self.ring_sq(true);
        let mut c = self.recv_timeout(None)?;
        if let Some(d) = c.dst.take() {
            out.extend_from_slice(d.as_slice());
        }
        c.src = None;
        Ok(c)
    }
}
