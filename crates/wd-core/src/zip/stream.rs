//! The stream scheduler: [`compress_stream`] spreads pieces over several queues and
//! writes them back in order into one stream; [`decompress_stream`] feeds one queue with
//! bounded buffers, member after member. Memory stays bounded whatever the input.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::abi::{Direction, ReqType, Status};
use crate::dma::{DmaBuf, Domain};
use crate::error::{DataErrorKind, Error, Result};
use crate::format::Format;
use crate::memlock::{self, CompressPlan, InflatePlan, Reservation};
use crate::pieces::PieceIndex;
use crate::queue::{Completion, Queue, Request};
use crate::wait::{self, Policy, Waiter};

use super::framing::{after_stream, compress_bound, stream_error, After, Framer, GzipHeader};
use super::oneshot::output_limit;
use super::{Opener, StreamStats, ZipOptions};

/// How long the caller polls before it sleeps on the queues' interrupts. With one queue
/// busy, as that queue judges from the speed it has seen (`Queue::poll_budget`), so a small
/// request never pays a wake-up; with several busy, only briefly: the devices need the CPU
/// more than the caller does.
fn poll_budget(queues: &[Queue]) -> Duration {
    let mut busy = queues.iter().filter(|q| q.outstanding() > 0);
    match (busy.next(), busy.next()) {
        (Some(q), None) => q.poll_budget(),
        _ => Duration::from_micros(50),
    }
}

/// Waits until one of `queues` has a completion and takes all that are ready.
pub(crate) fn recv_any(queues: &mut [Queue], out: &mut Vec<(usize, Completion)>) -> Result<()> {
    let policy = Policy {
        budget: poll_budget(queues),
        nap: None,
        slice: crate::queue::DEVICE_CHECK,
        deadline: None,
    };
    let mut any = AnyQueue {
        queues,
        out,
        got: Vec::new(),
    };
    wait::until(&mut any, &policy)
}

/// Several queues' blocking receive, for [`wait::until`]: ready when any has completions.
struct AnyQueue<'a> {
    queues: &'a mut [Queue],
    out: &'a mut Vec<(usize, Completion)>,
    got: Vec<Completion>,
}

impl Waiter for AnyQueue<'_> {
    type Ready = ();
    type Error = Error;

    fn poll(&mut self) -> Result<Option<()>> {
        for (i, q) in self.queues.iter_mut().enumerate() {
            q.recv_many(&mut self.got, usize::MAX)?;
            self.out.extend(self.got.drain(..).map(|c| (i, c)));
        }
        Ok((!self.out.is_empty()).then_some(()))
    }

    fn arm(&mut self) -> Result<bool> {
        let (mut busy, mut ready) = (false, false);
        for q in self.queues.iter_mut().filter(|q| q.outstanding() > 0) {
            busy = true;
            if !q.arm_interrupt()? {
                ready = true;
            }
        }
        if !busy {
            return Err(Error::Protocol("waiting with nothing in flight".into()));
        }
        if ready {
            self.clear_readiness();
        }
        Ok(!ready)
    }

    fn sleep(&mut self, timeout: Duration) -> Result<()> {
        let busy = || self.queues.iter().filter(|q| q.outstanding() > 0);
        let fds: Vec<RawFd> = busy().map(|q| q.readiness_fd()).collect();
        wait::readable(&fds, Some(timeout))?;
        for q in busy() {
            q.check_device()?;
        }
        self.clear_readiness();
        Ok(())
    }
}

