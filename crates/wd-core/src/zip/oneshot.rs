//! One-shot calls on whole buffers: [`compress`], [`decompress`] and their one-request
//! forms on a given queue, with the output sizing of a decompression (the first guess,
//! the retry, the limits).

use std::io::{self, Write};

use crate::abi::{Direction, ReqType, Status};
use crate::error::{DataErrorKind, Error, Result};
use crate::format::{Format, Level};
use crate::memlock::{self, Reservation};
use crate::queue::{Queue, Request};

use super::compress_stream::compress_stream_indexed;
use super::decompress_stream::decompress_stream_limited;
use super::framing::{compress_bound, Framer};
use super::headers::{stream_error, GzipHeader};
use super::{default_opener, ZipOptions};

/// The most a size *claimed by the input* (gzip's ISIZE trailer) may make a decompression
/// allocate before any output is measured; beyond it (and beyond what the input can
/// possibly expand to, [`MAX_EXPANSION`]) the output grows by what the device produces.
pub const CLAIMED_SIZE_MAX: usize = 16 << 20;

/// The least output space a one-request decompression starts with (unless the input cannot
/// decode to that much). A claimed size below it is no reason to start smaller: a damaged
/// trailer, or a member of more than 4 GiB (whose ISIZE is its size modulo 2^32), claims
/// too little, and under a locked-memory budget every continuation gets the first space
/// again, so a claim of one byte would cost a request per output byte.
const GUESS_MIN: usize = 64 << 10;

/// Deflate's largest expansion: a 258-byte match costs at least 2 bits (a one-bit length
/// code and a one-bit distance code), so no stream decodes to more than 1032 times its
/// size (plus the first literals of a block).
pub const MAX_EXPANSION: usize = 1032;

/// The most `n` bytes of deflate (any wrapper, any number of gzip members) can decode to.
pub fn max_inflated(n: usize) -> usize {
    n.saturating_mul(MAX_EXPANSION).saturating_add(4096)
}

/// The error for an output of more than `limit` bytes ([`DataErrorKind::OutputLimit`]).
pub fn output_limit(limit: u64) -> Error {
    Error::data(
        DataErrorKind::OutputLimit,
        &format!("more than {limit} bytes"),
    )
}

/// The most output room a one-request decompression tries ([`retry_output_room`]): 8 MiB,
/// also the most one request may move on HiSilicon's ZIP engines (UADK's `HZ_MAX_SIZE`),
/// where a larger room would never be filled.
pub const RETRY_ROOM_MAX: usize = 8 << 20;

/// The output room of a one-request decompression's next try, after a try with `room`
/// bytes ran out of it (or produced more than `left`, the output still allowed): twice the
/// room, or `None` once that would pass [`RETRY_ROOM_MAX`]: then the caller decodes the
/// rest as a stream, which goes on on the device instead of starting again.
/// [`DataErrorKind::OutputLimit`] (for `max_output`) when `room` already held more than
/// `left`: the output is over the limit, and a bigger try would only allocate more.
pub fn retry_output_room(
    room: usize,
    left: Option<usize>,
    max_output: u64,
) -> Result<Option<usize>> {
    match left {
        Some(l) if room > l => Err(output_limit(max_output)),
        _ => Ok(Some(doubled(room)).filter(|&r| r <= RETRY_ROOM_MAX)),
    }
}

/// The most output room a one-request decompression gives a try when `left` more bytes of
/// output are allowed (`None`: no limit): one byte past the limit, the byte that tells an
/// output over it, and nothing larger is allocated.
pub fn room_cap(left: Option<usize>) -> usize {
    left.map_or(usize::MAX, |l| l.saturating_add(1))
}

/// [`retry_output_room`] within the limit: the room of a fresh try after a try with `room`
/// bytes ran out of it (or produced more than `left`), never more than [`room_cap`] allows;
/// `None` when the rest is to be decoded as a stream; [`DataErrorKind::OutputLimit`] (for
/// `max_output`) when the output is already over `left`.
pub fn retry_room(room: usize, left: Option<usize>, max_output: u64) -> Result<Option<usize>> {
    Ok(retry_output_room(room, left, max_output)?.map(|r| r.min(room_cap(left))))
}

