//! The split compression: [`compress_stream`] spreads pieces over several queues and
//! writes them back in order into one stream. Memory stays bounded whatever the input.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use crate::abi::{Direction, ReqType, Status};
use crate::dma::{DmaBuf, Domain};
use crate::error::{Error, Result};
use crate::format::Format;
use crate::memlock::{self, CompressPlan, Reservation};
use crate::pieces::PieceIndex;
use crate::queue::{Completion, Queue, Request};

use super::framing::{compress_bound, Framer};
use super::headers::GzipHeader;
use super::stream::{read_error, read_full, recv_any, write_error};
use super::{Opener, StreamStats, ZipOptions};

/// Compresses everything `input` yields into `output` as one stream. `progress` is called
/// with (bytes read, bytes written) after each piece. Memory stays bounded whatever the
/// input's size and however unevenly the queues keep up: at most `2 * queues * depth`
/// pieces are read and not yet written.
pub fn compress_stream(
    input: &mut dyn Read,
    output: &mut dyn Write,
    opts: &ZipOptions,
    open: Opener<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StreamStats> {
    compress_stream_indexed(input, output, opts, open, progress).map(|(st, _)| st)
}

/// [`compress_stream`], also returning the piece index to write into the output's header
/// when `opts.index_pieces` reserved room for it and the stream's pieces fit there.
pub fn compress_stream_indexed(
    input: &mut dyn Read,
    output: &mut dyn Write,
    opts: &ZipOptions,
    open: Opener<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(StreamStats, Option<PieceIndex>)> {
    let level = opts.level.get()?;
    opts.gzip.check()?;
    let (mut pieces, _pins) = Scheduler::start(opts, open)?;
    let mut out = Output::new(output, opts, level);
    pieces.lookahead = Some(pieces.read_piece(input)?);
    loop {
        pieces.fill(input, &mut out)?;
        if pieces.written == pieces.sent && pieces.lookahead.is_none() {
            break;
        }
        pieces.receive(&mut out, progress)?;
    }
    let done = out.finish()?;
    for q in pieces.queues {
        crate::pool::give_back(q)?;
    }
    Ok(done)
}

/// The piece scheduler of a split compression: reads the input a piece at a time (one
/// piece of look-ahead tells whether the current one is the last), sends each on the least
/// busy queue, opening queues as pieces need them, and hands the completions to the
/// [`Output`] in order. Memory stays bounded: see `window`.
struct Scheduler<'a> {
    open: Opener<'a>,
    queues: Vec<Queue>,
    /// The most queues, pieces in flight per queue, and the piece size.
    most_queues: usize,
    depth: usize,
    chunk: usize,
    /// Pieces sent and not yet written, done or not, each hold a pair of buffers. Past this
    /// many, wait for the oldest instead of reading on: otherwise one slow queue lets the
    /// others fill memory with pieces that cannot be written before its own.
    window: u64,
    domain: Arc<Domain>,
    free_src: Vec<DmaBuf>,
    free_dst: Vec<DmaBuf>,
    lookahead: Option<DmaBuf>,
    eof: bool,
    sent: u64,
    written: u64,
    done: BTreeMap<u64, Completion>,
    ready: Vec<(usize, Completion)>,
}

impl<'a> Scheduler<'a> {
    /// Opens the first queue and fits the plan to the locked-memory limit, which a kernel
    /// device's pinning of each queue's running piece must stay within.
    fn start(opts: &ZipOptions, open: Opener<'a>) -> Result<(Scheduler<'a>, Reservation)> {
        // Queues are opened as pieces need them: a one-piece job uses one.
        let first = open(Direction::Compress)?;
        let want = CompressPlan {
            queues: opts.queues.max(1),
            chunk: opts.chunk_size.clamp(4096, 64 << 20),
        };
        let (CompressPlan { queues, chunk }, pins) = if memlock::pins_pages(&first) {
            memlock::reserve_compress(want)?
        } else {
            (want, Reservation::none())
        };
        let depth = opts.depth.max(1);
        let s = Scheduler {
            open,
            domain: first.domain().clone(),
            queues: vec![first],
            most_queues: queues,
            depth,
            chunk,
            window: (2 * queues * depth) as u64,
            free_src: Vec::new(),
            free_dst: Vec::new(),
            lookahead: None,
            eof: false,
            sent: 0,
            written: 0,
            done: BTreeMap::new(),
            ready: Vec::new(),
        };
        Ok((s, pins))
    }

    /// A buffer of at least `n` bytes: the last one freed into `pool` if it is large
    /// enough, else a new one.
    fn take(domain: &Arc<Domain>, pool: &mut Vec<DmaBuf>, n: usize) -> Result<DmaBuf> {
        match pool.pop() {
            Some(b) if b.capacity() >= n => Ok(b),
            _ => domain.alloc(n),
        }
    }

    /// Reads the next piece (empty at the end of the input) and notes whether the input
    /// ended.
    fn read_piece(&mut self, input: &mut dyn Read) -> Result<DmaBuf> {
        let mut b = Self::take(&self.domain, &mut self.free_src, self.chunk)?;
        let n = read_full(input, &mut b.as_full_mut_slice()[..self.chunk]).map_err(read_error)?;
        b.set_len(n);
        self.eof = n < self.chunk;
        Ok(b)
    }

    /// Sends pieces while a queue has room and the window allows, reading one ahead.
    fn fill(&mut self, input: &mut dyn Read, out: &mut Output<'_>) -> Result<()> {
        while let Some(cur) = self.lookahead.take() {
            let Some(qi) = self.free_queue()? else {
                self.lookahead = Some(cur);
                break;
            };
            if !self.eof {
                let next = self.read_piece(input)?;
                if next.is_empty() {
                    self.free_src.push(next);
                } else {
                    self.lookahead = Some(next);
                }
            }
            let last = self.lookahead.is_none();
            out.begin(last && self.sent == 0, self.queues[qi].takes_level())?;
            let dst = Self::take(&self.domain, &mut self.free_dst, compress_bound(cur.len()))?;
            let req = out.request(cur, dst, last, self.sent);
            self.queues[qi].send(req)?;
            self.sent += 1;
        }
        Ok(())
    }

    /// The queue the next piece goes to: the least busy one with room, after opening
    /// another while every queue is busy and more are allowed; `None` while none has room
    /// or the window is full.
    fn free_queue(&mut self) -> Result<Option<usize>> {
        if self.queues.len() < self.most_queues && self.queues.iter().all(|q| q.outstanding() > 0) {
            let q = (self.open)(Direction::Compress)?;
            if !Arc::ptr_eq(q.domain(), &self.domain) {
                return Err(Error::BadRequest(
                    "queues of one job must share an address space".into(),
                ));
            }
            self.queues.push(q);
        }
        let room = self.sent - self.written < self.window;
        Ok((0..self.queues.len())
            .filter(|&i| room && self.queues[i].outstanding() < self.depth)
            .min_by_key(|&i| self.queues[i].outstanding()))
    }

    /// Waits for completions, sends again a piece whose output did not fit, and writes the
    /// pieces done, in order, calling `progress` after each.
    fn receive(&mut self, out: &mut Output<'_>, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let mut ready = std::mem::take(&mut self.ready);
        recv_any(&mut self.queues, &mut ready)?;
        for (qi, c) in ready.drain(..) {
            out.st.requests += 1;
            if c.status() == Some(Status::OutputTooSmall) {
                // The bound makes this impossible for a sane device; grow and retry anyway.
                let (src, dst) = (c.src.expect("src"), c.dst.expect("dst"));
                let bigger = self.domain.alloc(dst.capacity() * 2)?;
                let last = c.tag + 1 == self.sent && self.lookahead.is_none() && self.eof;
                self.queues[qi].send(out.request(src, bigger, last, c.tag))?;
                continue;
            }
            c.check()?;
            self.done.insert(c.tag, c);
        }
        self.ready = ready;
        while let Some(c) = self.done.remove(&self.written) {
            let (src, dst) = out.write_piece(c)?;
            self.free_dst.push(dst);
            self.free_src.extend(src);
            self.written += 1;
            progress(out.framer.total_in(), out.st.bytes_out);
        }
        Ok(())
    }
}

/// The output side of a split compression: the pieces' outputs in order, inside the
/// stream's framing ([`Framer`]: header, checksum, trailer), the bytes counted and the
/// piece index gathered.
struct Output<'o> {
    output: &'o mut dyn Write,
    framer: Framer,
    format: Format,
    level: u32,
    gzip: &'o GzipHeader,
    /// Room for a piece index in the header, in pieces (0: none).
    slots: usize,
    /// Decided when the first piece is sent: whether the stream is that one request of the
    /// format itself, framed by the device.
    single: Option<bool>,
    header_len: usize,
    /// (compressed, uncompressed) bytes of each piece, while they fit the index's room.
    pieces: Vec<(u32, u32)>,
    piece_count: usize,
    st: StreamStats,
}