impl AnyQueue<'_> {
    fn clear_readiness(&self) {
        for q in self.queues.iter() {
            q.clear_readiness();
        }
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn read_error(e: io::Error) -> Error {
    Error::io("reading the input", e)
}

fn write_error(e: io::Error) -> Error {
    Error::io("writing the output", e)
}

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

/// Input and output buffer sizes of a decompression.
const INFLATE_IN: usize = 1 << 20;
const INFLATE_OUT: usize = 4 << 20;

/// How many bytes of a stream's start are kept to say what is wrong with its header.
const HEAD_KEPT: usize = 4096;

/// Decompresses `input` (one stream; for gzip any number of members) into `output`.
pub fn decompress_stream(
    input: &mut dyn Read,
    output: &mut dyn Write,
    format: Format,
    open: Opener<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StreamStats> {
    decompress_stream_limited(input, output, format, None, open, progress)
}

/// [`decompress_stream`] that writes at most `max_output` bytes: a stream that decodes to
/// more fails with [`DataErrorKind::OutputLimit`] once the first `max_output` bytes are
/// written. Memory stays bounded (a few MiB) whatever the input decodes to.
pub fn decompress_stream_limited(
    input: &mut dyn Read,
    output: &mut dyn Write,
    format: Format,
    max_output: Option<u64>,
    open: Opener<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StreamStats> {
    let mut q = open(Direction::Decompress)?;
    let want = InflatePlan {
        input: INFLATE_IN,
        output: INFLATE_OUT,
    };
    let (bufs, _pins) = if memlock::pins_pages(&q) {
        memlock::reserve_inflate(want)?
    } else {
        (want, Reservation::none())
    };
    let mut run = Inflate::new(&mut q, output, format, max_output, bufs)?;
    while run.step(input, progress)? {}
    run.output.flush().map_err(write_error)?;
    let st = run.st;
    crate::pool::give_back(q)?;
    Ok(st)
}

/// A decompression under way: its queue and buffers, and where the stream stands. One
/// request at a time; where memory is not pinned, a request's output is written while the
/// next request of the same stream runs.
struct Inflate<'a> {
    q: &'a mut Queue,
    output: &'a mut dyn Write,
    format: Format,
    /// Bytes the whole output may have.
    limit: u64,
    /// The input buffer, between requests (the unread input at its front).
    src: Option<DmaBuf>,
    /// The output buffer the next request decodes into.
    dst: Option<DmaBuf>,
    /// A second output buffer, where memory is not pinned: the device decodes into one
    /// while the other's output is written out (pinned memory stays within its budget).
    spare: Option<DmaBuf>,
    /// Output of the last request, still to be written: it is written while the next
    /// request of the same stream runs.
    unwritten: Option<DmaBuf>,
    st: StreamStats,
    /// The reader has ended.
    eof: bool,
    /// The device is inside a stream (a member), so the next request continues it.
    in_stream: bool,
    /// Streams (gzip members) finished.
    members: u64,
    /// The current stream's first bytes, to say what is wrong with its header.
    head: Vec<u8>,
}

impl<'a> Inflate<'a> {
    fn new(
        q: &'a mut Queue,
        output: &'a mut dyn Write,
        format: Format,
        max_output: Option<u64>,
        bufs: InflatePlan,
    ) -> Result<Inflate<'a>> {
        let src = Some(q.alloc(bufs.input)?);
        let dst = Some(q.alloc(bufs.output)?);
        let spare = match memlock::pins_pages(q) {
            true => None,
            false => Some(q.alloc(bufs.output)?),
        };
        Ok(Inflate {
            q,
            output,
            format,
            limit: max_output.unwrap_or(u64::MAX),
            src,
            dst,
            spare,
            unwritten: None,
            st: StreamStats::default(),
            eof: false,
            in_stream: false,
            members: 0,
            head: Vec::with_capacity(HEAD_KEPT),
        })
    }

    /// One request, with the reading before it and the writing after it; false once the
    /// input has ended cleanly after its last stream.
    fn step(&mut self, input: &mut dyn Read, progress: &mut dyn FnMut(u64, u64)) -> Result<bool> {
        if let Err(e) = self.refill(input) {
            // What was decoded before the read failed still goes out first.
            if let Some(d) = self.unwritten.take() {
                write_limited(self.output, &d, self.limit, &mut self.st)?;
            }
            return Err(e);
        }
        if !self.in_stream && !self.begin_stream(input)? {
            return Ok(false);
        }
        let c = self.exchange(progress)?;
        self.settle(c, progress)?;
        Ok(true)
    }

    /// Keeps the input buffer full while the reader has more.
    fn refill(&mut self, input: &mut dyn Read) -> Result<()> {
        let s = self.src.as_mut().expect("src");
        if !self.eof && s.len() < s.capacity() {
            let (have, cap) = (s.len(), s.capacity());
            let n = read_full(input, &mut s.as_full_mut_slice()[have..cap]).map_err(read_error)?;
            s.set_len(have + n);
            self.eof = have + n < cap;
        }
        Ok(())
    }

    /// Before a stream's first request: after the first, skips the padding between gzip
    /// members; keeps the stream's head. False when the input has ended instead.
    fn begin_stream(&mut self, input: &mut dyn Read) -> Result<bool> {
        if self.members > 0 {
            self.skip_padding(input)?;
            if self.src.as_ref().expect("src").is_empty() && self.eof {
                return Ok(false);
            }
        }
        let s = self.src.as_ref().expect("src");
        if s.is_empty() {
            return Err(stream_error(self.format, &[], Status::NeedInput));
        }
        self.head.clear();
        self.head
            .extend_from_slice(&s.as_slice()[..s.len().min(HEAD_KEPT)]);
        Ok(true)
    }

    /// Zero padding between and after gzip members, refilling as it goes.
    fn skip_padding(&mut self, input: &mut dyn Read) -> Result<()> {
        loop {
            let s = self.src.as_mut().expect("src");
            match after_stream(self.format, s.as_slice()) {
                After::Member { skip } if skip > 0 => {
                    drop_front(s, skip);
                    self.refill(input)?;
                }
                After::Member { .. } => return Ok(()),
                After::End => {
                    // Nothing but zeros in the buffer: read on.
                    s.set_len(0);
                    if self.eof {
                        return Ok(());
                    }
                    self.refill(input)?;
                }
                After::Garbage => return Err(Error::data(DataErrorKind::TrailingGarbage, "")),
            }
        }
    }

    /// Sends the next request, writes the last one's output while it runs, and waits for
    /// its completion.
    fn exchange(&mut self, progress: &mut dyn FnMut(u64, u64)) -> Result<Completion> {
        let mut req = Request::new(
            self.format.req_type(),
            self.src.take().expect("src"),
            self.dst.take().expect("dst"),
        );
        if self.in_stream {
            req = req.continue_stream();
        }
        self.q.send(req)?;
        if let Some(mut d) = self.unwritten.take() {
            write_limited(self.output, &d, self.limit, &mut self.st)?;
            progress(self.st.bytes_in, self.st.bytes_out);
            d.set_len(0);
            self.spare = Some(d);
        }
        let c = self.q.recv_timeout(None)?;
        self.st.requests += 1;
        Ok(c)
    }

    /// Takes a completion's buffers back: drops the consumed input, writes the output (or
    /// keeps it to write while the next request runs) and ends the stream where it ended.
    fn settle(&mut self, mut c: Completion, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let (mut s, d) = (c.src.take().expect("src"), c.dst.take().expect("dst"));
        self.st.bytes_in += c.consumed as u64;
        // Drop the consumed input.
        let used = c.consumed.min(s.len());
        drop_front(&mut s, used);
        // Asking for input when there is no more is the end of it: all of it was read,
        // or the device took none of what is left and wrote nothing (on v2 the driver
        // answers a header cut short that way), and asking again would change nothing.
        let ended = self.eof && (s.is_empty() || (used == 0 && c.produced == 0));
        let more = match c.status() {
            Some(Status::OutputTooSmall) => true,
            Some(Status::NeedInput) => !ended,
            _ => false,
        };
        self.place_output(d, more, progress)?;
        match c.status() {
            Some(Status::Ok) => {
                self.in_stream = false;
                self.members += 1;
            }
            Some(Status::OutputTooSmall) => self.in_stream = true,
            Some(Status::NeedInput) => {
                self.in_stream = true;
                if ended {
                    return Err(stream_error(self.format, &self.head, Status::NeedInput));
                }
            }
            Some(status @ (Status::DataError | Status::ChecksumError)) => {
                return Err(stream_error(self.format, &self.head, status))
            }
            _ => c.check()?,
        }
        self.src = Some(s);
        Ok(())
    }

    /// A request's output `d`: kept to write while the next request runs when the stream
    /// goes on (`more`) and a spare buffer is there to decode into, else written now.
    fn place_output(
        &mut self,
        d: DmaBuf,
        more: bool,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        match self.spare.take() {
            // The stream goes on: its next request runs while this output is written.
            Some(next) if more => {
                self.unwritten = Some(d);
                self.dst = Some(next);
            }
            other => {
                self.spare = other;
                write_limited(self.output, &d, self.limit, &mut self.st)?;
                progress(self.st.bytes_in, self.st.bytes_out);
                self.dst = Some(d);
            }
        }
        Ok(())
    }
}

/// Drops the first `n` bytes of `s`, moving the rest to its front.
fn drop_front(s: &mut DmaBuf, n: usize) {
    let len = s.len();
    s.as_full_mut_slice().copy_within(n..len, 0);
    s.set_len(len - n);
}

/// Writes a request's output, or as much of it as `limit` (on the whole output) leaves
/// and then the limit's error.
fn write_limited(
    output: &mut dyn Write,
    d: &DmaBuf,
    limit: u64,
    st: &mut StreamStats,
) -> Result<()> {
    let room = limit - st.bytes_out;
    if d.len() as u64 > room {
        output
            .write_all(&d.as_slice()[..room as usize])
            .map_err(write_error)?;
        return Err(output_limit(limit));
    }
    output.write_all(d.as_slice()).map_err(write_error)?;
    st.bytes_out += d.len() as u64;
    Ok(())
}