/// Inputs up to this size are one request in [`compress`] and [`decompress`] (the size of
/// one piece of [`compress_stream`](super::compress_stream())).
pub const ONE_REQUEST_MAX: usize = 1 << 20;

/// Compresses `data` (at most [`ONE_REQUEST_MAX`] bytes) into one stream of `format` with
/// a single request on `q`, which must have nothing in flight. On the soft device the
/// device reads `data` and writes the result in place; nothing is copied.
pub fn compress_one(
    q: &mut Queue,
    data: &[u8],
    format: Format,
    level: impl Into<Level>,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    compress_one_into(q, data, format, level, &mut out)?;
    // The bound is ~3x what typical data needs: give the rest back (in place, no copy).
    out.shrink_to_fit();
    Ok(out)
}

/// [`compress_one`] into `out` (cleared first) instead of a new vector, keeping `out`'s
/// capacity: a caller that copies the output elsewhere anyway (the Python binding, into a
/// `bytes` object) reuses one buffer for many calls instead of allocating one per call.
/// The device is offered the same output space whatever the capacity, so the result is
/// the same.
fn compress_one_into(
    q: &mut Queue,
    data: &[u8],
    format: Format,
    level: impl Into<Level>,
    out: &mut Vec<u8>,
) -> Result<()> {
    out.clear();
    if data.len() > ONE_REQUEST_MAX {
        return Err(Error::BadRequest(format!(
            "{} bytes is more than one request takes ({ONE_REQUEST_MAX})",
            data.len()
        )));
    }
    let level = level.into().get()?;
    let space = compress_bound(data.len());
    let _pins = if memlock::pins_pages(q) {
        memlock::reserve_request(data.len(), space, space)?.1
    } else {
        Reservation::none()
    };
    // A format the driver frames (gzip) is one raw deflate piece with its checksum, wrapped
    // here; the others are the device's own request of the format.
    let mut framer = format
        .framed_by_driver()
        .then(|| Framer::new(format, level));
    let req = match &framer {
        Some(f) => {
            out.extend_from_slice(&f.header(&GzipHeader::default(), 0, q.takes_level()));
            f.piece(Request::without_buffers(ReqType::Deflate), true)
        }
        None => Request::without_buffers(format.req_type()).level(level),
    };
    let c = q.run_borrowed(req, data, out, space)?;
    c.check()
        .map_err(|e| e.with_pinned(memlock::request_pins(data.len(), space)))?;
    if let Some(f) = &mut framer {
        f.add(c.checksum, data.len() as u64);
        out.extend_from_slice(&f.trailer());
    }
    Ok(())
}

/// Decompresses `data` on `q` (nothing in flight) if it holds one stream: one request whose
/// output space is a guess (gzip: the size its trailer announces, within
/// [`CLAIMED_SIZE_MAX`] and what the input can decode to), continued on the same queue with
/// more space while the output outgrows it, so no work is done twice. `Ok(None)` if the
/// input holds more than one gzip member: use [`decompress_stream`](super::decompress_stream()).
pub fn decompress_one(q: &mut Queue, data: &[u8], format: Format) -> Result<Option<Vec<u8>>> {
    decompress_one_limited(q, data, format, None)
}

/// [`decompress_one`] with a limit on the output: more than `max_output` bytes is an
/// [`DataErrorKind::OutputLimit`] error, and nothing larger than `max_output + 1` bytes is
/// allocated.
pub fn decompress_one_limited(
    q: &mut Queue,
    data: &[u8],
    format: Format,
    max_output: Option<usize>,
) -> Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    if !decompress_one_into(q, data, format, max_output, &mut out)? {
        return Ok(None);
    }
    out.shrink_to_fit();
    Ok(Some(out))
}

