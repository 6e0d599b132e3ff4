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
//!
//! The code is in six parts, all used through this module's names: `zip/headers.rs`
//! (header and trailer bytes, header checks, the error of a refused stream),
//! `zip/framing.rs` (checksums, the framing of a stream around its pieces),
//! `zip/compress_stream.rs` (the piece scheduler of the split compression),
//! `zip/decompress_stream.rs` (the streamed decompression), `zip/stream.rs` (what those two
//! share: waiting on several queues, reading and writing) and `zip/oneshot.rs`
//! (whole-buffer calls, output sizing).

use crate::abi::Direction;
use crate::error::Result;
use crate::queue::Queue;

mod compress_stream;
mod decompress_stream;
mod framing;
mod headers;
mod oneshot;
mod stream;

pub use crate::codec::{Decoder, Encoder, EncoderBuilder};
pub use crate::format::{Format, Level};
pub use compress_stream::{compress_stream, compress_stream_indexed};
pub use decompress_stream::{decompress_stream, decompress_stream_limited};
pub(crate) use framing::Framer;
pub use framing::{
    adler32, adler32_combine, checked_compress_bound, compress_bound, crc32, crc32_combine,
};
pub(crate) use headers::request_header;
pub use headers::{
    after_stream, check_header, check_window, detect_format, detect_stream_format, gzip_header,
    gzip_header_with_index, gzip_trailer, read_gzip_header, stream_error, After, GzipHeader,
    GZIP_OS,
};
// The ring dialects' tests build zlib input with it.
#[cfg(test)]
pub(crate) use headers::zlib_header;
pub use oneshot::{
    compress, compress_into, compress_one, decompress, decompress_into, decompress_limited,
    decompress_one, decompress_one_limited, max_inflated, output_guess, output_guess_from,
    output_limit, retry_output_room, retry_room, room_cap, CLAIMED_SIZE_MAX, MAX_EXPANSION,
    ONE_REQUEST_MAX, RETRY_ROOM_MAX,
};
pub(crate) use stream::recv_any;

/// How to run a compression. More options may come: outside this crate start from
/// `ZipOptions::default()` and set what differs, with the builder methods
/// (`ZipOptions::default().format(Format::Zlib).queues(2)`) or field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
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

impl ZipOptions {
    /// Sets [`ZipOptions::format`].
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets [`ZipOptions::level`].
    pub fn level(mut self, level: impl Into<Level>) -> Self {
        self.level = level.into();
        self
    }

    /// Sets [`ZipOptions::queues`].
    pub fn queues(mut self, queues: usize) -> Self {
        self.queues = queues;
        self
    }

    /// Sets [`ZipOptions::chunk_size`].
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Sets [`ZipOptions::depth`].
    pub fn depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Sets [`ZipOptions::gzip`].
    pub fn gzip(mut self, header: GzipHeader) -> Self {
        self.gzip = header;
        self
    }

    /// Sets [`ZipOptions::index_pieces`].
    pub fn index_pieces(mut self, pieces: usize) -> Self {
        self.index_pieces = pieces;
        self
    }
}

/// Byte counts of a finished stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Device requests used.
    pub requests: u64,
}

/// Opens the queues for a job.
pub type Opener<'a> = &'a dyn Fn(Direction) -> Result<Queue>;

/// A queue of the process's default device (see [`crate::open_queue`]), from the pool of
/// idle queues when one is there; the whole-stream functions give it back when done.
pub fn default_opener(dir: Direction) -> Result<Queue> {
    crate::pool::take(dir)
}
