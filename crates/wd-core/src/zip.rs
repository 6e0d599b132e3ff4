//! Whole-stream compression and decompression over device queues.
//!
//! Compression splits the input into pieces, runs them on several queues at once, and
//! joins the results into ONE standard stream: each piece but the last is raw deflate ending
//! in a sync flush (`PARTIAL`), the driver writes the zlib/gzip header, and combines the
//! pieces' checksums into the trailer. An input that fits one piece is one request of the
//! real format, with header and trailer made by the device.
//!
//! Decompression feeds one queue with bounded input and output buffers, continuing the
//! device's decoder state between requests; it reads multi-member gzip.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::time::Duration;

use crate::abi::Direction;
use crate::abi::{Csum, ReqType, Status};
use crate::dma::DmaBuf;
use crate::error::{DataErrorKind, Error, Result};
use crate::memlock::{self, CompressPlan, InflatePlan, Reservation};
use crate::pieces::PieceIndex;
use crate::queue::{Completion, Queue, Request};

pub use crate::codec::{Decoder, Encoder, EncoderBuilder};
pub use crate::format::{Format, Level};

/// How to run a compression.
#[derive(Debug, Clone)]
pub struct ZipOptions {
    /// Output format.
    pub format: Format,
    /// Compression level (see [`Level`]).
    pub level: Level,
    /// Queues to spread pieces over.
    pub queues: usize,
    /// Piece size in bytes.
    pub chunk_size: usize,
    /// Pieces in flight per queue.
    pub depth: usize,
    /// The optional fields of the gzip header (ignored by the other formats).
    pub gzip: GzipHeader,
    /// Gzip: room for a piece index of this many pieces in the header (0: none), for a
    /// caller that can write it into the output afterwards (see [`crate::pieces`]).
    pub index_pieces: usize,
}

/// The most queues one stream may be spread over.
pub const MAX_QUEUES: usize = 64;

/// Cores available, read once: `available_parallelism` reads cgroup files each call.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

impl Default for ZipOptions {
    fn default() -> Self {
        ZipOptions {
            format: Format::Gzip,
            level: Level::DEFAULT,
            queues: cores().min(4),
            chunk_size: 1 << 20,
            depth: 3,
            gzip: GzipHeader::default(),
            index_pieces: 0,
        }
    }
}

/// Byte counts of a finished stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Device requests used.
    pub requests: u64,
}

/// Worst-case size of a deflate stream of `n` bytes (zlib's bound, plus room for a sync
/// flush and a gzip/zlib wrapper); `usize::MAX` where that does not fit a `usize`.
pub fn compress_bound(n: usize) -> usize {
    checked_compress_bound(n).unwrap_or(usize::MAX)
}

/// [`compress_bound`], or `None` if it does not fit a `usize`.
pub fn checked_compress_bound(n: usize) -> Option<usize> {
    n.checked_add((n >> 12) + (n >> 14) + (n >> 25) + 64)
}

/// CRC-32 of `data`, continuing from `crc` (0 to start), as zlib's `crc32`.
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(crc);
    h.update(data);
    h.finalize()
}

/// Adler-32 of `data`, continuing from `adler` (1 to start), as zlib's `adler32`.
pub fn adler32(adler: u32, data: &[u8]) -> u32 {
    let mut h = simd_adler32::Adler32::from_checksum(adler);
    h.write(data);
    h.finish()
}

/// Adler-32 of the concatenation of two pieces, from their checksums (`len2` = length of
/// the second).
pub fn adler32_combine(a1: u32, a2: u32, len2: u64) -> u32 {
    const BASE: u64 = 65521;
    let rem = len2 % BASE;
    let (s1a, s2a) = ((a1 & 0xffff) as u64, (a1 >> 16) as u64);
    let (s1b, s2b) = ((a2 & 0xffff) as u64, (a2 >> 16) as u64);
    // s1 = s1a + s1b - 1; s2 = s2a + s2b + rem*(s1a - 1), all mod BASE.
    let s1 = (s1a + s1b + BASE - 1) % BASE;
    let s2 = (s2a + s2b + rem * s1a % BASE + BASE - rem) % BASE;
    (s2 << 16 | s1) as u32
}

