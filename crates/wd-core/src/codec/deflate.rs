//! [`Deflater`]: one compressed stream from pieces spread over several queues at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::PIECE;
use crate::abi::{Direction, ReqType, Status};
use crate::dma::DmaBuf;
use crate::error::{Error, Result};
use crate::memlock::{self, CompressPlan, Reservation};
use crate::queue::{Completion, Queue, Request};
use crate::zip::{compress_bound, Format, Framer, GzipHeader, Level};

/// How a [`Deflater::flush`] ends what was written so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flush {
    /// Everything written so far is output and decodable (zlib's `Z_SYNC_FLUSH`; pieces are
    /// compressed independently, so this is also `Z_FULL_FLUSH`).
    Sync,
    /// The stream ends: the last block and the trailer (zlib's `Z_FINISH`).
    Finish,
}

/// Incremental compression into one stream of a format (zlib's `compressobj`), in pieces
/// spread over several queues at once: each piece but the last is raw deflate ending in a
/// sync flush, the pieces' outputs are joined in order, and the trailer combines their
/// checksums (the machinery of [`crate::zip::compress_stream`], fed by pushes instead of a
/// reader). Memory stays bounded: at most `queues * (depth + 1)` pieces are in flight.
pub struct Deflater {
    queues: Vec<Queue>,
    used: usize,
    want_queues: usize,
    depth: usize,
    chunk: usize,
    pins: Option<Reservation>,
    /// The format's framing: header, each piece's request, checksum, trailer.
    framer: Framer,
    header: GzipHeader,
    started: bool,
    finished: bool,
    pending: Vec<u8>,
    sent: u64,
    written: u64,
    last_tag: Option<u64>,
    done: BTreeMap<u64, Completion>,
    free_src: Vec<DmaBuf>,
    free_dst: Vec<DmaBuf>,
}

impl Deflater {
    /// A compressor of `format` at `level` over at most `queues` queues (at least 1, at
    /// most [`crate::zip::MAX_QUEUES`]); `header` gives the gzip header's optional fields
    /// (ignored by the other formats). Queues are taken from the pool as pieces need them.
    pub fn new(
        format: Format,
        level: impl Into<Level>,
        header: GzipHeader,
        queues: usize,
    ) -> Result<Deflater> {
        header.check()?;
        if !(1..=crate::zip::MAX_QUEUES).contains(&queues) {
            return Err(Error::BadRequest(format!(
                "queues must be 1 .. {}",
                crate::zip::MAX_QUEUES
            )));
        }
        Ok(Deflater {
            queues: Vec::new(),
            used: 0,
            want_queues: queues,
            depth: 2,
            chunk: PIECE,
            pins: None,
            framer: Framer::new(format, level.into().get()?),
            header,
            started: false,
            finished: false,
            pending: Vec::new(),
            sent: 0,
            written: 0,
            last_tag: None,
            done: BTreeMap::new(),
            free_src: Vec::new(),
            free_dst: Vec::new(),
        })
    }

    /// True once [`Flush::Finish`] has ended the stream (or an error has broken it).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// How many queues the compressor holds now (none between a sync flush and the next
    /// piece, and none once finished).
    pub fn queues_held(&self) -> usize {
        self.queues.len()
    }

    /// How many queues the pieces have been spread over so far.
    pub fn queues_used(&self) -> usize {
        self.used
    }

    pub(super) fn closed() -> Error {
        Error::BadRequest("the compressed stream is already finished".into())
    }

