//! zlib-rs through its own zlib C ABI, `libz-rs-sys`: the soft device's decoder, and its
//! compressor for sync-flushed pieces at level 2 (and level 1 in a build without ISA-L, the
//! `isal` feature), and at levels 3..=9 where libdeflate's stream cannot be made a piece.
//!
//! Why not flate2: at level 6 zlib-rs runs with the soft device's own search
//! limits (`deflateTune`), which only the C ABI exposes (flate2 and zlib-rs's safe
//! `Deflate` have no tuning call). zlib-rs follows zlib-ng, whose levels 3..=6 use a faster
//! "medium" match finder: at level 6 its output is 2.4% larger than zlib's level 6 on our
//! corpus. zlib-rs's lazy match finder with tuned limits comes within 1.3% at about the
//! same speed (`level_config`, `docs/decisions/engines.md`). Every `unsafe` block of this path is
//! in this module.

use std::ffi::c_int;

use libz_rs_sys as z;

/// Stream wrapper an engine reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapper {
    /// Raw deflate.
    Raw,
    /// zlib header and Adler-32 trailer.
    Zlib,
    /// gzip header and CRC-32/ISIZE trailer.
    Gzip,
}

/// What a compression call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeflateResult {
    /// Everything consumed and the stream finished or flushed: `(consumed, produced)`.
    Done(usize, usize),
    /// The output ran out first.
    OutputFull,
}

/// How zlib-rs runs one level: the level it is initialised with, which picks zlib-rs's match
/// finder (2: greedy "fast"; 3..=6: "medium"; 7..=9: lazy "slow"; 9 also uses a rolling
/// 3-byte hash), and the search limits set after every reset, if not the level's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelConfig {
    /// The level given to `deflateInit2`.
    pub init_level: i32,
    /// `deflateTune` arguments: good_length, max_lazy, nice_length, max_chain.
    pub tune: Option<[u16; 4]>,
}

/// The configuration of each level, 1..=9 (0 is taken as 2, above 9 as 9). Level 1 is
/// zlib-rs's own (its "quick" match finder), used only in a build without ISA-L.
///
/// Measured on the benchmark corpus as 1 MiB pieces against C zlib 1.2.13 at the same level
/// (`docs/decisions/engines.md`): zlib-rs's own levels are within 1.6% of zlib's size except 6
/// (+2.4%), which uses zlib-rs's "medium" match finder. Level 6 runs the lazy match finder
/// instead (init level 7) with a 64-entry chain, searched only a quarter deep when the
/// previous position already has a match of 4 bytes or more (good_length 4), and lazy
/// evaluation up to long matches: +1.3% over zlib at 0.94-0.99x the speed of medium
/// (zlib's own level-6 limits, 8/16/128/128, give +1.3% at 0.8x).
pub const fn level_config(level: u32) -> LevelConfig {
    let (init_level, tune) = match level {
        1 => (1, None),
        0 | 2 => (2, None),
        6 => (7, Some([4, 128, 258, 64])),
        l @ 3..=8 => (l as i32, None),
        _ => (9, None),
    };
    LevelConfig { init_level, tune }
}

/// zlib's `windowBits` for a 32 KiB window and `wrapper`: negative for raw deflate, +16 for
/// gzip.
fn window_bits(wrapper: Wrapper) -> c_int {
    match wrapper {
        Wrapper::Raw => -15,
        Wrapper::Zlib => 15,
        Wrapper::Gzip => 31,
    }
}

/// Points `s` at `input` and `output` for one call. Request sizes are u32 in the ABI; a
/// larger slice is clamped, which only makes an oversized call stop early.
fn set_buffers(s: &mut z::z_stream, input: &[u8], output: &mut [u8]) {
    s.next_in = input.as_ptr();
    s.avail_in = u32::try_from(input.len()).unwrap_or(u32::MAX);
    s.next_out = output.as_mut_ptr();
    s.avail_out = u32::try_from(output.len()).unwrap_or(u32::MAX);
}