/// CRC-32 of the concatenation of two pieces, from their checksums.
pub fn crc32_combine(c1: u32, c2: u32, len2: u64) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial_len(c1, 0);
    h.combine(&crc32fast::Hasher::new_with_initial_len(c2, len2));
    h.finalize()
}

/// The OS byte of every gzip header WarpDrive writes (RFC 1952: 3 = Unix), whatever the
/// input, its size or the device.
pub const GZIP_OS: u8 = 3;

/// The optional fields of a gzip header: the original file name (FNAME, ISO 8859-1, no
/// zero byte) and the modification time (MTIME, seconds since the epoch; 0 = none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GzipHeader {
    /// The file name, without a terminating zero.
    pub name: Option<Vec<u8>>,
    /// Modification time in seconds since the epoch, 0 for none.
    pub mtime: u32,
}

impl GzipHeader {
    /// Checks the fields: a name may not contain a zero byte (it ends the field).
    pub fn check(&self) -> Result<()> {
        if self.name.as_ref().is_some_and(|n| n.contains(&0)) {
            return Err(Error::BadRequest(
                "a gzip file name may not contain a zero byte".into(),
            ));
        }
        Ok(())
    }
}

/// The gzip header of a stream compressed at `level` with the fields of `h`: the ONE place
/// every gzip header WarpDrive writes is made (whole-buffer, streamed and incremental
/// compression alike; the device's own gzip wrapper is never used).
pub fn gzip_header(level: u32, h: &GzipHeader) -> Vec<u8> {
    gzip_header_with_index(level, h, 0)
}

/// [`gzip_header`] with room for a piece index of `slots` pieces (none for 0 or more than
/// [`crate::pieces::MAX_PIECES`]).
pub fn gzip_header_with_index(level: u32, h: &GzipHeader, slots: usize) -> Vec<u8> {
    // XFL: 2 = best compression, 4 = fastest (RFC 1952).
    let xfl = match level {
        1 => 4,
        9 => 2,
        _ => 0,
    };
    let extra = crate::pieces::extra_field(slots);
    let flg = if h.name.is_some() { 0x08 } else { 0 } | if extra.is_some() { 0x04 } else { 0 };
    let mut v = vec![0x1f, 0x8b, 8, flg];
    v.extend_from_slice(&h.mtime.to_le_bytes());
    v.extend_from_slice(&[xfl, GZIP_OS]);
    v.extend(extra.unwrap_or_default());
    if let Some(n) = &h.name {
        v.extend(n.iter().copied().filter(|&b| b != 0));
        v.push(0);
    }
    v
}

/// The gzip trailer of a stream whose uncompressed data has CRC-32 `crc` and length `len`.
pub fn gzip_trailer(crc: u32, len: u64) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&crc.to_le_bytes());
    t[4..].copy_from_slice(&(len as u32).to_le_bytes());
    t
}

/// The name and mtime of the complete, valid gzip header at the start of `d`; `None` if
/// `d` does not start with one.
pub fn read_gzip_header(d: &[u8]) -> Option<GzipHeader> {
    let Header::Complete(_) = parse_header(Format::Gzip, d) else {
        return None;
    };
    let flg = d[3];
    let mtime = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
    let mut pos = 10usize;
    if flg & 0x04 != 0 {
        pos += 2 + usize::from(u16::from_le_bytes([d[10], d[11]]));
    }
    let name = if flg & 0x08 != 0 {
        let end = pos + d[pos..].iter().position(|&b| b == 0)?;
        Some(d[pos..end].to_vec())
    } else {
        None
    };
    Some(GzipHeader { name, mtime })
}

/// The format of a zlib or gzip stream from its first byte (gzip's magic starts with
/// 0x1f, which no valid zlib header does): what `format="auto"` decodes as.
pub fn detect_format(first: u8) -> Format {
    if first == 0x1f {
        Format::Gzip
    } else {
        Format::Zlib
    }
}