impl<'o> Output<'o> {
    fn new(output: &'o mut dyn Write, opts: &'o ZipOptions, level: u32) -> Output<'o> {
        Output {
            output,
            framer: Framer::new(opts.format, level),
            format: opts.format,
            level,
            gzip: &opts.gzip,
            slots: opts.format.index_slots(opts.index_pieces),
            single: None,
            header_len: 0,
            pieces: Vec::new(),
            piece_count: 0,
            st: StreamStats::default(),
        }
    }

    /// Called as each piece is sent; the first decides whether the stream is one request
    /// of the format (`only`: it is the only piece, and the format lets the device frame
    /// it) or framed here, and then writes the header (naming the level if the device,
    /// which `takes_level` says, compresses at it).
    fn begin(&mut self, only: bool, takes_level: bool) -> Result<()> {
        if self.single.is_none() {
            let single = only && !self.format.framed_by_driver();
            self.single = Some(single);
            if !single {
                let header = self.framer.header(self.gzip, self.slots, takes_level);
                self.output.write_all(&header).map_err(write_error)?;
                self.header_len = header.len();
            }
        }
        Ok(())
    }

    /// The request for piece `tag`: the whole stream in one request when single, else a
    /// raw deflate piece as the framing asks for it, ending the stream only if `last`.
    fn request(&self, src: DmaBuf, dst: DmaBuf, last: bool, tag: u64) -> Request {
        let r = if self.single == Some(true) {
            Request::new(self.format.req_type(), src, dst).level(self.level)
        } else {
            self.framer
                .piece(Request::new(ReqType::Deflate, src, dst), last)
        };
        r.tag(tag)
    }

    /// Writes the output of a piece done, the next in order, and counts it; hands its
    /// buffers back (input, output) for reuse.
    fn write_piece(&mut self, c: Completion) -> Result<(Option<DmaBuf>, DmaBuf)> {
        let dst = c.dst.expect("dst");
        self.output.write_all(dst.as_slice()).map_err(write_error)?;
        self.framer.add(c.checksum, c.consumed as u64);
        self.piece_count += 1;
        if self.pieces.len() < self.slots {
            self.pieces.push((dst.len() as u32, c.consumed as u32));
        }
        self.st.bytes_out += dst.len() as u64;
        Ok((c.src, dst))
    }

    /// Writes the trailer (if framed here) and flushes; the stream's counts (the header's
    /// bytes too) and its piece index, if every piece found room in it.
    fn finish(mut self) -> Result<(StreamStats, Option<PieceIndex>)> {
        let framed = self.single == Some(false);
        if framed {
            let trailer = self.framer.trailer();
            self.output.write_all(&trailer).map_err(write_error)?;
            self.st.bytes_out += (trailer.len() + self.header_len) as u64;
        }
        self.st.bytes_in = self.framer.total_in();
        self.output.flush().map_err(write_error)?;
        let index = (framed && self.piece_count >= 2 && self.piece_count == self.pieces.len())
            .then(|| PieceIndex::new(&self.pieces, self.slots))
            .flatten();
        Ok((self.st, index))
    }
}