/// A zlib-rs compressor for one wrapper and level, reused across requests.
pub struct Deflater {
    // Boxed: the C ABI hands out the stream's address, so it must not move.
    stream: Box<z::z_stream>,
    config: LevelConfig,
}

// SAFETY: the stream's state is heap memory owned by this value alone; the input and output
// pointers are set from the caller's slices at the start of each call and cleared before it
// returns. zlib-rs keeps no thread-local or shared state for a stream.
unsafe impl Send for Deflater {}

impl Deflater {
    /// A compressor writing `wrapper` at `level` (1..=9).
    pub fn new(wrapper: Wrapper, level: u32) -> Deflater {
        Deflater::with_config(wrapper, level_config(level))
    }

    /// A compressor writing `wrapper` with any configuration (for measurements and tests).
    pub fn with_config(wrapper: Wrapper, config: LevelConfig) -> Deflater {
        assert!(
            (1..=9).contains(&config.init_level),
            "init level out of range"
        );
        let window_bits = window_bits(wrapper);
        let mut stream = Box::<z::z_stream>::default();
        // SAFETY: `stream` is a default (zeroed, no custom allocator) z_stream, exclusively
        // owned; version and size are the library's own, so the ABI check passes.
        let ret = unsafe {
            z::deflateInit2_(
                &mut *stream,
                config.init_level,
                z::Z_DEFLATED,
                window_bits,
                8,
                z::Z_DEFAULT_STRATEGY,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        // Only an allocation failure can fail here: the arguments are constants in range.
        assert_eq!(ret, z::Z_OK, "zlib-rs deflateInit2 failed");
        Deflater { stream, config }
    }

    /// Starts a new stream and applies the level's search limits (a reset restores the
    /// table values of the init level, so tuning must follow every reset).
    fn reset(&mut self) {
        // SAFETY: the stream was initialised in `new` and not ended.
        let ret = unsafe { z::deflateReset(&mut *self.stream) };
        debug_assert_eq!(ret, z::Z_OK);
        if let Some([good, lazy, nice, chain]) = self.config.tune {
            // SAFETY: as above.
            let ret = unsafe {
                z::deflateTune(
                    &mut *self.stream,
                    good.into(),
                    lazy.into(),
                    nice.into(),
                    chain.into(),
                )
            };
            debug_assert_eq!(ret, z::Z_OK);
        }
    }

    /// Compresses all of `input` into `output` as a new stream. `finish` ends the stream
    /// (with the wrapper's header and trailer); otherwise it ends with a sync flush:
    /// byte-aligned, no final block.
    pub fn compress(&mut self, input: &[u8], output: &mut [u8], finish: bool) -> DeflateResult {
        self.reset();
        let s = &mut *self.stream;
        set_buffers(s, input, output);
        let avail_out = s.avail_out;
        let flush = if finish { z::Z_FINISH } else { z::Z_SYNC_FLUSH };
        // SAFETY: the stream is initialised; next_in/avail_in describe readable memory
        // inside `input`, next_out/avail_out writable memory inside `output`, both
        // borrowed for the whole call.
        let ret = unsafe { z::deflate(s, flush) };
        let consumed = input.len() - s.avail_in as usize;
        let produced = (avail_out - s.avail_out) as usize;
        let left_in = s.avail_in;
        let left_out = s.avail_out;
        s.next_in = std::ptr::null();
        s.avail_in = 0;
        s.next_out = std::ptr::null_mut();
        s.avail_out = 0;
        let done = if finish {
            ret == z::Z_STREAM_END
        } else {
            // A sync flush is complete only if it left output space unused.
            ret == z::Z_OK && left_in == 0 && left_out > 0
        };
        if done && consumed == input.len() {
            DeflateResult::Done(consumed, produced)
        } else {
            DeflateResult::OutputFull
        }
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised in `new` and is ended only here.
        unsafe { z::deflateEnd(&mut *self.stream) };
    }
}

/// Why an inflate call stopped (see [`Inflater::inflate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateStop {
    /// The stream ended (trailer checked).
    End,
    /// The output is full before the end.
    OutputFull,
    /// The input ran out before the end.
    NeedInput,
    /// The trailer's checksum or length is wrong.
    Checksum,
    /// Not a valid stream.
    Invalid,
    /// The input ran out inside a block, or at a block boundary that is not at a byte
    /// boundary ([`Inflater::inflate_to_block`] only).
    InsideBlock,
}

/// A resumable, strict zlib-rs decoder: it accepts exactly what zlib accepts (zlib-rs is a
/// port of zlib's inflate, with its checks: Huffman codes that over- or under-fill their
/// code space, a zlib window field above 7, reserved gzip flags, a wrong gzip header CRC,
/// distances before the start of the output, ...). Reused across streams.
pub struct Inflater {
    // Boxed: the C ABI keeps the stream's address in its state, so it must not move.
    stream: Box<z::z_stream>,
}

// SAFETY: as for `Deflater`: the state is heap memory owned by this value alone, and the
// input and output pointers are set from the caller's slices for one call and cleared after.
unsafe impl Send for Inflater {}

impl Inflater {
    /// A decoder for streams with `wrapper` (zlib: header and Adler-32 trailer; gzip: one
    /// member, header and CRC-32/ISIZE trailer; raw: neither).
    pub fn new(wrapper: Wrapper) -> Inflater {
        let window_bits = window_bits(wrapper);
        let mut stream = Box::<z::z_stream>::default();
        // SAFETY: `stream` is a default (zeroed, no custom allocator) z_stream, exclusively
        // owned; version and size are the library's own, so the ABI check passes.
        let ret = unsafe {
            z::inflateInit2_(
                &mut *stream,
                window_bits,
                z::zlibVersion(),
                std::mem::size_of::<z::z_stream>() as c_int,
            )
        };
        // Only an allocation failure can fail here: the arguments are constants in range.
        assert_eq!(ret, z::Z_OK, "zlib-rs inflateInit2 failed");
        Inflater { stream }
    }