/// The zlib or gzip header (no gzip fields) a queue's driver writes in front of a
/// request of `t` at `level` for a device that writes none (`Dialect::writes_header`):
/// the same bytes as every other stream WarpDrive writes. Empty for other types.
pub(crate) fn request_header(t: ReqType, level: u32) -> Vec<u8> {
    match t {
        ReqType::Gzip => gzip_header(level, &GzipHeader::default()),
        ReqType::Zlib => zlib_header(level).to_vec(),
        _ => Vec::new(),
    }
}

pub(crate) fn zlib_header(level: u32) -> [u8; 2] {
    let flevel: u16 = match level {
        1 => 0,
        2..=5 => 1,
        0 | 6 => 2,
        _ => 3,
    };
    let mut h: u16 = 0x78 << 8 | flevel << 6;
    h += 31 - h % 31;
    h.to_be_bytes()
}

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

/// Opens the queues for a job.
pub type Opener<'a> = &'a dyn Fn(Direction) -> Result<Queue>;

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
    let start = std::time::Instant::now();
    let budget = poll_budget(queues);
    let mut got = Vec::new();
    let mut spins = 0u32;
    loop {
        for (i, q) in queues.iter_mut().enumerate() {
            q.recv_many(&mut got, usize::MAX)?;
            out.extend(got.drain(..).map(|c| (i, c)));
        }
        if !out.is_empty() {
            return Ok(());
        }
        spins += 1;
        // The clock is read every 64 polls: polling is cheaper than reading it.
        if spins % 64 != 0 || start.elapsed() < budget {
            std::hint::spin_loop();
            continue;
        }
        let mut fds = Vec::new();
        let mut ready = false;
        for q in queues.iter_mut().filter(|q| q.outstanding() > 0) {
            if !q.arm_interrupt()? {
                ready = true;
            }
            fds.push(q.readiness_fd());
        }
        if fds.is_empty() {
            return Err(Error::Protocol("waiting with nothing in flight".into()));
        }
        if !ready {
            crate::wait::readable(&fds, Some(crate::queue::DEVICE_CHECK))?;
            for q in queues.iter().filter(|q| q.outstanding() > 0) {
                q.check_device()?;
            }
        }
        for q in queues.iter() {
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

/// The most a size *claimed by the input* (gzip's ISIZE trailer) may make a decompression
/// allocate before any output is measured; beyond it (and beyond what the input can
/// possibly expand to, [`MAX_EXPANSION`]) the output grows by what the device produces.
pub const CLAIMED_SIZE_MAX: usize = 16 << 20;

/// Deflate's largest expansion: a 258-byte match costs at least 2 bits (a one-bit length
/// code and a one-bit distance code), so no stream decodes to more than 1032 times its
/// size (plus the first literals of a block).
pub const MAX_EXPANSION: usize = 1032;

/// The most `n` bytes of deflate (any wrapper, any number of gzip members) can decode to.
pub fn max_inflated(n: usize) -> usize {
    n.saturating_mul(MAX_EXPANSION).saturating_add(4096)
}

/// What the start of a stream says about its header.
#[derive(Debug, PartialEq, Eq)]
enum Header {
    /// A valid header of this many bytes (0 for raw deflate).
    Complete(usize),
    /// Valid so far, but the header goes on past the bytes given.
    Incomplete,
    /// A header zlib refuses: the error kind and what is wrong.
    Refused(DataErrorKind, String),
}

/// Checks the header at the start of `d` as zlib's inflate does (RFC 1950, 1952).
fn parse_header(format: Format, d: &[u8]) -> Header {
    let bad = |what: &str| Header::Refused(DataErrorKind::BadHeader, what.to_string());
    match format {
        Format::Deflate => Header::Complete(0),
        Format::Zlib => {
            let [cmf, flg, ..] = *d else {
                return Header::Incomplete;
            };
            if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
                return Header::Refused(
                    DataErrorKind::NotCompressed,
                    "not zlib data (the header check fails)".into(),
                );
            }
            if cmf & 0x0f != 8 {
                return bad(&format!("unknown compression method {}", cmf & 0x0f));
            }
            if cmf >> 4 > 7 {
                return bad(&format!("window size field {} is above 7", cmf >> 4));
            }
            if flg & 0x20 != 0 {
                return bad("the stream needs a preset dictionary");
            }
            Header::Complete(2)
        }
        Format::Gzip => {
            if d.first().is_some_and(|&b| b != 0x1f) || d.get(1).is_some_and(|&b| b != 0x8b) {
                return Header::Refused(
                    DataErrorKind::NotCompressed,
                    "not gzip data (bad magic bytes)".into(),
                );
            }
            // Method and flags are checked as soon as they are there, as zlib does.
            if let Some(&m) = d.get(2).filter(|&&m| m != 8) {
                return bad(&format!("unknown compression method {m}"));
            }
            if d.get(3).is_some_and(|&f| f & 0xe0 != 0) {
                return bad("reserved flag bits are set");
            }
            if d.len() < 10 {
                return Header::Incomplete;
            }
            let flg = d[3];
            let mut pos = 10usize;
            if flg & 0x04 != 0 {
                let Some(x) = d.get(pos..pos + 2) else {
                    return Header::Incomplete;
                };
                pos += 2 + usize::from(u16::from_le_bytes([x[0], x[1]]));
            }
            for bit in [0x08, 0x10] {
                if flg & bit != 0 {
                    match d.get(pos..).and_then(|r| r.iter().position(|&b| b == 0)) {
                        Some(i) => pos += i + 1,
                        None => return Header::Incomplete,
                    }
                }
            }
            if flg & 0x02 != 0 {
                let Some(x) = d.get(pos..pos + 2) else {
                    return Header::Incomplete;
                };
                if u16::from_le_bytes([x[0], x[1]]) != crc32fast::hash(&d[..pos]) as u16 {
                    return bad("header CRC mismatch");
                }
                pos += 2;
            }
            if pos > d.len() {
                return Header::Incomplete;
            }
            Header::Complete(pos)
        }
    }
}

/// Checks the header at the start of `d` as zlib does: `Ok(Some(n))` for a valid header of
/// `n` bytes (0 for raw deflate), `Ok(None)` if `d` ends inside a header that is valid so
/// far, and the error ([`DataErrorKind::NotCompressed`] or [`DataErrorKind::BadHeader`])
/// for a header zlib refuses.
pub fn check_header(format: Format, d: &[u8]) -> Result<Option<usize>> {
    match parse_header(format, d) {
        Header::Complete(n) => Ok(Some(n)),
        Header::Incomplete => Ok(None),
        Header::Refused(kind, what) => Err(Error::data(kind, &what)),
    }
}

/// The error for a stream of `format` that began with `head` (its first bytes, as many as
/// are at hand) and that the device stopped with `status`. The device only says "invalid",
/// "checksum" or "needs input"; the header tells a stream that is not of the format at all,
/// or has a refused header, from corrupt compressed data.
pub fn stream_error(format: Format, head: &[u8], status: Status) -> Error {
    if head.is_empty() {
        return Error::data(DataErrorKind::NotCompressed, "the input is empty");
    }
    if let Header::Refused(kind, what) = parse_header(format, head) {
        return Error::data(kind, &what);
    }
    match status {
        Status::NeedInput => Error::data(DataErrorKind::Truncated, ""),
        Status::ChecksumError => Error::data(DataErrorKind::Checksum, ""),
        Status::DataError => Error::data(DataErrorKind::Corrupt, ""),
        s => match s.check() {
            Err(e) => e,
            Ok(()) => Error::Protocol(format!("stream_error called with status {s:?}")),
        },
    }
}

/// What comes after the end of a stream of `format`, in `rest` (gzip: after any zero
/// padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Nothing more (the input ends here).
    End,
    /// Another gzip member starts `skip` bytes on (after zero padding).
    Member {
        /// Zero bytes before it.
        skip: usize,
    },
    /// Anything else: an error ([`DataErrorKind::TrailingGarbage`]).
    Garbage,
}