/// [`decompress_one_limited`] into `out` (cleared first) instead of a new vector, keeping
/// `out`'s capacity (see [`compress_one_into`]): `Ok(true)` if `out` holds the whole
/// output, `Ok(false)` where [`decompress_one_limited`] says `None` (then `out` holds
/// nothing of use). Each request is offered the same output space whatever the capacity,
/// so the result is the same.
fn decompress_one_into(
    q: &mut Queue,
    data: &[u8],
    format: Format,
    max_output: Option<usize>,
    out: &mut Vec<u8>,
) -> Result<bool> {
    out.clear();
    if data.len() > ONE_REQUEST_MAX {
        return Ok(false);
    }
    if data.is_empty() {
        return Err(stream_error(format, data, Status::NeedInput));
    }
    let cap = room_cap(max_output);
    let guess = output_guess(data, format).min(cap);
    // Under a locked-memory limit the space may shrink, and each continuation gets the
    // same space (what was reserved); otherwise each one doubles the space.
    let pinned = memlock::pins_pages(q);
    let (mut space, _pins) = if pinned {
        memlock::reserve_request(data.len(), guess, guess.min(GUESS_MIN))?
    } else {
        (guess, Reservation::none())
    };
    let mut used = 0;
    let mut req = Request::without_buffers(format.req_type());
    loop {
        let c = q.run_borrowed(req, &data[used..], out, space)?;
        used += c.consumed.min(data.len() - used);
        match c.status() {
            _ if out.len() >= cap => return Err(output_limit(cap as u64 - 1)),
            // One complete stream and nothing after it: done.
            Some(Status::Ok) if used == data.len() => return Ok(true),
            // More gzip members (or trailing garbage): the stream path tells them apart.
            Some(Status::Ok) => return Ok(false),
            // The output outgrew the space: continue the stream with more.
            Some(Status::OutputTooSmall) if c.produced == 0 && c.consumed == 0 => {
                return Err(Error::Protocol(
                    "the device made no progress on a stream it said needed more output".into(),
                ))
            }
            Some(Status::OutputTooSmall) => {
                if !pinned {
                    space = continued_room(space);
                }
                space = space.min(cap - out.len()).min(u32::MAX as usize);
                req = Request::without_buffers(format.req_type()).continue_stream();
            }
            Some(s @ (Status::NeedInput | Status::DataError | Status::ChecksumError)) => {
                return Err(stream_error(format, data, s))
            }
            _ => {
                return c
                    .check()
                    .map_err(|e| e.with_pinned(memlock::request_pins(data.len(), space)))
                    .map(|_| false)
            }
        }
    }
}

/// The output room of the next request of a one-request decompression continued on its
/// queue, after a request of `room` bytes filled it: the core's one rule
/// ([`retry_output_room`]: twice the room). Past [`RETRY_ROOM_MAX`], where a fresh try gives
/// way to a stream that goes on on the device, this already is that stream, and its room
/// goes on doubling by the same rule. (The output limit is checked before, on the output
/// itself.)
fn continued_room(room: usize) -> usize {
    match retry_output_room(room, None, 0) {
        Ok(Some(next)) => next,
        _ => doubled(room),
    }
}

/// Twice `room`, as far as a `usize` goes: how every output room grows.
fn doubled(room: usize) -> usize {
    room.saturating_mul(2)
}

/// The output space a one-request decompression of `data` starts with: gzip's claimed
/// size if it is plausible, else 4x the input, 64 KiB at least in either case (at most
/// 4 MiB for the second); never more than [`CLAIMED_SIZE_MAX`] nor than `data` can decode
/// to.
pub fn output_guess(data: &[u8], format: Format) -> usize {
    let n = data.len();
    output_guess_from(n, &data[..n.min(2)], &data[n.saturating_sub(4)..], format)
}

/// [`output_guess`] from the input's length, its first two bytes and its last four.
pub fn output_guess_from(len: usize, head: &[u8], tail: &[u8], format: Format) -> usize {
    let guess = match format.claimed_size(len, head, tail) {
        Some(n) if n < CLAIMED_SIZE_MAX => (n + 1).max(GUESS_MIN),
        _ => len.saturating_mul(4).clamp(GUESS_MIN, ONE_REQUEST_MAX * 4),
    };
    guess.min(max_inflated(len)).min(CLAIMED_SIZE_MAX)
}