    /// Runs `f`; an error leaves the stream finished (nothing more can be added to it).
    fn guarded<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        if self.finished {
            return Err(Self::closed());
        }
        let r = f(self);
        if r.is_err() {
            self.finished = true;
        }
        r
    }

    /// Takes `data`, appending to `out` the output of every piece that is done, in order;
    /// less than a piece waits for more data or a flush.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.guarded(|s| {
            s.open_first()?;
            let mut data = data;
            if !s.pending.is_empty() {
                let take = (s.chunk - s.pending.len()).min(data.len());
                s.pending.extend_from_slice(&data[..take]);
                data = &data[take..];
                if s.pending.len() == s.chunk {
                    let p = std::mem::take(&mut s.pending);
                    s.send_piece(&p, false, out)?;
                    s.pending = p;
                    s.pending.clear();
                }
            }
            while data.len() >= s.chunk {
                s.send_piece(&data[..s.chunk], false, out)?;
                data = &data[s.chunk..];
            }
            s.pending.extend_from_slice(data);
            s.collect(false, out)
        })
    }

    /// Compresses what waits and appends all output to `out`: decodable up to here
    /// ([`Flush::Sync`]) or the stream's end ([`Flush::Finish`]).
    pub fn flush(&mut self, mode: Flush, out: &mut Vec<u8>) -> Result<()> {
        self.guarded(|s| {
            s.open_first()?;
            let last = mode == Flush::Finish;
            // Every piece sent so far ends in a sync flush already.
            if !s.pending.is_empty() || last {
                let p = std::mem::take(&mut s.pending);
                s.send_piece(&p, last, out)?;
            }
            while s.written < s.sent {
                s.collect(true, out)?;
            }
            if !last {
                // Nothing in flight: the queues go back to the pool until the next piece,
                // so an idle compressor (a connection between messages) holds none.
                for q in s.queues.drain(..) {
                    crate::pool::give_back(q)?;
                }
            }
            if last {
                out.extend_from_slice(&s.framer.trailer());
                s.finished = true;
                for q in s.queues.drain(..) {
                    crate::pool::give_back(q)?;
                }
            }
            Ok(())
        })
    }

    /// Takes a first queue from the pool when the compressor holds none; the first time,
    /// fits the plan to the locked-memory limit.
    fn open_first(&mut self) -> Result<()> {
        if !self.queues.is_empty() {
            return Ok(());
        }
        let q = crate::pool::take(Direction::Compress)?;
        if self.pins.is_none() {
            let want = CompressPlan {
                queues: self.want_queues,
                chunk: self.chunk,
            };
            let (plan, pins) = if memlock::pins_pages(&q) {
                memlock::reserve_compress(want)?
            } else {
                (want, Reservation::none())
            };
            self.want_queues = plan.queues;
            self.chunk = plan.chunk;
            self.pins = Some(pins);
        }
        self.queues.push(q);
        self.used = self.used.max(1);
        Ok(())
    }

    /// Sends one piece on the least busy queue (opening another while all are busy),
    /// first collecting finished pieces while none has room; `last` ends the stream.
    fn send_piece(&mut self, data: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
        if !self.started {
            let takes_level = self.queues[0].takes_level();
            out.extend_from_slice(&self.framer.header(&self.header, 0, takes_level));
            self.started = true;
        }
        let window = (self.want_queues * (self.depth + 1)) as u64;
        let qi = loop {
            if self.queues.len() < self.want_queues
                && self.queues.iter().all(|q| q.outstanding() > 0)
            {
                let q = crate::pool::take(Direction::Compress)?;
                if !Arc::ptr_eq(q.domain(), self.queues[0].domain()) {
                    crate::pool::give_back(q)?;
                    self.want_queues = self.queues.len();
                } else {
                    self.queues.push(q);
                }
                self.used = self.used.max(self.queues.len());
            }
            let free = (0..self.queues.len())
                .filter(|&i| self.queues[i].outstanding() < self.depth)
                .min_by_key(|&i| self.queues[i].outstanding());
            match free {
                Some(i) if self.sent - self.written < window => break i,
                _ => self.collect(true, out)?,
            }
        };
        let domain = self.queues[0].domain().clone();
        let take = |pool: &mut Vec<DmaBuf>, n: usize| -> Result<DmaBuf> {
            match pool.pop() {
                Some(b) if b.capacity() >= n => Ok(b),
                _ => domain.alloc(n.max(1)),
            }
        };
        let mut src = take(&mut self.free_src, data.len())?;
        src.as_full_mut_slice()[..data.len()].copy_from_slice(data);
        src.set_len(data.len());
        let dst = take(&mut self.free_dst, compress_bound(data.len()))?;
        if last {
            self.last_tag = Some(self.sent);
        }
        let req = self.request(src, dst, self.sent);
        self.queues[qi].send(req)?;
        self.sent += 1;
        Ok(())
    }

    /// The request for piece `tag`.
    fn request(&self, src: DmaBuf, dst: DmaBuf, tag: u64) -> Request {
        let last = self.last_tag == Some(tag);
        self.framer
            .piece(Request::new(ReqType::Deflate, src, dst), last)
            .tag(tag)
    }

    /// Takes the completions that are there (waiting for one when `block`), and appends
    /// the output of the pieces done, in order.
    fn collect(&mut self, block: bool, out: &mut Vec<u8>) -> Result<()> {
        let mut ready = Vec::new();
        if block {
            crate::zip::recv_any(&mut self.queues, &mut ready)?;
        } else {
            let mut got = Vec::new();
            for (i, q) in self.queues.iter_mut().enumerate() {
                q.recv_many(&mut got, usize::MAX)?;
                ready.extend(got.drain(..).map(|c| (i, c)));
            }
        }
        for (qi, mut c) in ready {
            if c.status() == Some(Status::OutputTooSmall) {
                // The bound makes this impossible for a sane device; grow and retry anyway.
                let (Some(src), Some(dst)) = (c.src.take(), c.dst.take()) else {
                    return Err(Error::Protocol("a completion without its buffers".into()));
                };
                let bigger = self.queues[qi].alloc(dst.capacity() * 2)?;
                let req = self.request(src, bigger, c.tag);
                self.queues[qi].send(req)?;
                continue;
            }
            c.check()?;
            self.done.insert(c.tag, c);
        }
        while let Some(mut c) = self.done.remove(&self.written) {
            let Some(dst) = c.dst.take() else {
                return Err(Error::Protocol("a completion without its output".into()));
            };
            out.extend_from_slice(dst.as_slice());
            self.framer.add(c.checksum, c.consumed as u64);
            self.free_dst.push(dst);
            self.free_src.extend(c.src.take());
            self.written += 1;
        }
        Ok(())
    }
}

impl Deflater {
    /// Gives the queues back (a queue with pieces still in flight is closed, which waits
    /// for them); the stream ends unfinished. Dropping the compressor does this too.
    pub fn close(&mut self) {
        self.finished = true;
        for q in self.queues.drain(..) {
            let _ = crate::pool::give_back(q);
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        self.close();
    }
}
