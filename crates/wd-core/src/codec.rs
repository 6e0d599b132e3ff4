//! Incremental compression and decompression over one device queue, with zlib's
//! `compressobj`/`decompressobj` semantics: data is fed piece by piece, output comes back as
//! it is made, and decompression stops at a caller's output bound and at the end of the
//! stream, saying how much input it used.
//!
//! [`Deflater`] sends raw deflate pieces that end in a sync flush (`PARTIAL`) and wraps them
//! itself: the gzip header is [`crate::zip::gzip_header`]'s, the trailer combines the
//! pieces' checksums. [`Inflater`] continues the device's decoder state between requests
//! (`CONTINUE`) and stops after one stream (one gzip member), as zlib does.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::abi::{Csum, Direction, ReqType, Status};
use crate::dma::DmaBuf;
use crate::error::{DataErrorKind, Error, Result};
use crate::memlock::{self, CompressPlan, Reservation};
use crate::queue::{Completion, Queue, Request};
use crate::zip::{
    adler32_combine, compress_bound, crc32_combine, detect_format, gzip_header, gzip_trailer,
    read_gzip_header, stream_error, Format, GzipHeader, Level,
};

/// The most input bytes one request of a [`Deflater`] or [`Inflater`] takes (what one
/// request of the whole-buffer calls takes).
pub const PIECE: usize = crate::zip::ONE_REQUEST_MAX;

/// The most output bytes one decompression request is offered.
const OUT_STEP: usize = 1 << 20;

/// How many bytes of a stream's start are kept to name what is wrong with its header and to
/// read a gzip header's fields.
const HEAD_KEPT: usize = 4096;

/// A queue of the process's pool, given back when dropped.
struct Pooled(Option<Queue>);

impl Pooled {
    fn get(&mut self, dir: Direction) -> Result<&mut Queue> {
        if self.0.is_none() {
            self.0 = Some(crate::pool::take(dir)?);
        }
        self.0.as_mut().ok_or(Error::Closed)
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(q) = self.0.take() {
            // A queue that cannot go back is closed by give_back; nothing to report here.
            let _ = crate::pool::give_back(q);
        }
    }
}

/// Runs one request reading `input` and appending at most `space` bytes to `out`, with the
/// pins it needs reserved under the locked-memory limit on a device that pins. Returns the
/// completion's status, `consumed` and `checksum`.
fn run(
    q: &mut Queue,
    req: Request,
    input: &[u8],
    out: &mut Vec<u8>,
    space: usize,
) -> Result<(Option<Status>, usize, usize, u32)> {
    let (space, _pins) = if memlock::pins_pages(q) {
        memlock::reserve_request(input.len(), space, space.min(64 << 10))?
    } else {
        (space, Reservation::none())
    };
    let before = out.len();
    let c = q.run_borrowed(req, input, out, space)?;
    let produced = out.len() - before;
    let pinned = memlock::request_pins(input.len(), space);
    match c.status() {
        Some(s @ (Status::Ok | Status::OutputTooSmall | Status::NeedInput))
        | Some(s @ (Status::DataError | Status::ChecksumError)) => {
            Ok((Some(s), c.consumed, produced, c.checksum))
        }
        _ => {
            c.check().map_err(|e| e.with_pinned(pinned))?;
            Ok((c.status(), c.consumed, produced, c.checksum))
        }
    }
}

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
    format: Format,
    level: u32,
    header: GzipHeader,
    started: bool,
    finished: bool,
    sum: u32,
    total_in: u64,
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
            format,
            level: level.into().get()?,
            header,
            started: false,
            finished: false,
            sum: if format == Format::Zlib { 1 } else { 0 },
            total_in: 0,
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

    fn closed() -> Error {
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
                match s.format {
                    Format::Gzip => out.extend_from_slice(&gzip_trailer(s.sum, s.total_in)),
                    Format::Zlib => out.extend_from_slice(&s.sum.to_be_bytes()),
                    Format::Deflate => {}
                }
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
            match self.format {
                Format::Gzip => out.extend_from_slice(&gzip_header(self.level, &self.header)),
                Format::Zlib => out.extend_from_slice(&crate::zip::zlib_header(self.level)),
                Format::Deflate => {}
            }
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
        let csum = match self.format {
            Format::Gzip => Csum::Crc32,
            Format::Zlib => Csum::Adler32,
            Format::Deflate => Csum::Implied,
        };
        let r = Request::new(ReqType::Deflate, src, dst)
            .checksum(csum)
            .level(self.level)
            .tag(tag);
        if self.last_tag == Some(tag) {
            r
        } else {
            r.partial()
        }
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
            let len = c.consumed as u64;
            self.sum = match self.format {
                Format::Gzip => crc32_combine(self.sum, c.checksum, len),
                Format::Zlib => adler32_combine(self.sum, c.checksum, len),
                Format::Deflate => 0,
            };
            self.total_in += len;
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
            started: false,
            pending: false,
            finished: false,
            head: Vec::new(),
            total_in: 0,
            total_out: 0,
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
                (None, Some(&b)) => *self.format.insert(detect_format(b)),
                (None, None) => break,
            };
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

