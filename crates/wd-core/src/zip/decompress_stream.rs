//! The streamed decompression: [`decompress_stream`] feeds one queue with bounded
//! buffers, member after member. Memory stays bounded whatever the input decodes to.

use std::io::{Read, Write};

use crate::abi::{Direction, Status};
use crate::dma::DmaBuf;
use crate::error::{DataErrorKind, Error, Result};
use crate::format::Format;
use crate::memlock::{self, InflatePlan, Reservation};
use crate::queue::{Completion, Queue, Request};

use super::headers::{after_stream, stream_error, After};
use super::oneshot::output_limit;
use super::stream::{read_error, read_full, write_error};
use super::{Opener, StreamStats};

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
