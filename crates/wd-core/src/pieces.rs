//! The piece index: where the independently compressed pieces of a WarpDrive gzip stream
//! start, so that a reader can decode them on several queues at once.
//!
//! [`compress_stream`](crate::zip::compress_stream) compresses each piece on its own (no
//! history shared across pieces) and joins them into one deflate stream in one gzip member.
//! When asked ([`ZipOptions::index_pieces`](crate::zip::ZipOptions)), the gzip header
//! carries an extra field (FEXTRA, RFC 1952 section 2.3.1.1) with the subfield `WX`:
//!
//! | bytes | what |
//! |---|---|
//! | 1 | version, 1 |
//! | 4 | number of pieces recorded, little-endian (0: no index) |
//! | 8 x slots | per piece: compressed bytes, then uncompressed bytes (u32 LE each) |
//!
//! The field is reserved with zeros when the header is written and filled in at the end
//! ([`PieceIndex::patch`]) by a caller that can go back in its output (a buffer, a file);
//! where it cannot (a pipe), the zeros say "no index". Every gzip reader skips extra fields,
//! so the stream stays one standard gzip member.
//!
//! A reader trusts nothing in it: [`read_index`] checks that the pieces add up to the
//! member exactly and to the size its trailer states, and [`decompress_pieces`] checks
//! every piece's sizes, status and the whole CRC against the trailer. Anything that does
//! not match (a foreign stream that happens to carry such a field, pieces that are not
//! independent) gives `None`, and the caller decodes the stream in one piece as for any
//! other gzip file, which also gives the authoritative error for damaged data.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::abi::{Direction, ReqType, Status};
use crate::dma::{DmaBuf, Domain};
use crate::error::{Error, Result};
use crate::queue::{Completion, Request};
use crate::zip::{crc32, recv_any, Opener};

/// The subfield ID of the piece index in the gzip extra field.
pub const SUBFIELD_ID: [u8; 2] = *b"WX";

/// The index format's version.
const VERSION: u8 = 1;

/// Bytes before the first entry: the version and the count.
const PREFIX: usize = 5;

/// The most pieces an index holds: one subfield's length is 16 bits.
pub const MAX_PIECES: usize = (u16::MAX as usize - 4 - PREFIX) / 8;

/// Where the index's data starts in a header written by [`extra_field`]: right after the
/// fixed header (10 bytes), XLEN (2), and the subfield's ID and length (4).
pub const DATA_OFFSET: usize = 16;

/// Pieces in flight per queue while decoding.
const DEPTH: usize = 2;

/// The gzip extra field (XLEN and the `WX` subfield) reserving room for `slots` pieces,
/// all zero: what follows the fixed 10-byte header when FEXTRA is set. `None` for no slots
/// or more than [`MAX_PIECES`].
pub fn extra_field(slots: usize) -> Option<Vec<u8>> {
    if slots == 0 || slots > MAX_PIECES {
        return None;
    }
    let data = PREFIX + 8 * slots;
    let mut v = Vec::with_capacity(6 + data);
    v.extend_from_slice(&((data + 4) as u16).to_le_bytes());
    v.extend_from_slice(&SUBFIELD_ID);
    v.extend_from_slice(&(data as u16).to_le_bytes());
    v.push(VERSION);
    v.resize(6 + data, 0);
    Some(v)
}

/// The filled-in index of a finished stream: `bytes` go at `offset` of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceIndex {
    /// Where in the output the index's data starts.
    pub offset: u64,
    /// The index's data (version, count, entries), as long as the reserved room.
    pub bytes: Vec<u8>,
}

impl PieceIndex {
    /// The index of `pieces` ((compressed, uncompressed) bytes each) for a header that
    /// reserved `slots`; `None` if they do not fit.
    pub fn new(pieces: &[(u32, u32)], slots: usize) -> Option<PieceIndex> {
        if pieces.len() > slots || slots > MAX_PIECES {
            return None;
        }
        let mut b = Vec::with_capacity(PREFIX + 8 * slots);
        b.push(VERSION);
        b.extend_from_slice(&(pieces.len() as u32).to_le_bytes());
        for &(c, u) in pieces {
            b.extend_from_slice(&c.to_le_bytes());
            b.extend_from_slice(&u.to_le_bytes());
        }
        b.resize(PREFIX + 8 * slots, 0);
        Some(PieceIndex {
            offset: DATA_OFFSET as u64,
            bytes: b,
        })
    }