    /// Starts a new stream with the same wrapper.
    pub fn reset(&mut self) {
        // SAFETY: the stream was initialised in `new` and not ended.
        let ret = unsafe { z::inflateReset(&mut *self.stream) };
        debug_assert_eq!(ret, z::Z_OK);
    }

    /// The checksum of the stream's output so far that its trailer is checked against
    /// (gzip: CRC-32, zlib: Adler-32; raw: meaningless).
    pub fn checksum(&self) -> u32 {
        self.stream.adler as u32
    }

    /// Decodes from `input` into `output`, continuing the current stream; returns (consumed,
    /// produced, why it stopped). At the end of the stream, `consumed` stops exactly at its
    /// last byte: what follows (the next gzip member, trailing data) is not consumed.
    pub fn inflate(&mut self, input: &[u8], output: &mut [u8]) -> (usize, usize, InflateStop) {
        let r = self.call(input, output, z::Z_NO_FLUSH);
        (r.consumed, r.produced, r.stop)
    }

    /// [`inflate`](Self::inflate) of input that must end where a block starts: when the
    /// input runs out inside the stream, [`InflateStop::NeedInput`] only if the stream goes
    /// on with a block header at the next byte (byte-aligned, nothing of it read yet,
    /// after a block that is not the last), [`InflateStop::InsideBlock`] anywhere else.
    pub fn inflate_to_block(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> (usize, usize, InflateStop) {
        // Most of the input as usual; its last bytes with Z_BLOCK, which returns at each
        // block boundary with `data_type` saying where it stopped (zlib.h: the unused bits
        // of the last byte read, + 64 in the last block, + 128 right after a block's end).
        // Z_BLOCK all the way would return at every block, and each return copies the
        // block's output into the window.
        let split = input.len().saturating_sub(BLOCK_TAIL);
        let first = self.call(&input[..split], output, z::Z_NO_FLUSH);
        if first.stop != InflateStop::NeedInput {
            return (first.consumed, first.produced, first.stop);
        }
        let (mut at, mut made) = (first.consumed, first.produced);
        loop {
            let r = self.call(&input[at..], &mut output[made..], z::Z_BLOCK);
            at += r.consumed;
            made += r.produced;
            let stop = match r.stop {
                InflateStop::NeedInput if r.data_type == AT_BLOCK_START => InflateStop::NeedInput,
                // After the last block's end, Z_BLOCK returns before the stream's end.
                InflateStop::NeedInput if r.data_type & AFTER_LAST_BLOCK == AFTER_LAST_BLOCK => {
                    let end = self.call(&[], &mut output[made..], z::Z_NO_FLUSH);
                    made += end.produced;
                    match end.stop {
                        InflateStop::NeedInput => InflateStop::InsideBlock,
                        other => other,
                    }
                }
                InflateStop::NeedInput => InflateStop::InsideBlock,
                // Z_BLOCK returned at a block boundary with input left: go on.
                InflateStop::Invalid if r.ret == z::Z_OK && r.consumed + r.produced > 0 => continue,
                other => other,
            };
            return (at, made, stop);
        }
    }

    /// One call of zlib-rs's inflate with `flush`.
    fn call(&mut self, input: &[u8], output: &mut [u8], flush: c_int) -> Call {
        let s = &mut *self.stream;
        set_buffers(s, input, output);
        let (avail_in, avail_out) = (s.avail_in, s.avail_out);
        // SAFETY: the stream is initialised; next_in/avail_in describe readable memory
        // inside `input`, next_out/avail_out writable memory inside `output`, both
        // borrowed for the whole call.
        let ret = unsafe { z::inflate(s, flush) };
        let consumed = (avail_in - s.avail_in) as usize;
        let produced = (avail_out - s.avail_out) as usize;
        let (left_in, left_out) = (s.avail_in, s.avail_out);
        let checksum_error = ret == z::Z_DATA_ERROR && {
            let msg = if s.msg.is_null() {
                &[][..]
            } else {
                // SAFETY: zlib-rs sets `msg` to one of its static NUL-terminated messages.
                unsafe { std::ffi::CStr::from_ptr(s.msg) }.to_bytes()
            };
            msg == b"incorrect data check" || msg == b"incorrect length check"
        };
        s.next_in = std::ptr::null();
        s.avail_in = 0;
        s.next_out = std::ptr::null_mut();
        s.avail_out = 0;
        let stop = match ret {
            z::Z_STREAM_END => InflateStop::End,
            _ if checksum_error => InflateStop::Checksum,
            z::Z_OK | z::Z_BUF_ERROR if left_out == 0 => InflateStop::OutputFull,
            z::Z_OK | z::Z_BUF_ERROR if left_in == 0 => InflateStop::NeedInput,
            // Z_DATA_ERROR, Z_NEED_DICT (a preset dictionary, which no request can carry),
            // Z_MEM_ERROR, Z_STREAM_ERROR; and Z_OK with both input and room left, which
            // only Z_BLOCK gives (a block boundary).
            _ => InflateStop::Invalid,
        };
        Call {
            consumed,
            produced,
            stop,
            ret,
            data_type: s.data_type,
        }
    }
}

/// How many of the input's last bytes [`Inflater::inflate_to_block`] decodes with
/// Z_BLOCK: enough for the end of a block and the empty stored block of a flush point.
const BLOCK_TAIL: usize = 8;

/// `data_type` after Z_BLOCK returned right after a block's end, with no unused bits and
/// the last block not seen.
const AT_BLOCK_START: c_int = 128;

/// `data_type` bits after Z_BLOCK returned right after the last block's end.
const AFTER_LAST_BLOCK: c_int = 128 | 64;

/// What one call of inflate did.
struct Call {
    consumed: usize,
    produced: usize,
    stop: InflateStop,
    ret: c_int,
    data_type: c_int,
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: the stream was initialised in `new` and is ended only here.
        unsafe { z::inflateEnd(&mut *self.stream) };
    }
}