/// The `io::Error` of a core error: bad data is `InvalidData`, truncation `UnexpectedEof`,
/// an I/O error keeps its kind; the core error is the source.
fn io_error(e: Error) -> io::Error {
    let kind = match &e {
        Error::BadData(d) if d.kind() == DataErrorKind::Truncated => io::ErrorKind::UnexpectedEof,
        Error::BadData(_) => io::ErrorKind::InvalidData,
        Error::BadRequest(_) => io::ErrorKind::InvalidInput,
        Error::Io { source, .. } => source.kind(),
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// How an [`Encoder`] writes: format, level, gzip header fields and queues.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EncoderBuilder {
    format: Format,
    level: Level,
    header: GzipHeader,
    queues: usize,
}

impl EncoderBuilder {
    /// A builder for `format` at the default level, with no gzip name or mtime, spreading
    /// pieces over as many queues as [`crate::zip::ZipOptions::default`].
    pub fn new(format: Format) -> EncoderBuilder {
        EncoderBuilder {
            format,
            level: Level::DEFAULT,
            header: GzipHeader::default(),
            queues: crate::zip::ZipOptions::default().queues,
        }
    }

    /// The compression level.
    pub fn level(mut self, level: impl Into<Level>) -> EncoderBuilder {
        self.level = level.into();
        self
    }

    /// The gzip header's file name (no zero byte).
    pub fn name(mut self, name: impl Into<Vec<u8>>) -> EncoderBuilder {
        self.header.name = Some(name.into());
        self
    }

    /// The gzip header's modification time (seconds since the epoch).
    pub fn mtime(mut self, mtime: u32) -> EncoderBuilder {
        self.header.mtime = mtime;
        self
    }

    /// The most queues the pieces run on at once.
    pub fn queues(mut self, queues: usize) -> EncoderBuilder {
        self.queues = queues;
        self
    }

    /// An encoder writing into `w`.
    pub fn build<W: Write>(self, w: W) -> Result<Encoder<W>> {
        Ok(Encoder {
            inner: Some(w),
            deflater: Deflater::new(self.format, self.level, self.header, self.queues)?,
            buf: Vec::new(),
        })
    }
}

/// A `Write` adapter that compresses what it is given into one stream written to `W`
/// (flate2's `GzEncoder`/`ZlibEncoder`/`DeflateEncoder` in one type: the format is the
/// builder's). `flush` makes everything written so far decodable; [`Encoder::finish`] ends
/// the stream and hands `W` back (dropping the encoder finishes it too, ignoring errors).
pub struct Encoder<W: Write> {
    inner: Option<W>,
    deflater: Deflater,
    buf: Vec<u8>,
}

impl<W: Write> Encoder<W> {
    /// A gzip encoder at `level` with no header fields; see [`EncoderBuilder`] for more.
    pub fn gzip(w: W, level: impl Into<Level>) -> Result<Encoder<W>> {
        EncoderBuilder::new(Format::Gzip).level(level).build(w)
    }

    /// The writer underneath.
    pub fn get_ref(&self) -> Option<&W> {
        self.inner.as_ref()
    }

    fn put(&mut self) -> io::Result<()> {
        if let Some(w) = self.inner.as_mut() {
            w.write_all(&self.buf)?;
        }
        self.buf.clear();
        Ok(())
    }

    /// Ends the stream (last block and trailer), flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.end()?;
        self.inner
            .take()
            .ok_or_else(|| io_error(Deflater::closed()))
    }

    fn end(&mut self) -> io::Result<()> {
        if !self.deflater.is_finished() {
            self.deflater
                .flush(Flush::Finish, &mut self.buf)
                .map_err(io_error)?;
            self.put()?;
        }
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.deflater
            .compress(data, &mut self.buf)
            .map_err(io_error)?;
        self.put()?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.deflater
            .flush(Flush::Sync, &mut self.buf)
            .map_err(io_error)?;
        self.put()?;
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for Encoder<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            // As flate2's encoders: an unfinished stream is finished; errors are lost here
            // (call `finish` to see them).
            let _ = self.end();
        }
    }
}