/// Runs `f` on a pooled queue of `dir` and gives the queue back (a queue `f` left unusable
/// is closed instead). `f`'s error wins over the give-back's.
fn on_pooled<R>(dir: Direction, f: impl FnOnce(&mut Queue) -> Result<R>) -> Result<R> {
    let mut q = default_opener(dir)?;
    let r = f(&mut q);
    let back = crate::pool::give_back(q);
    let r = r?;
    back?;
    Ok(r)
}

/// Compresses a whole buffer into one stream of `format`.
pub fn compress(data: &[u8], format: Format, level: impl Into<Level>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    compress_into(data, format, level, &mut out)?;
    // The room asked for is ~3x what typical data needs: give the rest back (in place).
    out.shrink_to_fit();
    Ok(out)
}

/// [`compress`] into `out` (cleared first) instead of a new vector, keeping `out`'s
/// capacity: a caller that copies the output elsewhere anyway (the Python binding, into a
/// `bytes` object) reuses one buffer for many calls instead of allocating one per call. A
/// one-request input is compressed straight into `out`, with the same output space offered
/// to the device whatever the capacity, so the output is the same.
pub fn compress_into(
    data: &[u8],
    format: Format,
    level: impl Into<Level>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let level = level.into();
    if data.len() <= ONE_REQUEST_MAX {
        return on_pooled(Direction::Compress, |q| {
            compress_one_into(q, data, format, level, out)
        });
    }
    out.clear();
    let mut opts = ZipOptions {
        format,
        level,
        ..Default::default()
    };
    // The output is at hand: it gets the piece index, for decoding on several queues.
    opts.index_pieces = data.len().div_ceil(opts.chunk_size);
    out.reserve(compress_bound(data.len()) / 2);
    let (_, index) =
        compress_stream_indexed(&mut &data[..], out, &opts, &default_opener, &mut |_, _| {})?;
    if let Some(ix) = index {
        ix.patch(out);
    }
    Ok(())
}

/// Decompresses a whole buffer of `format` (gzip: one or more members).
pub fn decompress(data: &[u8], format: Format) -> Result<Vec<u8>> {
    decompress_limited(data, format, None)
}

/// [`decompress`] with a limit: an input that decodes to more than `max_output` bytes
/// fails with [`DataErrorKind::OutputLimit`], and memory stays within about
/// `max_output` plus a few MiB.
pub fn decompress_limited(
    data: &[u8],
    format: Format,
    max_output: Option<usize>,
) -> Result<Vec<u8>> {
    let start = data
        .len()
        .saturating_mul(3)
        .min(CLAIMED_SIZE_MAX)
        .min(max_output.unwrap_or(usize::MAX));
    let sink = LazyVec {
        cap: start,
        v: None,
    };
    let mut out = Vec::new();
    match decompress_into(data, format, max_output, &mut out, sink)? {
        None => {
            // A one-request output's room was a guess: give the rest back (in place). The
            // pieces' output is already exactly its size, so this does nothing there.
            out.shrink_to_fit();
            Ok(out)
        }
        Some(s) => Ok(s.v.unwrap_or_default()),
    }
}

/// A `Vec` sink that reserves its first capacity only when written to (the one-request
/// path never touches it).
struct LazyVec {
    cap: usize,
    v: Option<Vec<u8>>,
}

