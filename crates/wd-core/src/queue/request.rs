//! What a caller submits: a [`Request`] (the work, its buffers or owned input, its
//! tag), the bytes a request may own ([`InputBytes`]), and the [`Framing`] the driver adds
//! around the device on dialects whose device writes no zlib/gzip header.

use std::sync::Arc;

use crate::abi::{Csum, Dialect, ReqType, Status, ZipSqe, FLAG_CONTINUE, FLAG_PARTIAL};
use crate::dma::DmaBuf;

/// Bytes a request can own as its input instead of a [`DmaBuf`] ([`Request::with_input`]).
/// Where the device can reach process memory (the soft device) they are lent to it as they
/// are; otherwise `send` copies them into a buffer of the domain.
///
/// # Safety
/// `bytes` must return the same range on every call, and nobody may write or free that
/// memory while the value lives, wherever the value is moved.
pub unsafe trait InputBytes: Send + 'static {
    /// The input.
    fn bytes(&self) -> &[u8];
}

// SAFETY: the elements live on the heap, not in the `Vec`: moving it moves no byte, and the
// request owns it, so nobody writes or frees them meanwhile.
unsafe impl InputBytes for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: as for `Vec<u8>`.
unsafe impl InputBytes for Box<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

// SAFETY: the bytes live on the heap, are freed only with the last clone (the request holds
// one) and cannot be written through an `Arc` that is not unique.
unsafe impl InputBytes for Arc<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// A request's owned input.
pub(super) struct OwnedInput(pub(super) Box<dyn InputBytes>);

impl std::fmt::Debug for OwnedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnedInput({} bytes)", self.0.bytes().len())
    }
}

/// One request: what to do and the buffers it works on.
#[derive(Debug)]
pub struct Request {
    pub(super) req_type: ReqType,
    pub(super) flags: u32,
    pub(super) level: u32,
    pub(super) tag: u64,
    pub(super) src: Option<DmaBuf>,
    /// The input when it is not a buffer (then `src` is `None` until `send` copies it).
    pub(super) input: Option<OwnedInput>,
    pub(super) dst: Option<DmaBuf>,
}

impl Request {
    /// A request of `req_type` with nothing set and no memory.
    pub(super) fn bare(req_type: ReqType) -> Request {
        Request {
            req_type,
            flags: 0,
            level: 0,
            tag: 0,
            src: None,
            input: None,
            dst: None,
        }
    }

    /// A request of `req_type` reading `src` (its `len()` bytes) and writing into `dst`
    /// (its whole capacity is the output space).
    pub fn new(req_type: ReqType, src: DmaBuf, dst: DmaBuf) -> Request {
        Request {
            src: Some(src),
            dst: Some(dst),
            ..Request::bare(req_type)
        }
    }

    /// A request of `req_type` reading `input`, owned by the request until its completion,
    /// and writing into `dst` (its whole capacity is the output space). The device reads
    /// `input` in place if it can reach process memory ([`Domain::lend`]): the
    /// completion's `src` is then `None`. Otherwise `send` copies it into a buffer of the
    /// domain, which the completion hands back as `src`.
    ///
    /// [`Domain::lend`]: crate::dma::Domain::lend
    pub fn with_input(req_type: ReqType, input: impl InputBytes, dst: DmaBuf) -> Request {
        Request {
            input: Some(OwnedInput(Box::new(input))),
            dst: Some(dst),
            ..Request::bare(req_type)
        }
    }

    /// A request of `req_type` with no buffers yet: the description of the work for
    /// [`Queue::run_borrowed`], which supplies the memory. `send` refuses it.
    ///
    /// [`Queue::run_borrowed`]: super::Queue::run_borrowed
    pub fn without_buffers(req_type: ReqType) -> Request {
        Request::bare(req_type)
    }

    /// A no-op request: measures the ring, touches no memory.
    pub fn nop() -> Request {
        Request::bare(ReqType::Nop)
    }

    /// Compression level 1..=9 (0 = default).
    pub fn level(mut self, level: u32) -> Request {
        self.level = level;
        self
    }

    /// Compress: more input of this stream follows (raw deflate only).
    pub fn partial(mut self) -> Request {
        self.flags |= FLAG_PARTIAL;
        self
    }

    /// Decompress: continue the stream the previous request left unfinished.
    pub fn continue_stream(mut self) -> Request {
        self.flags |= FLAG_CONTINUE;
        self
    }

    /// Decompress, raw deflate: the input ends where a block starts (a flush point), and
    /// input that runs out anywhere else inside the stream is a data error, not "needs
    /// input". Only where [`Queue::checks_block_ends`](super::Queue::checks_block_ends).
    pub fn ends_at_block(mut self) -> Request {
        self.flags |= crate::abi::FLAG_BLOCK_END;
        self
    }

    /// Which checksum the device returns.
    pub fn checksum(mut self, csum: Csum) -> Request {
        self.flags = (self.flags & !crate::abi::FLAG_CSUM_MASK) | csum.flag_bits();
        self
    }

    /// A caller's value, returned in the completion.
    pub fn tag(mut self, tag: u64) -> Request {
        self.tag = tag;
        self
    }

    /// The caller's tag.
    pub fn user_tag(&self) -> u64 {
        self.tag
    }

    /// The ring entry of this request in `dialect`, reading `input_len` bytes at `src` and
    /// writing at most `space` bytes at `dst` (the driver's tag is filled in by `place`).
    pub(super) fn entry(
        &self,
        dialect: Dialect,
        src: u64,
        input_len: u32,
        dst: u64,
        space: u32,
    ) -> ZipSqe {
        dialect.encode(
            self.req_type,
            self.flags,
            self.level,
            0,
            src,
            input_len,
            dst,
            space,
        )
    }

    /// Gives the buffers back (e.g. after a refused send). An owned input is dropped.
    pub fn into_buffers(self) -> (Option<DmaBuf>, Option<DmaBuf>) {
        (self.src, self.dst)
    }
}

/// What the driver does around the device for one request, on a dialect whose device
/// neither writes nor reads zlib/gzip headers (docs/abi.md section 9.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Framing {
    /// Header bytes skipped before the device's input (decompress).
    pub(super) hdr_in: usize,
    /// Header bytes the driver wrote before the device's output (compress).
    pub(super) hdr_out: usize,
    /// The answer, decided by the driver: the device gets an empty request (so that every
    /// request still has its completion) and its answer is ignored.
    pub(super) forced: Option<Status>,
    /// Input bytes the driver took (a forced answer's `consumed`): a header that goes on
    /// past the request's input is held by the queue, and the request used all of it.
    pub(super) taken: usize,
    /// The checksum the request chose, computed by the driver over the input (a dialect
    /// whose device does not: [`Dialect::device_checksums`]).
    pub(super) checksum: Option<u32>,
    /// A decompression that continues the device's open stream (no header to skip).
    pub(super) cont: bool,
    /// A compression piece that ends in a sync flush.
    pub(super) partial: bool,
}

impl Framing {
    /// The device's part of a request reading `len` bytes at `src` and writing at most
    /// `space` bytes at `dst`.
    pub(super) fn device_part(
        &self,
        src: u64,
        len: usize,
        dst: u64,
        space: usize,
    ) -> (u64, u32, u64, u32) {
        if self.forced.is_some() {
            return (src, 0, dst, 0);
        }
        (
            src + self.hdr_in as u64,
            (len - self.hdr_in) as u32,
            dst + self.hdr_out as u64,
            (space - self.hdr_out) as u32,
        )
    }
}