    /// Writes the index into `out`, the whole output of the stream.
    pub fn patch(&self, out: &mut [u8]) {
        let at = self.offset as usize;
        out[at..at + self.bytes.len()].copy_from_slice(&self.bytes);
    }
}

/// Where the pieces of a gzip member are, from its index, checked against the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceTable {
    /// Where the deflate data starts (the header's length).
    pub body: usize,
    /// (compressed, uncompressed) bytes of each piece, in order.
    pub pieces: Vec<(u32, u32)>,
    /// The CRC-32 the trailer states.
    pub crc: u32,
    /// The uncompressed size, as the pieces add up.
    pub total: u64,
}

/// The piece table of `d` if it is exactly one gzip member whose header holds a piece
/// index of two or more pieces that add up to the member and to its trailer's size.
pub fn read_index(d: &[u8]) -> Option<PieceTable> {
    let n = d.len();
    let trailer: [u8; 8] = d.get(n.checked_sub(8)?..)?.try_into().ok()?;
    read_index_parts(d, n as u64, trailer)
}

/// [`read_index`] for a stream of `len` bytes held elsewhere (a file): `head` is its start
/// (at least the whole header: [`HEAD_MAX`] bytes, or all of a shorter stream) and
/// `trailer` its last 8 bytes.
pub fn read_index_parts(head: &[u8], len: u64, trailer: [u8; 8]) -> Option<PieceTable> {
    let d = head;
    let body = match crate::zip::check_header(crate::zip::Format::Gzip, d) {
        Ok(Some(n)) => n,
        _ => return None,
    };
    if d[3] & 0x04 == 0 {
        return None;
    }
    let xlen = usize::from(u16::from_le_bytes([d[10], d[11]]));
    let extra = d.get(12..12 + xlen)?;
    // Find the WX subfield among the others.
    let mut at = 0;
    let data = loop {
        let sub = extra.get(at..at + 4)?;
        let len = usize::from(u16::from_le_bytes([sub[2], sub[3]]));
        let field = extra.get(at + 4..at + 4 + len)?;
        if sub[..2] == SUBFIELD_ID {
            break field;
        }
        at += 4 + len;
    };
    if data.len() < PREFIX || data[0] != VERSION || (data.len() - PREFIX) % 8 != 0 {
        return None;
    }
    let count = u32::from_le_bytes(data[1..5].try_into().ok()?) as usize;
    if count < 2 || count > (data.len() - PREFIX) / 8 {
        return None;
    }
    let pieces: Vec<(u32, u32)> = data[PREFIX..PREFIX + 8 * count]
        .chunks_exact(8)
        .map(|e| {
            (
                u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                u32::from_le_bytes([e[4], e[5], e[6], e[7]]),
            )
        })
        .collect();
    let packed: u64 = pieces.iter().map(|&(c, _)| u64::from(c)).sum();
    let total: u64 = pieces.iter().map(|&(_, u)| u64::from(u)).sum();
    let end = (body as u64).checked_add(packed)?;
    if pieces.iter().any(|&(c, _)| c == 0) || end.checked_add(8)? != len {
        return None;
    }
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if total as u32 != isize || total > crate::zip::max_inflated(packed as usize) as u64 {
        return None;
    }
    Some(PieceTable {
        body,
        pieces,
        crc,
        total,
    })
}

/// How many bytes of a stream's start [`read_index_parts`] needs at most: the fixed header,
/// the largest extra field, a name and a comment of reasonable length.
pub const HEAD_MAX: usize = 10 + 2 + u16::MAX as usize + 8192;

/// Decodes the pieces of `d` (described by `t`, from [`read_index`]) on up to `queues`
/// queues from `open` into one buffer. `Ok(None)` when the pieces do not decode as the
/// index says (the caller then decodes the stream in one piece), when the output would
/// pass `max_output`, or when not even one piece's request fits the locked-memory budget
/// of a device that pins pages; an error only for a device or queue failure.
pub fn decompress_pieces(
    d: &[u8],
    t: &PieceTable,
    max_output: Option<usize>,
    queues: usize,
    open: Opener<'_>,
) -> Result<Option<Vec<u8>>> {
    if max_output.is_some_and(|m| t.total > m as u64) || usize::try_from(t.total).is_err() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(t.total as usize);
    let mut read_at = |at: u64, buf: &mut [u8]| {
        let at = at as usize;
        buf.copy_from_slice(&d[at..at + buf.len()]);
        Ok(())
    };
    let done = decode_pieces(t, &mut read_at, &mut out, queues, open, &mut |_, _| {})?;
    Ok(done.then_some(out))
}