impl Write for LazyVec {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let cap = self.cap;
        self.v
            .get_or_insert_with(|| Vec::with_capacity(cap))
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decompresses a whole buffer of `format`, the policy of [`decompress_limited`] with the
/// output's destination left to the caller: an input of one request whose output fits a
/// guess ([`decompress_one_limited`] on a pooled queue) is decoded into `out` (cleared
/// first, its capacity kept), and so is WarpDrive's own multi-piece gzip, decoded on several
/// queues: `Ok(None)`. Anything else is decoded as a stream into `sink` (more output than
/// guessed, more gzip members, or a larger input), which comes back: `Ok(Some(sink))`, and
/// `out` is left empty, without capacity.
///
/// Each request is offered the same output room whatever `out`'s capacity, so the output
/// and the errors do not depend on it: a caller that copies the output elsewhere anyway
/// (the Python binding, into a `bytes` object) can keep one vector for many calls instead
/// of allocating one per call.
pub fn decompress_into<W: Write>(
    data: &[u8],
    format: Format,
    max_output: Option<usize>,
    out: &mut Vec<u8>,
    mut sink: W,
) -> Result<Option<W>> {
    out.clear();
    // WarpDrive's own multi-piece gzip: its pieces on several queues at once.
    if format.carries_piece_index() {
        if let Some(t) = crate::pieces::read_index(data) {
            let queues = ZipOptions::default().queues;
            if let Some(v) =
                crate::pieces::decompress_pieces(data, &t, max_output, queues, &default_opener)?
            {
                *out = v;
                return Ok(None);
            }
        }
    }
    if data.len() <= ONE_REQUEST_MAX
        && on_pooled(Direction::Decompress, |q| {
            decompress_one_into(q, data, format, max_output, out)
        })?
    {
        return Ok(None);
    }
    // The room of the one-request try is not held while the stream runs (it may be up to
    // CLAIMED_SIZE_MAX): memory stays what it was without a kept buffer.
    *out = Vec::new();
    decompress_stream_limited(
        &mut &data[..],
        &mut sink,
        format,
        max_output.map(|m| m as u64),
        &default_opener,
        &mut |_, _| {},
    )?;
    Ok(Some(sink))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_doubles_the_room_until_the_limit_is_passed() {
        assert_eq!(retry_output_room(4096, None, 0).unwrap(), Some(8192));
        assert_eq!(retry_output_room(4096, Some(4096), 10).unwrap(), Some(8192));
        let e = retry_output_room(4097, Some(4096), 5000).unwrap_err();
        assert!(
            matches!(&e, Error::BadData(d) if d.kind() == DataErrorKind::OutputLimit),
            "{e}"
        );
        assert!(e.to_string().contains("more than 5000 bytes"), "{e}");
        // Past the largest room a device fills in one request: the rest is a stream.
        assert_eq!(
            retry_output_room(RETRY_ROOM_MAX / 2, None, 0).unwrap(),
            Some(RETRY_ROOM_MAX)
        );
        assert_eq!(retry_output_room(RETRY_ROOM_MAX, None, 0).unwrap(), None);
        assert_eq!(retry_output_room(usize::MAX, None, 0).unwrap(), None);
    }

    #[test]
    fn a_retry_within_a_limit_gets_at_most_one_byte_past_it() {
        assert_eq!(room_cap(None), usize::MAX);
        assert_eq!(room_cap(Some(0)), 1);
        assert_eq!(room_cap(Some(5000)), 5001);
        assert_eq!(room_cap(Some(usize::MAX)), usize::MAX);
        assert_eq!(retry_room(4096, None, 0).unwrap(), Some(8192));
        assert_eq!(retry_room(4096, Some(5000), 5000).unwrap(), Some(5001));
        assert_eq!(
            retry_room(4096, Some(1 << 20), 1 << 20).unwrap(),
            Some(8192)
        );
        // The stream takes over by the room the rule asks for, whatever the limit allows.
        assert_eq!(
            retry_room(RETRY_ROOM_MAX, Some(1 << 30), 1 << 30).unwrap(),
            None
        );
        let e = retry_room(4097, Some(4096), 5000).unwrap_err();
        assert!(
            matches!(&e, Error::BadData(d) if d.kind() == DataErrorKind::OutputLimit),
            "{e}"
        );
    }

    #[test]
    fn a_continued_decompression_grows_its_room_by_the_same_rule() {
        for room in [1usize, 4096, RETRY_ROOM_MAX / 2] {
            assert_eq!(
                Some(continued_room(room)),
                retry_output_room(room, None, 0).unwrap()
            );
        }
        // Past the largest room of a fresh try the continued stream's room goes on doubling.
        assert_eq!(continued_room(RETRY_ROOM_MAX), 2 * RETRY_ROOM_MAX);
        assert_eq!(continued_room(3 * RETRY_ROOM_MAX), 6 * RETRY_ROOM_MAX);
        assert_eq!(continued_room(usize::MAX), usize::MAX);
    }
}
