//! What a caller gets back: a [`Completion`] (the device's answer and the request's
//! buffers), a [`SendError`] (a refused request, handed back) and a queue's [`Stats`].

use crate::abi::Status;
use crate::dma::DmaBuf;
use crate::error::{Error, Result};

use super::Request;

/// A finished request: the device's answer and the request's buffers.
#[derive(Debug)]
pub struct Completion {
    /// The request's tag.
    pub tag: u64,
    /// Raw status byte (see [`Completion::status`]).
    pub status_raw: u8,
    /// Input bytes consumed.
    pub consumed: usize,
    /// Output bytes produced (also the destination buffer's `len()`).
    pub produced: usize,
    /// Checksum word (docs/abi.md).
    pub checksum: u32,
    /// The source buffer (`None` for an owned input the device read in place).
    pub src: Option<DmaBuf>,
    /// The destination buffer, its length set to what the device produced.
    pub dst: Option<DmaBuf>,
}

impl Completion {
    /// The status, if the driver knows it.
    pub fn status(&self) -> Option<Status> {
        Status::from_wire(self.status_raw)
    }

    /// `Ok(())` on success, else the typed error for the status.
    pub fn check(&self) -> Result<()> {
        match self.status() {
            Some(s) => s.check().map_err(|e| e.with_pinned(self.pinned_bytes())),
            None => Err(Error::DeviceStatus {
                status: self.status_raw,
            }),
        }
    }
}

impl Completion {
    /// What the request's ranges pin on a kernel device (source: its input; destination:
    /// the whole buffer), page-rounded; 0 when the completion carries no buffers.
    pub fn pinned_bytes(&self) -> u64 {
        let src = self
            .src
            .as_ref()
            .map_or(0, |b| crate::memlock::pinned_span(b.iova(), b.len() as u64));
        let dst = self.dst.as_ref().map_or(0, |b| {
            crate::memlock::pinned_span(b.iova(), b.capacity() as u64)
        });
        src + dst
    }
}

/// A send the queue could not take; the request comes back so nothing is lost.
#[derive(Debug)]
pub struct SendError {
    /// Why.
    pub error: Error,
    /// The request, untouched.
    pub request: Request,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Error {
        e.error
    }
}

/// Counters of a queue (more may come).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests submitted.
    pub submitted: u64,
    /// Requests completed.
    pub completed: u64,
    /// Input bytes the device consumed.
    pub bytes_in: u64,
    /// Output bytes the device produced.
    pub bytes_out: u64,
    /// Sends refused because the ring was full.
    pub full_retries: u64,
    /// Completions with the DMA-fault status.
    pub faults: u64,
    /// SQ doorbells rung.
    pub doorbells: u64,
    /// Times a sleeping device had to be woken (each one a system call).
    pub wakeups: u64,
    /// Blocking waits on the interrupt (each one a system call).
    pub waits: u64,
    /// Requests the calling thread ran itself on a device that lives in this process (the
    /// soft device), instead of waking the device's thread: see
    /// [`Queue::run_borrowed`](crate::Queue::run_borrowed).
    pub served_here: u64,
}
