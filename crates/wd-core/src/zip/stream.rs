//! The stream scheduler: [`compress_stream`] spreads pieces over several queues and
//! writes them back in order into one stream; [`decompress_stream`] feeds one queue with
//! bounded buffers, member after member. Memory stays bounded whatever the input.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::time::Duration;

use crate::abi::{Csum, Direction, ReqType, Status};
use crate::dma::DmaBuf;
use crate::error::{DataErrorKind, Error, Result};
use crate::format::Format;
use crate::memlock::{self, CompressPlan, InflatePlan, Reservation};
use crate::pieces::PieceIndex;
use crate::queue::{Completion, Queue, Request};
use crate::wait::{self, Policy, Waiter};

use super::framing::{
    adler32_combine, after_stream, compress_bound, crc32_combine, gzip_header_with_index,
    gzip_trailer, stream_error, zlib_header, After,
};
use super::oneshot::output_limit;
use super::{Opener, StreamStats, ZipOptions};

/// How the pieces of one compression job are asked for.
struct PiecePlan {
    format: Format,
    level: u32,
}

impl PiecePlan {
    /// The request for piece `tag`: the whole stream in one request when `single`, else a
    /// raw deflate piece, with the checksum the trailer needs, that ends the stream only if
    /// `last`.
    fn request(&self, single: bool, last: bool, tag: u64, src: DmaBuf, dst: DmaBuf) -> Request {
        let r = if single {
            Request::new(self.format.req_type(), src, dst)
        } else {
            let csum = match self.format {
                Format::Gzip => Csum::Crc32,
                Format::Zlib => Csum::Adler32,
                Format::Deflate => Csum::Implied,
            };
            let r = Request::new(ReqType::Deflate, src, dst).checksum(csum);
            if last {
                r
            } else {
                r.partial()
            }
        };
        r.level(self.level).tag(tag)
    }
}

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
    let depth = opts.depth.max(1);
    // Queues are opened as pieces need them: a one-piece job uses one.
    let mut queues = vec![open(Direction::Compress)?];
    // A kernel device pins each queue's running piece: fit them in the locked-memory limit.
    let want = CompressPlan {
        queues: opts.queues.max(1),
        chunk: opts.chunk_size.clamp(4096, 64 << 20),
    };
    let (CompressPlan { queues: nq, chunk }, _pins) = if memlock::pins_pages(&queues[0]) {
        memlock::reserve_compress(want)?
    } else {
        (want, Reservation::none())
    };
    // Pieces sent and not yet written, done or not, each hold a pair of buffers. Past this
    // many, wait for the oldest instead of reading on: otherwise one slow queue lets the
    // others fill memory with pieces that cannot be written before its own.
    let window = (2 * nq * depth) as u64;
    let domain = queues[0].domain().clone();
    let mut free_src: Vec<DmaBuf> = Vec::new();
    let mut free_dst: Vec<DmaBuf> = Vec::new();
    let take = |pool: &mut Vec<DmaBuf>, n: usize| -> Result<DmaBuf> {
        match pool.pop() {
            Some(b) if b.capacity() >= n => Ok(b),
            _ => domain.alloc(n),
        }
    };

    // One piece of look-ahead tells whether the current piece is the last.
    let mut next = take(&mut free_src, chunk)?;
    let n = read_full(input, next.as_full_mut_slice()[..chunk].as_mut()).map_err(read_error)?;
    next.set_len(n);
    let mut eof = n < chunk;
    let mut lookahead = Some(next);
    let mut single = None;
    let mut header = Vec::new();

    let mut st = StreamStats::default();
    let (mut sent, mut written_seq) = (0u64, 0u64);
    let mut done: BTreeMap<u64, Completion> = BTreeMap::new();
    let mut sum = match opts.format {
        Format::Zlib => 1u32,
        _ => 0u32,
    };
    let plan = PiecePlan {
        format: opts.format,
        level,
    };
    let mut total_in = 0u64;
    let mut ready = Vec::new();
    // (compressed, uncompressed) bytes of each piece, while they fit the index's room.
    let slots = if opts.format == Format::Gzip && opts.index_pieces <= crate::pieces::MAX_PIECES {
        opts.index_pieces
    } else {
        0
    };
    let mut pieces: Vec<(u32, u32)> = Vec::new();
    let mut piece_count = 0usize;
    loop {
        // Fill every queue up to its depth.
        while let Some(cur) = lookahead.take() {
            if queues.len() < nq && queues.iter().all(|q| q.outstanding() > 0) {
                let q = open(Direction::Compress)?;
                if !std::sync::Arc::ptr_eq(q.domain(), &domain) {
                    return Err(Error::BadRequest(
                        "queues of one job must share an address space".into(),
                    ));
                }
                queues.push(q);
            }
            let room = sent - written_seq < window;
            let Some(qi) = (0..queues.len())
                .filter(|&i| room && queues[i].outstanding() < depth)
                .min_by_key(|&i| queues[i].outstanding())
            else {
                lookahead = Some(cur);
                break;
            };
            if !eof {
                let mut nb = take(&mut free_src, chunk)?;
                let n =
                    read_full(input, &mut nb.as_full_mut_slice()[..chunk]).map_err(read_error)?;
                nb.set_len(n);
                eof = n < chunk;
                if n > 0 {
                    lookahead = Some(nb);
                } else {
                    free_src.push(nb);
                }
            }
            let last = lookahead.is_none();
            if single.is_none() {
                // gzip is always wrapped here: its header is decided in one place.
                single = Some(last && sent == 0 && opts.format != Format::Gzip);
                if !single.unwrap_or(false) {
                    header = match opts.format {
                        Format::Gzip => gzip_header_with_index(level, &opts.gzip, slots),
                        Format::Zlib => zlib_header(level).to_vec(),
                        Format::Deflate => Vec::new(),
                    };
                    output.write_all(&header).map_err(write_error)?;
                }
            }
            let piece_len = cur.len();
            let dst = take(&mut free_dst, compress_bound(piece_len))?;
            let req = plan.request(single == Some(true), last, sent, cur, dst);
            queues[qi].send(req)?;
            sent += 1;
        }
        if written_seq == sent && lookahead.is_none() {
            break;
        }
        ready.clear();
        recv_any(&mut queues, &mut ready)?;
        for (qi, c) in ready.drain(..) {
            st.requests += 1;
            if c.status() == Some(Status::OutputTooSmall) {
                // The bound makes this impossible for a sane device; grow and retry anyway.
                let (src, dst) = (c.src, c.dst);
                let (src, dst) = (src.expect("src"), dst.expect("dst"));
                let bigger = domain.alloc(dst.capacity() * 2)?;
                let last = c.tag + 1 == sent && lookahead.is_none() && eof;
                queues[qi].send(plan.request(single == Some(true), last, c.tag, src, bigger))?;
                continue;
            }
            c.check()?;
            done.insert(c.tag, c);
        }
        while let Some(c) = done.remove(&written_seq) {
            let dst = c.dst.expect("dst");
            output.write_all(dst.as_slice()).map_err(write_error)?;
            let len = c.consumed as u64;
            sum = match opts.format {
                Format::Gzip => crc32_combine(sum, c.checksum, len),
                Format::Zlib => adler32_combine(sum, c.checksum, len),
                Format::Deflate => 0,
            };
            total_in += len;
            piece_count += 1;
            if pieces.len() < slots {
                pieces.push((dst.len() as u32, c.consumed as u32));
            }
            st.bytes_out += dst.len() as u64;
            free_dst.push(dst);
            free_src.extend(c.src);
            written_seq += 1;
            progress(total_in, st.bytes_out);
        }
    }
    if single == Some(false) {
        let trailer: Vec<u8> = match opts.format {
            Format::Gzip => gzip_trailer(sum, total_in).to_vec(),
            Format::Zlib => sum.to_be_bytes().to_vec(),
            Format::Deflate => Vec::new(),
        };
        output.write_all(&trailer).map_err(write_error)?;
        st.bytes_out += trailer.len() as u64;
        // The header too.
        st.bytes_out += header.len() as u64;
    }
    st.bytes_in = total_in;
    output.flush().map_err(write_error)?;
    for q in queues {
        crate::pool::give_back(q)?;
    }
    let index = (single == Some(false) && piece_count >= 2 && piece_count == pieces.len())
        .then(|| PieceIndex::new(&pieces, slots))
        .flatten();
    Ok((st, index))
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
    let limit = max_output.unwrap_or(u64::MAX);
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
    let mut src = Some(q.alloc(bufs.input)?);
    let mut dst = Some(q.alloc(bufs.output)?);
    // A second output buffer, where memory is not pinned: the device decodes into one
    // while the other's output is written out (pinned memory stays within its budget).
    let mut spare = match memlock::pins_pages(&q) {
        true => None,
        false => Some(q.alloc(bufs.output)?),
    };
    // Output of the last request, still to be written: it is written while the next
    // request of the same stream runs.
    let mut unwritten: Option<DmaBuf> = None;
    let mut st = StreamStats::default();
    let mut eof = false;
    let mut in_stream = false;
    let mut members = 0u64;
    let mut head = Vec::with_capacity(HEAD_KEPT);
    // Keeps the input buffer full while the reader has more.
    let refill = |s: &mut DmaBuf, eof: &mut bool, input: &mut dyn Read| -> Result<()> {
        if !*eof && s.len() < s.capacity() {
            let (have, cap) = (s.len(), s.capacity());
            let n = read_full(input, &mut s.as_full_mut_slice()[have..cap]).map_err(read_error)?;
            s.set_len(have + n);
            *eof = have + n < cap;
        }
        Ok(())
    };
    let drop_front = |s: &mut DmaBuf, n: usize| {
        let len = s.len();
        s.as_full_mut_slice().copy_within(n..len, 0);
        s.set_len(len - n);
    };
    loop {
        let s = src.as_mut().expect("src");
        if let Err(e) = refill(s, &mut eof, input) {
            // What was decoded before the read failed still goes out first.
            if let Some(d) = unwritten.take() {
                write_limited(output, &d, limit, &mut st)?;
            }
            return Err(e);
        }
        if !in_stream {
            if members > 0 {
                // Zero padding between and after gzip members, refilling as it goes.
                loop {
                    match after_stream(format, s.as_slice()) {
                        After::Member { skip } if skip > 0 => {
                            drop_front(s, skip);
                            refill(s, &mut eof, input)?;
                        }
                        After::Member { .. } => break,
                        After::End => {
                            // Nothing but zeros in the buffer: read on.
                            s.set_len(0);
                            if eof {
                                break;
                            }
                            refill(s, &mut eof, input)?;
                        }
                        After::Garbage => {
                            return Err(Error::data(DataErrorKind::TrailingGarbage, ""))
                        }
                    }
                }
                if s.is_empty() && eof {
                    break;
                }
            }
            if s.is_empty() {
                return Err(stream_error(format, &[], Status::NeedInput));
            }
            head.clear();
            head.extend_from_slice(&s.as_slice()[..s.len().min(HEAD_KEPT)]);
        }
        let mut req = Request::new(
            format.req_type(),
            src.take().expect("src"),
            dst.take().expect("dst"),
        );
        if in_stream {
            req = req.continue_stream();
        }
        q.send(req)?;
        if let Some(mut d) = unwritten.take() {
            write_limited(output, &d, limit, &mut st)?;
            progress(st.bytes_in, st.bytes_out);
            d.set_len(0);
            spare = Some(d);
        }
        let mut c = q.recv_timeout(None)?;
        st.requests += 1;
        let (mut s, d) = (c.src.take().expect("src"), c.dst.take().expect("dst"));
        st.bytes_in += c.consumed as u64;
        // Drop the consumed input.
        let used = c.consumed.min(s.len());
        drop_front(&mut s, used);
        let more = match c.status() {
            Some(Status::OutputTooSmall) => true,
            Some(Status::NeedInput) => !(eof && s.is_empty()),
            _ => false,
        };
        match spare.take() {
            // The stream goes on: its next request runs while this output is written.
            Some(next) if more => {
                unwritten = Some(d);
                dst = Some(next);
            }
            other => {
                spare = other;
                write_limited(output, &d, limit, &mut st)?;
                progress(st.bytes_in, st.bytes_out);
                dst = Some(d);
            }
        }
        match c.status() {
            Some(Status::Ok) => {
                in_stream = false;
                members += 1;
            }
            Some(Status::OutputTooSmall) => in_stream = true,
            Some(Status::NeedInput) => {
                in_stream = true;
                if eof && s.is_empty() {
                    return Err(stream_error(format, &head, Status::NeedInput));
                }
            }
            Some(status @ (Status::DataError | Status::ChecksumError)) => {
                return Err(stream_error(format, &head, status))
            }
            _ => c.check()?,
        }
        src = Some(s);
    }
    output.flush().map_err(write_error)?;
    crate::pool::give_back(q)?;
    Ok(st)
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