/// A `Read` adapter that decompresses a stream read from `R`: one stream (one gzip member,
/// flate2's `GzDecoder`), or with [`Decoder::multi`] every gzip member with zero padding
/// between them (`MultiGzDecoder`). A truncated stream is an `UnexpectedEof` error, bad data
/// `InvalidData`. Memory is bounded: 1 MiB of input and of output at a time.
pub struct Decoder<R: Read> {
    inner: R,
    format: Option<Format>,
    multi: bool,
    inflater: Inflater,
    input: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    out_pos: usize,
    input_done: bool,
    members: u64,
    done: bool,
}

impl<R: Read> Decoder<R> {
    /// A decoder of one stream of `format` (`None`: gzip or zlib by the first byte).
    pub fn new(r: R, format: Option<Format>) -> Decoder<R> {
        Decoder {
            inner: r,
            format,
            multi: false,
            inflater: Inflater::new(format),
            input: Vec::new(),
            pos: 0,
            out: Vec::new(),
            out_pos: 0,
            input_done: false,
            members: 0,
            done: false,
        }
    }

    /// A gzip decoder of every member until the end of the input (gzip(1)'s reading).
    pub fn multi(r: R) -> Decoder<R> {
        Decoder {
            multi: true,
            ..Decoder::new(r, Some(Format::Gzip))
        }
    }

    /// The gzip header of the current member, once read.
    pub fn gzip_header(&self) -> Option<GzipHeader> {
        self.inflater.gzip_header()
    }

    /// The reader underneath (what follows the stream stays unread in a single decoder's
    /// buffer).
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads more input when all of it is used; false at the end of the input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos < self.input.len() {
            return Ok(true);
        }
        if self.input_done {
            return Ok(false);
        }
        self.input.resize(PIECE, 0);
        let n = loop {
            match self.inner.read(&mut self.input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        self.input.truncate(n);
        self.pos = 0;
        self.input_done = n == 0;
        Ok(n > 0)
    }

    /// After a member: the next one (multi), or the end.
    fn next_member(&mut self) -> io::Result<bool> {
        self.members += 1;
        if !self.multi {
            return Ok(false);
        }
        loop {
            if !self.fill()? {
                return Ok(false);
            }
            let rest = &self.input[self.pos..];
            let zeros = rest.iter().take_while(|&&b| b == 0).count();
            self.pos += zeros;
            if self.pos < self.input.len() {
                break;
            }
        }
        if self.input[self.pos] != 0x1f {
            return Err(io_error(Error::data(DataErrorKind::TrailingGarbage, "")));
        }
        self.inflater = Inflater::new(self.format);
        Ok(true)
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            if self.inflater.is_finished() {
                if !self.next_member()? {
                    self.done = true;
                    return Ok(0);
                }
                continue;
            }
            if !self.inflater.has_pending_output() && !self.fill()? {
                if self.members > 0 && self.inflater.format().is_none() {
                    self.done = true;
                    return Ok(0);
                }
                let e = self.inflater.truncated().unwrap_or_else(|| {
                    Error::data(DataErrorKind::NotCompressed, "the input is empty")
                });
                return Err(io_error(e));
            }
            self.out.clear();
            self.out_pos = 0;
            let r = self
                .inflater
                .inflate(&self.input[self.pos..], &mut self.out, Some(OUT_STEP))
                .map_err(io_error)?;
            self.pos += r.consumed;
        }
    }
}