/// Classifies `rest`, the input after a complete stream, when nothing follows `rest`.
/// gzip members may be separated and followed by zero bytes, as gzip(1) and Python's gzip
/// accept; zlib and raw deflate streams must end the input.
pub fn after_stream(format: Format, rest: &[u8]) -> After {
    let skip = match format {
        Format::Gzip => rest.iter().take_while(|&&b| b == 0).count(),
        _ => 0,
    };
    match &rest[skip..] {
        [] => After::End,
        [0x1f] | [0x1f, 0x8b, ..] if format == Format::Gzip => After::Member { skip },
        _ => After::Garbage,
    }
}

/// The error for an output of more than `limit` bytes ([`DataErrorKind::OutputLimit`]).
pub fn output_limit(limit: u64) -> Error {
    Error::data(
        DataErrorKind::OutputLimit,
        &format!("more than {limit} bytes"),
    )
}

/// The output room of a one-request decompression's next try, after a try with `room`
/// bytes ran out of it (or produced more than `left`, the output still allowed): twice the
/// room. [`DataErrorKind::OutputLimit`] (for `max_output`) when `room` already held more
/// than `left`: the output is over the limit, and a bigger try would only allocate more.
pub fn retry_output_room(room: usize, left: Option<usize>, max_output: u64) -> Result<usize> {
    match left {
        Some(l) if room > l => Err(output_limit(max_output)),
        _ => Ok(room.saturating_mul(2)),
    }
}

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

