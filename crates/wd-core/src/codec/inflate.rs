//! [`Inflater`]: one stream decompressed in requests that continue the device's decoder.

use super::{run, Pooled, HEAD_KEPT, OUT_STEP, PIECE};
use crate::abi::{Direction, Status};
use crate::error::{Error, Result};
use crate::queue::Request;
use crate::zip::{check_window, detect_format, read_gzip_header, stream_error, Format, GzipHeader};

/// What one [`Inflater::inflate`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inflated {
    /// Input bytes used; the rest is after the stream's end (when `finished`) or did not fit
    /// the output bound (zlib's `unconsumed_tail`).
    pub consumed: usize,
    /// The stream (one gzip member) has ended.
    pub finished: bool,
}

/// Incremental decompression of one stream (zlib's `decompressobj`): input in pieces of any
/// size, output bounded by the caller, the end of the stream reported with the input left
/// after it.
pub struct Inflater {
    q: Pooled,
    format: Option<Format>,
    window_bits: u8,
    started: bool,
    pending: bool,
    finished: bool,
    head: Vec<u8>,
    total_in: u64,
    total_out: u64,
}

impl Inflater {
    /// A decompressor of `format`; `None` tells gzip from zlib by the first byte
    /// ([`detect_format`]). The queue is taken from the pool on first use.
    pub fn new(format: Option<Format>) -> Inflater {
        Inflater {
            q: Pooled(None),
            format,
            window_bits: 15,
            started: false,
            pending: false,
            finished: false,
            head: Vec::new(),
            total_in: 0,
            total_out: 0,
        }
    }

    /// Refuses a zlib header that states a window larger than `2^bits` bytes, as zlib does
    /// for a `wbits` below 15 ([`Format::window_bits_of`]); the default is 15, any window.
    pub fn with_window_bits(self, bits: u8) -> Inflater {
        Inflater {
            window_bits: bits,
            ..self
        }
    }

    /// A decompressor on `q` rather than a queue of the pool (the driver's tests, on a
    /// device they play).
    #[cfg(test)]
    pub(crate) fn on_queue(q: crate::queue::Queue, format: Option<Format>) -> Inflater {
        Inflater {
            q: Pooled(Some(q)),
            ..Inflater::new(format)
        }
    }

    /// The stream's format (`None` while an automatic choice has seen no byte).
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// True once the stream has ended.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// True when the decoder holds output that did not fit the last bound: another call,
    /// even with no input, returns more.
    pub fn has_pending_output(&self) -> bool {
        self.pending
    }

    /// Compressed bytes used so far.
    pub fn total_in(&self) -> u64 {
        self.total_in
    }

    /// Bytes output so far.
    pub fn total_out(&self) -> u64 {
        self.total_out
    }

    /// Gives the queue back to the pool; the stream ends here (dropping does this too).
    pub fn close(&mut self) {
        self.finished = true;
        self.q = Pooled(None);
    }

    /// The gzip header's fields, once the whole header has been read (gzip only).
    pub fn gzip_header(&self) -> Option<GzipHeader> {
        match self.format {
            Some(Format::Gzip) => read_gzip_header(&self.head),
            _ => None,
        }
    }

    /// Decodes from `input`, appending at most `max_out` bytes to `out` (`None`: as much as
    /// the input gives). Stops at the end of the stream, when the bound is reached, or when
    /// the input is used up.
    pub fn inflate(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_out: Option<usize>,
    ) -> Result<Inflated> {
        let mut pos = 0usize;
        let mut made = 0usize;
        while !self.finished {
            let budget = max_out.map_or(OUT_STEP, |m| (m - made).min(OUT_STEP));
            if budget == 0 || (pos == input.len() && !self.pending) {
                break;
            }
            let piece = &input[pos..input.len().min(pos + PIECE)];
            let format = match (self.format, piece.first()) {
                (Some(f), _) => f,
                (None, Some(_)) => *self.format.insert(detect_format(piece)),
                (None, None) => break,
            };
            if self.head.len() < 2 {
                let mut h = self.head.clone();
                h.extend_from_slice(&piece[..piece.len().min(2 - self.head.len())]);
                if let Err(e) = check_window(format, self.window_bits, &h) {
                    self.finished = true;
                    return Err(e);
                }
            }
            let mut req = Request::without_buffers(format.req_type());
            if self.started {
                req = req.continue_stream();
            }
            let q = self.q.get(Direction::Decompress)?;
            let (status, consumed, produced, _) = run(q, req, piece, out, budget)?;
            self.started = true;
            let keep = HEAD_KEPT.saturating_sub(self.head.len());
            if let Some(s @ (Status::DataError | Status::ChecksumError)) = status {
                let mut h = self.head.clone();
                h.extend_from_slice(&piece[..piece.len().min(keep)]);
                self.finished = true;
                return Err(stream_error(format, &h, s));
            }
            self.head
                .extend_from_slice(&piece[..consumed.min(piece.len()).min(keep)]);
            pos += consumed.min(piece.len());
            made += produced;
            self.total_in += consumed as u64;
            self.total_out += produced as u64;
            match status {
                Some(Status::Ok) => {
                    self.finished = true;
                    self.pending = false;
                    // The stream is over: the queue goes back to the pool.
                    self.q = Pooled(None);
                }
                Some(Status::OutputTooSmall) => {
                    if consumed == 0 && produced == 0 {
                        return Err(Error::Protocol(
                            "the device made no progress on a decompression".into(),
                        ));
                    }
                    self.pending = true;
                }
                _ => self.pending = false,
            }
        }
        Ok(Inflated {
            consumed: pos,
            finished: self.finished,
        })
    }

    /// The error for a stream that ends here unfinished (the input was truncated); `None`
    /// if the stream ended or nothing was given.
    pub fn truncated(&self) -> Option<Error> {
        match (self.finished, self.format) {
            (false, Some(f)) if self.started || !self.head.is_empty() => {
                Some(stream_error(f, &self.head, Status::NeedInput))
            }
            _ => None,
        }
    }
}