// They run on the soft device.
#[cfg(all(test, feature = "soft"))]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 31) ^ (i >> 7)) as u8 % 61).collect()
    }

    #[test]
    fn pieces_and_flushes_make_one_stream_every_decoder_reads() {
        let d = data(PIECE * 7 + 12345);
        for format in Format::ALL {
            let mut c = Deflater::new(format, 6, GzipHeader::default(), 3).unwrap();
            let mut z = Vec::new();
            c.compress(&d[..100], &mut z).unwrap();
            c.flush(Flush::Sync, &mut z).unwrap();
            // Idle after a sync flush: its queue is back in the pool.
            assert_eq!(c.queues_held(), 0);
            c.compress(&d[100..], &mut z).unwrap();
            c.flush(Flush::Finish, &mut z).unwrap();
            // Seven pieces with room for three queues: they ran on several at once.
            assert!(c.queues_used() > 1, "{}", c.queues_used());
            assert!(c.compress(b"x", &mut z).is_err());
            assert_eq!(c.queues_held(), 0);
            assert_eq!(crate::zip::decompress(&z, format).unwrap(), d, "{format:?}");
            // Decoded in small steps with a small output bound.
            let mut inf = Inflater::new(Some(format));
            let (mut out, mut pos) = (Vec::new(), 0);
            while !inf.is_finished() {
                let end = (pos + 7000).min(z.len());
                let r = inf.inflate(&z[pos..end], &mut out, Some(50_000)).unwrap();
                pos += r.consumed;
                assert!(r.consumed > 0 || inf.has_pending_output() || r.finished);
            }
            assert_eq!(pos, z.len());
            assert_eq!(out, d, "{format:?}");
        }
    }

    #[test]
    fn the_gzip_header_is_fixed_and_carries_name_and_mtime() {
        let h = GzipHeader {
            name: Some(b"a.txt".to_vec()),
            mtime: 1_700_000_000,
        };
        let mut c = Deflater::new(Format::Gzip, 9, h.clone(), 1).unwrap();
        let mut z = Vec::new();
        c.compress(b"hello", &mut z).unwrap();
        c.flush(Flush::Finish, &mut z).unwrap();
        assert_eq!(z[9], crate::zip::GZIP_OS);
        assert_eq!(read_gzip_header(&z), Some(h));
        let mut inf = Inflater::new(None);
        let mut out = Vec::new();
        let mut tail = z.clone();
        tail.extend_from_slice(b"after");
        let r = inf.inflate(&tail, &mut out, None).unwrap();
        assert!(r.finished);
        assert_eq!(&tail[r.consumed..], b"after");
        assert_eq!(out, b"hello");
        assert_eq!(
            inf.gzip_header().unwrap().name.as_deref(),
            Some(&b"a.txt"[..])
        );
        // The same fixed fields for every input; a multi-piece stream adds only the extra
        // field of its piece index (FEXTRA), which every reader skips.
        for n in [0usize, 10, PIECE + 1] {
            let one = crate::zip::compress(&data(n), Format::Gzip, 6).unwrap();
            let mut fixed = one[..10].to_vec();
            assert_eq!(fixed[3] & 0x04 != 0, n > PIECE, "{n}");
            fixed[3] &= !0x04;
            assert_eq!(fixed, gzip_header(6, &GzipHeader::default())[..], "{n}");
        }
    }

    #[test]
    fn a_truncated_or_corrupt_stream_is_an_error() {
        let z = crate::zip::compress(&data(5000), Format::Zlib, 6).unwrap();
        let mut inf = Inflater::new(None);
        let r = inf
            .inflate(&z[..z.len() - 3], &mut Vec::new(), None)
            .unwrap();
        assert!(!r.finished);
        assert!(inf.truncated().is_some());
        let mut bad = z.clone();
        bad[3] ^= 0xff;
        bad[z.len() - 1] ^= 1;
        let mut inf = Inflater::new(Some(Format::Zlib));
        assert!(inf.inflate(&bad, &mut Vec::new(), None).is_err());
        assert!(Deflater::new(
            Format::Gzip,
            6,
            GzipHeader {
                name: Some(b"a\0b".to_vec()),
                mtime: 0
            },
            1
        )
        .is_err());
    }

    fn reference_inflate(z: &[u8], wrapper: crate::zlibrs::Wrapper) -> Vec<u8> {
        let mut inf = crate::zlibrs::Inflater::new(wrapper);
        let (mut out, mut pos) = (Vec::new(), 0);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let (used, made, stop) = inf.inflate(&z[pos..], &mut buf);
            pos += used;
            out.extend_from_slice(&buf[..made]);
            match stop {
                crate::zlibrs::InflateStop::End => return out,
                crate::zlibrs::InflateStop::OutputFull => {}
                s => panic!("reference decoder stopped with {s:?}"),
            }
        }
    }

    #[test]
    fn the_encoder_writes_streams_zlib_rs_and_gzip_read() {
        use crate::zlibrs::Wrapper;
        let d = data(PIECE * 3 + 777);
        for (format, wrapper) in [
            (Format::Gzip, Wrapper::Gzip),
            (Format::Zlib, Wrapper::Zlib),
            (Format::Deflate, Wrapper::Raw),
        ] {
            let mut e = EncoderBuilder::new(format)
                .level(1)
                .name("d.bin")
                .mtime(99)
                .queues(2)
                .build(Vec::new())
                .unwrap();
            for c in d.chunks(300_001) {
                e.write_all(c).unwrap();
            }
            e.flush().unwrap();
            let z = e.finish().unwrap();
            assert_eq!(reference_inflate(&z, wrapper), d, "{format:?}");
            if format == Format::Gzip {
                let h = read_gzip_header(&z).unwrap();
                assert_eq!((h.name.as_deref(), h.mtime), (Some(&b"d.bin"[..]), 99));
                if let Ok(mut child) = std::process::Command::new("gzip")
                    .arg("-dc")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                {
                    let mut stdin = child.stdin.take().unwrap();
                    let z2 = z.clone();
                    let t = std::thread::spawn(move || stdin.write_all(&z2));
                    let out = child.wait_with_output().unwrap();
                    t.join().unwrap().unwrap();
                    assert!(out.status.success());
                    assert_eq!(out.stdout, d);
                }
            }
        }
    }

    #[test]
    fn decoders_read_one_member_or_all_of_them() {
        let (a, b) = (data(200_000), data(PIECE + 3));
        let mut two = crate::zip::compress(&a, Format::Gzip, 6).unwrap();
        two.extend_from_slice(&[0; 100]);
        two.extend_from_slice(&crate::zip::compress(&b, Format::Gzip, 6).unwrap());
        let mut one = Vec::new();
        Decoder::new(&two[..], Some(Format::Gzip))
            .read_to_end(&mut one)
            .unwrap();
        assert_eq!(one, a);
        let mut all = Vec::new();
        Decoder::multi(&two[..]).read_to_end(&mut all).unwrap();
        assert_eq!(all, [a.clone(), b].concat());
        // Truncated: UnexpectedEof; garbage after a member: InvalidData.
        let e = Decoder::multi(&two[..two.len() - 5])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let mut bad = crate::zip::compress(&a, Format::Gzip, 6).unwrap();
        bad.extend_from_slice(b"garbage");
        let e = Decoder::multi(&bad[..])
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // zlib by the first byte.
        let z = crate::zip::compress(&a, Format::Zlib, 6).unwrap();
        let mut out = Vec::new();
        Decoder::new(&z[..], None).read_to_end(&mut out).unwrap();
        assert_eq!(out, a);
    }
}