/// A queue of the process's default device (see [`crate::open_queue`]), from the pool of
/// idle queues when one is there; the whole-stream functions give it back when done.
pub fn default_opener(dir: Direction) -> Result<Queue> {
    crate::pool::take(dir)
}

/// Inputs up to this size are one request in [`compress`] and [`decompress`] (the size of
/// one piece of [`compress_stream`]).
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
    let mut out = Vec::new();
    // gzip: raw deflate with its CRC-32, wrapped here (the header is decided in one place).
    let req = if format == Format::Gzip {
        out.extend_from_slice(&gzip_header(level, &GzipHeader::default()));
        Request::without_buffers(ReqType::Deflate).checksum(Csum::Crc32)
    } else {
        Request::without_buffers(format.req_type())
    };
    let c = q.run_borrowed(req.level(level), data, &mut out, space)?;
    c.check()
        .map_err(|e| e.with_pinned(memlock::request_pins(data.len(), space)))?;
    if format == Format::Gzip {
        out.extend_from_slice(&gzip_trailer(c.checksum, data.len() as u64));
    }
    // The bound is ~3x what typical data needs: give the rest back (in place, no copy).
    out.shrink_to_fit();
    Ok(out)
}

/// Decompresses `data` on `q` (nothing in flight) if it holds one stream: one request whose
/// output space is a guess (gzip: the size its trailer announces, within
/// [`CLAIMED_SIZE_MAX`] and what the input can decode to), continued on the same queue with
/// more space while the output outgrows it, so no work is done twice. `Ok(None)` if the
/// input holds more than one gzip member: use [`decompress_stream`].
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
    if data.len() > ONE_REQUEST_MAX {
        return Ok(None);
    }
    if data.is_empty() {
        return Err(stream_error(format, data, Status::NeedInput));
    }
    let cap = max_output.map_or(usize::MAX, |m| m.saturating_add(1));
    let guess = output_guess(data, format).min(cap);
    // Under a locked-memory limit the space may shrink, and each continuation gets the
    // same space (what was reserved); otherwise each one doubles the space.
    let pinned = memlock::pins_pages(q);
    let (mut space, _pins) = if pinned {
        memlock::reserve_request(data.len(), guess, guess.min(64 << 10))?
    } else {
        (guess, Reservation::none())
    };
    let mut out = Vec::new();
    let mut used = 0;
    let mut req = Request::without_buffers(format.req_type());
    loop {
        let c = q.run_borrowed(req, &data[used..], &mut out, space)?;
        used += c.consumed.min(data.len() - used);
        match c.status() {
            _ if out.len() >= cap => return Err(output_limit(cap as u64 - 1)),
            // One complete stream and nothing after it: done.
            Some(Status::Ok) if used == data.len() => {
                out.shrink_to_fit();
                return Ok(Some(out));
            }
            // More gzip members (or trailing garbage): the stream path tells them apart.
            Some(Status::Ok) => return Ok(None),
            // The output outgrew the space: continue the stream with more.
            Some(Status::OutputTooSmall) if c.produced == 0 && c.consumed == 0 => {
                return Err(Error::Protocol(
                    "the device made no progress on a stream it said needed more output".into(),
                ))
            }
            Some(Status::OutputTooSmall) => {
                if !pinned {
                    space = space.saturating_mul(2);
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
                    .map(|_| None)
            }
        }
    }
}