/// Reads `buf.len()` bytes of the stream at an offset.
pub type ReadAt<'a> = &'a mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>;

/// Decodes the pieces `t` describes, reading them with `read_at` and writing the output in
/// order to `out`, on up to `queues` queues from `open`, in bounded memory (a few pieces per
/// queue). `Ok(true)` when every piece decoded as the index says and the whole CRC matches
/// the trailer's; `Ok(false)` otherwise (then `out` may hold part of the output, which the
/// caller discards before decoding the stream in one piece), or when not even one piece's
/// request fits the locked-memory budget of a device that pins pages (on such a device the
/// requests in flight are as many as the budget holds). Errors: the device's, and reading
/// or writing.
pub fn decode_pieces(
    t: &PieceTable,
    read_at: ReadAt<'_>,
    out: &mut dyn std::io::Write,
    queues: usize,
    open: Opener<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<bool> {
    let mut qs = vec![open(Direction::Decompress)?];
    // A piece decodes apart only if the stream, read from its start, has a block header
    // right where the piece ends; a device that cannot tell leaves the stream to the
    // one-stream path.
    if !qs[0].checks_block_ends() {
        crate::pool::give_back(qs.pop().expect("one queue"))?;
        return Ok(false);
    }
    let n = t.pieces.len();
    let last = n - 1;
    let nq = queues.clamp(1, n);
    let window = nq * DEPTH * 2;
    // Where the device pins what a request names, the requests in flight are bounded by the
    // process's locked-memory budget, as every job's are; pieces too large for it leave the
    // stream to the one-stream path, which shrinks its buffers to fit.
    let (max_in_flight, _pins) = match in_flight_budget(t, &qs[0], nq * DEPTH) {
        Ok(Some(b)) => b,
        Ok(None) => {
            crate::pool::give_back(qs.pop().expect("one queue"))?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let domain = qs[0].domain().clone();
    let (mut next, mut written, mut in_flight) = (0usize, 0usize, 0usize);
    let (mut at, mut good, mut crc) = (t.body as u64, true, 0u32);
    let mut free: Vec<DmaBuf> = Vec::new();
    let mut ready: Vec<(usize, Completion)> = Vec::new();
    let mut done: BTreeMap<usize, DmaBuf> = BTreeMap::new();
    let (mut done_in, mut done_out) = (t.body as u64, 0u64);
    loop {
        while good && next < n && next - written < window && in_flight < max_in_flight {
            if qs.len() < nq && qs.iter().all(|q| q.outstanding() > 0) {
                let q = open(Direction::Decompress)?;
                if Arc::ptr_eq(q.domain(), &domain) {
                    qs.push(q);
                } else {
                    // Buffers are shared with one address space: stay with what we have.
                    crate::pool::give_back(q)?;
                }
            }
            let Some(qi) = (0..qs.len())
                .filter(|&i| qs[i].outstanding() < DEPTH)
                .min_by_key(|&i| qs[i].outstanding())
            else {
                break;
            };
            let (c, u) = t.pieces[next];
            let mut src = take(&mut free, &domain, c as usize)?;
            src.set_len(c as usize);
            read_at(at, src.as_mut_slice()).map_err(|e| Error::io("reading the input", e))?;
            at += u64::from(c);
            // One byte more than the piece's size: a piece that ends at a flush point then
            // stops for want of input rather than for want of room.
            let dst = take(&mut free, &domain, u as usize + 1)?;
            // The CRC is taken here, in order, as the output is written: not every
            // device dialect computes a checksum of its choice on decompression.
            let mut req = Request::new(ReqType::Deflate, src, dst).tag(next as u64);
            if next != last {
                // Where a piece but the last stops for input, the stream must go on with a
                // block header at the next byte, as the next piece is read: otherwise
                // (a block, or the last block, that goes on into the next piece; a block
                // ending inside the piece's last byte) the pieces decode apart to something
                // else than the stream does (a data error from the device).
                req = req.ends_at_block();
            }
            qs[qi].send(req)?;
            next += 1;
            in_flight += 1;
        }
        if in_flight == 0 {
            break;
        }
        recv_any(&mut qs, &mut ready)?;
        for (_, mut c) in ready.drain(..) {
            in_flight -= 1;
            let i = c.tag as usize;
            let (clen, ulen) = t.pieces[i];
            let want = if i == last {
                Status::Ok
            } else {
                Status::NeedInput
            };
            let fits = match c.status() {
                Some(s) if s == want => true,
                // What the data says: not pieces as the index describes them.
                Some(
                    Status::Ok
                    | Status::NeedInput
                    | Status::OutputTooSmall
                    | Status::DataError
                    | Status::ChecksumError,
                ) => false,
                // A device that does not know the block-end flag (an older sdmdev).
                Some(Status::BadRequest) => false,
                // A device or request failure.
                _ => {
                    c.check()?;
                    false
                }
            };
            free.extend(c.src.take());
            match c.dst.take() {
                Some(b) if fits && c.consumed == clen as usize && b.len() == ulen as usize => {
                    done.insert(i, b);
                }
                other => {
                    good = false;
                    free.extend(other);
                }
            }
            // Written as soon as they are in order: a failure seen later leaves them.
            while let Some(b) = done.remove(&written) {
                if good {
                    out.write_all(b.as_slice())
                        .map_err(|e| Error::io("writing the output", e))?;
                }
                crc = crc32(crc, b.as_slice());
                done_in += u64::from(t.pieces[written].0);
                done_out += b.len() as u64;
                free.push(b);
                written += 1;
                if good {
                    progress(done_in, done_out);
                }
            }
        }
    }
    for q in qs {
        crate::pool::give_back(q)?;
    }
    Ok(good && written == n && crc == t.crc)
}

/// How many pieces may be in flight at once (at most `most`), and the locked memory held
/// for them: no limit where nothing is pinned; on a device that pins, as many as the
/// budget holds of the largest piece's request, or `None` if not even one fits.
fn in_flight_budget(
    t: &PieceTable,
    q: &crate::queue::Queue,
    most: usize,
) -> Result<Option<(usize, crate::memlock::Reservation)>> {
    if !crate::memlock::pins_pages(q) {
        return Ok(Some((most, crate::memlock::Reservation::none())));
    }
    let (c, u) = t.pieces.iter().fold((0, 0), |(c, u), &(pc, pu)| {
        (c.max(pc as usize), u.max(pu as usize))
    });
    // One byte more than the output, as the requests ask for.
    let each = crate::memlock::request_pins(c, u + 1);
    let got = crate::memlock::reserve(each, |avail| {
        let k = (avail / each).min(most as u64);
        (k >= 1).then_some((k as usize, k * each))
    });
    match got {
        Ok(b) => Ok(Some(b)),
        Err(Error::MemlockLimit { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A buffer of at least `n` bytes from `free`, or a new one from `domain`.
fn take(free: &mut Vec<DmaBuf>, domain: &Arc<Domain>, n: usize) -> Result<DmaBuf> {
    match free.iter().position(|b| b.capacity() >= n) {
        Some(i) => {
            let mut b = free.swap_remove(i);
            b.set_len(0);
            Ok(b)
        }
        None => domain.alloc(n.max(1)),
    }
}

/// The piece table of the gzip file `f` (read at its start and end; the file position is
/// not used), or `None` if it holds no valid piece index.
pub fn read_file_index(f: &std::fs::File) -> std::io::Result<Option<PieceTable>> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    if len < 18 {
        return Ok(None);
    }
    let mut head = vec![0u8; HEAD_MAX.min(len as usize)];
    f.read_exact_at(&mut head, 0)?;
    let mut trailer = [0u8; 8];
    f.read_exact_at(&mut trailer, len - 8)?;
    Ok(read_index_parts(&head, len, trailer))
}

/// [`decode_pieces`] of the gzip file `f`, read where the pieces are.
pub fn decode_file_pieces(
    f: &std::fs::File,
    t: &PieceTable,
    out: &mut dyn std::io::Write,
    queues: usize,
    open: Opener<'_>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut read_at = |at: u64, buf: &mut [u8]| f.read_exact_at(buf, at);
    decode_pieces(t, &mut read_at, out, queues, open, progress)
}