/// The output space a one-request decompression of `data` starts with: gzip's claimed
/// size if it is plausible, else 4x the input (64 KiB .. 4 MiB); never more than
/// [`CLAIMED_SIZE_MAX`] nor than `data` can decode to.
pub fn output_guess(data: &[u8], format: Format) -> usize {
    let n = data.len();
    output_guess_from(n, &data[..n.min(2)], &data[n.saturating_sub(4)..], format)
}

/// [`output_guess`] from the input's length, its first two bytes and its last four.
pub fn output_guess_from(len: usize, head: &[u8], tail: &[u8], format: Format) -> usize {
    let guess = match (format, gzip_isize(len, head, tail)) {
        (Format::Gzip, Some(n)) if n < CLAIMED_SIZE_MAX => n + 1,
        _ => len.saturating_mul(4).clamp(64 << 10, ONE_REQUEST_MAX * 4),
    };
    guess.min(max_inflated(len)).min(CLAIMED_SIZE_MAX)
}

/// The uncompressed size a gzip member announces (ISIZE, mod 2^32), as a size hint, from
/// the input's length, first two bytes and last four.
fn gzip_isize(len: usize, head: &[u8], tail: &[u8]) -> Option<usize> {
    match (head, tail) {
        ([0x1f, 0x8b], &[a, b, c, d]) if len >= 18 => {
            Some(u32::from_le_bytes([a, b, c, d]) as usize)
        }
        _ => None,
    }
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
    let level = level.into();
    if data.len() <= ONE_REQUEST_MAX {
        return on_pooled(Direction::Compress, |q| {
            compress_one(q, data, format, level)
        });
    }
    let mut opts = ZipOptions {
        format,
        level,
        ..Default::default()
    };
    // The output is at hand: it gets the piece index, for decoding on several queues.
    opts.index_pieces = data.len().div_ceil(opts.chunk_size);
    let mut out = Vec::with_capacity(compress_bound(data.len()) / 2);
    let (_, index) = compress_stream_indexed(
        &mut &data[..],
        &mut out,
        &opts,
        &default_opener,
        &mut |_, _| {},
    )?;
    if let Some(ix) = index {
        ix.patch(&mut out);
    }
    Ok(out)
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
    match decompress_into(data, format, max_output, sink)? {
        Decompressed::One(v) => Ok(v),
        Decompressed::Streamed(s) => Ok(s.v.unwrap_or_default()),
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

/// What [`decompress_into`] produced.
#[derive(Debug)]
pub enum Decompressed<W> {
    /// The whole output of one request (the sink was not used).
    One(Vec<u8>),
    /// The output went to the sink, which is handed back.
    Streamed(W),
}

/// Decompresses a whole buffer of `format`, the policy of [`decompress_limited`] with the
/// output's destination left to the caller: an input of one request whose output fits a
/// guess ([`decompress_one_limited`] on a pooled queue) comes back as one vector; anything
/// else is decoded as a stream into `sink` (more output than guessed, more gzip members, or
/// a larger input).
pub fn decompress_into<W: Write>(
    data: &[u8],
    format: Format,
    max_output: Option<usize>,
    mut sink: W,
) -> Result<Decompressed<W>> {
    // WarpDrive's own multi-piece gzip: its pieces on several queues at once.
    if format == Format::Gzip {
        if let Some(t) = crate::pieces::read_index(data) {
            let queues = ZipOptions::default().queues;
            if let Some(v) =
                crate::pieces::decompress_pieces(data, &t, max_output, queues, &default_opener)?
            {
                return Ok(Decompressed::One(v));
            }
        }
    }
    if data.len() <= ONE_REQUEST_MAX {
        let one = on_pooled(Direction::Decompress, |q| {
            decompress_one_limited(q, data, format, max_output)
        })?;
        if let Some(v) = one {
            return Ok(Decompressed::One(v));
        }
    }
    decompress_stream_limited(
        &mut &data[..],
        &mut sink,
        format,
        max_output.map(|m| m as u64),
        &default_opener,
        &mut |_, _| {},
    )?;
    Ok(Decompressed::Streamed(sink))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_combination_matches_direct_computation() {
        let a: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let b: Vec<u8> = (0..70_001u32).map(|i| (i * 13 % 251) as u8).collect();
        let whole = [a.clone(), b.clone()].concat();
        let ad = |d: &[u8]| {
            let mut h = simd_adler32::Adler32::new();
            h.write(d);
            h.finish()
        };
        assert_eq!(adler32_combine(ad(&a), ad(&b), b.len() as u64), ad(&whole));
        assert_eq!(adler32_combine(ad(&a), 1, 0), ad(&a));
        assert_eq!(adler32_combine(1, ad(&b), b.len() as u64), ad(&b));
        assert_eq!(
            crc32_combine(crc32fast::hash(&a), crc32fast::hash(&b), b.len() as u64),
            crc32fast::hash(&whole)
        );
        assert_eq!(
            crc32_combine(0, crc32fast::hash(&b), b.len() as u64),
            crc32fast::hash(&b)
        );
    }

    #[test]
    fn a_retry_doubles_the_room_until_the_limit_is_passed() {
        assert_eq!(retry_output_room(4096, None, 0).unwrap(), 8192);
        assert_eq!(retry_output_room(4096, Some(4096), 10).unwrap(), 8192);
        let e = retry_output_room(4097, Some(4096), 5000).unwrap_err();
        assert!(
            matches!(&e, Error::BadData(d) if d.kind() == DataErrorKind::OutputLimit),
            "{e}"
        );
        assert!(e.to_string().contains("more than 5000 bytes"), "{e}");
        assert_eq!(retry_output_room(usize::MAX, None, 0).unwrap(), usize::MAX);
    }

    #[test]
    fn header_fields_are_judged_as_soon_as_they_are_there() {
        let g = Format::Gzip;
        assert_eq!(parse_header(g, &[0x1f]), Header::Incomplete);
        assert!(matches!(
            parse_header(g, &[0x1f, 0x8c]),
            Header::Refused(DataErrorKind::NotCompressed, _)
        ));
        // A wrong method is refused with 3 bytes, reserved flags with 4 (fuzz regression:
        // zlib refuses `1f 8b 00 00 00 00 00` at once; it is not "incomplete").
        for d in [
            &[0x1f, 0x8b, 0][..],
            &[0x1f, 0x8b, 8, 0x20],
            &[0x1f, 0x8b, 0, 0, 0, 0, 0],
        ] {
            assert!(
                matches!(
                    parse_header(g, d),
                    Header::Refused(DataErrorKind::BadHeader, _)
                ),
                "{d:?}"
            );
        }
        assert_eq!(parse_header(g, &[0x1f, 0x8b, 8, 0, 0]), Header::Incomplete);
        let mut h = vec![0x1f, 0x8b, 8, 0x1e, 0, 0, 0, 0, 0, 3, 2, 0, b'x', b'y'];
        h.extend_from_slice(b"name\0comment\0");
        assert_eq!(parse_header(g, &h), Header::Incomplete);
        let crc = crc32fast::hash(&h) as u16;
        h.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(parse_header(g, &h), Header::Complete(h.len()));
        assert_eq!(parse_header(Format::Zlib, &[0x78]), Header::Incomplete);
        assert_eq!(
            parse_header(Format::Zlib, &[0x78, 0x9c]),
            Header::Complete(2)
        );
        assert_eq!(parse_header(Format::Deflate, &[]), Header::Complete(0));
    }

    #[test]
    fn zlib_header_is_valid_for_every_level() {
        for l in 0..=9 {
            let h = zlib_header(l);
            assert_eq!(h[0], 0x78);
            assert_eq!(u16::from_be_bytes(h) % 31, 0);
        }
    }
}
