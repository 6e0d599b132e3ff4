//! Safe wrappers over Intel's ISA-L (igzip), statically built by `isal-sys`.
//!
//! The soft device uses ISA-L where it is the fastest engine that keeps the ABI's
//! streaming contract (see `docs/decisions/engines.md`): level-1 compression (2.2x zlib-rs
//! with a better ratio). Its decoder ([`Inflater`]) is faster than zlib-rs's but lenient
//! (it accepts streams zlib refuses, `docs/decisions/decoder.md`), so the device decodes
//! with zlib-rs; it stays here for measurements. Every `unsafe` block of the ISA-L path is
//! here. Built only with the `isal` feature (on by default).

use isal_sys::igzip_lib as ffi;

// The engines' common vocabulary lives with zlib-rs, which every build has.
pub use crate::zlibrs::{DeflateResult, InflateStop, Wrapper};

/// A heap value with every byte zero.
///
/// # Safety
/// All-zero bytes must be a valid `T` (true of ISA-L's C structures: integers, arrays and
/// null pointers).
unsafe fn boxed_zeroed<T>() -> Box<T> {
    let layout = std::alloc::Layout::new::<T>();
    // SAFETY: the layout is that of T, which is not zero-sized here (callers pass large C
    // structs); a null result is handled.
    let p = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if p.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `p` was allocated by the global allocator with T's layout and holds a valid
    // T per the caller's promise.
    unsafe { Box::from_raw(p) }
}

/// How far past the end of its input ISA-L may read: its arm64 assembly for the end of a
/// level-1 stream compares matches 8 bytes at a time up to the last input byte (so up to 7
/// bytes beyond it), with a margin.
const OVERREAD: usize = 16;

/// The smallest page size of any supported system: reading past an input's end is harmless
/// while it stays in the page of the input's last byte, which is readable.
const SMALLEST_PAGE: usize = 4096;

/// True if reading [`OVERREAD`] bytes past the end of `input` could leave the page of its
/// last byte (and fault, if the next page is not mapped: a DMA buffer filled to its end).
fn ends_near_a_page_end(input: &[u8]) -> bool {
    let Some(last) = (input.as_ptr() as usize).checked_add(input.len().wrapping_sub(1)) else {
        return true;
    };
    !input.is_empty() && last / SMALLEST_PAGE != last.saturating_add(OVERREAD) / SMALLEST_PAGE
}

/// An ISA-L level-1 compressor, reused across requests.
pub struct Deflater {
    stream: Box<ffi::isal_zstream>,
    _level_buf: Vec<u8>,
    /// A copy of an input that ends too close to the end of its page, with room after it.
    padded: Vec<u8>,
}

// SAFETY: the stream's raw pointers point into `_level_buf` (owned, heap, never moved) and,
// during a call only, into the caller's slices. Nothing is shared with another thread.
unsafe impl Send for Deflater {}

impl Deflater {
    /// A level-1 compressor.
    pub fn new() -> Deflater {
        // SAFETY: all-zero is a valid `isal_zstream` (integers and null pointers);
        // `isal_deflate_init` then sets it up.
        let mut stream: Box<ffi::isal_zstream> = unsafe { boxed_zeroed() };
        let mut level_buf = vec![0u8; ffi::ISAL_DEF_LVL1_DEFAULT as usize];
        // SAFETY: `stream` is a valid, exclusively owned stream structure.
        unsafe { ffi::isal_deflate_init(&mut *stream) };
        stream.level = 1;
        stream.level_buf = level_buf.as_mut_ptr();
        stream.level_buf_size = level_buf.len() as u32;
        Deflater {
            stream,
            _level_buf: level_buf,
            padded: Vec::new(),
        }
    }

    /// Compresses all of `input` into `output` in one call. `finish` ends the stream
    /// (header and trailer for zlib/gzip); otherwise the output ends with a sync flush.
    pub fn compress(
        &mut self,
        wrapper: Wrapper,
        finish: bool,
        input: &[u8],
        output: &mut [u8],
    ) -> DeflateResult {
        if !ends_near_a_page_end(input) {
            return self.compress_in_place(wrapper, finish, input, output);
        }
        // ISA-L would read past the end into a page that may not be mapped: work on a
        // copy that has room after it (about 1 input in 250, when the input's end falls in
        // the last 16 bytes of a page).
        let mut padded = std::mem::take(&mut self.padded);
        padded.clear();
        padded.extend_from_slice(input);
        padded.resize(input.len() + OVERREAD, 0);
        let r = self.compress_in_place(wrapper, finish, &padded[..input.len()], output);
        self.padded = padded;
        r
    }

    /// [`Deflater::compress`] on an input ISA-L may read [`OVERREAD`] bytes beyond.
    fn compress_in_place(
        &mut self,
        wrapper: Wrapper,
        finish: bool,
        input: &[u8],
        output: &mut [u8],
    ) -> DeflateResult {
        let (Ok(n_in), Ok(n_out)) = (u32::try_from(input.len()), u32::try_from(output.len()))
        else {
            return DeflateResult::OutputFull;
        };
        let s = &mut *self.stream;
        // SAFETY: `s` is an initialised stream; reset keeps level and level buffer.
        unsafe { ffi::isal_deflate_reset(s) };
        s.gzip_flag = match wrapper {
            Wrapper::Raw => ffi::IGZIP_DEFLATE,
            Wrapper::Zlib => ffi::IGZIP_ZLIB,
            Wrapper::Gzip => ffi::IGZIP_GZIP,
        } as u16;
        s.end_of_stream = finish as u16;
        s.flush = if finish {
            ffi::NO_FLUSH
        } else {
            ffi::SYNC_FLUSH
        } as u16;
        // ISA-L never writes through next_in; the cast only satisfies its C signature.
        s.next_in = input.as_ptr() as *mut u8;
        s.avail_in = n_in;
        s.next_out = output.as_mut_ptr();
        s.avail_out = n_out;
        // SAFETY: next_in/next_out describe live slices of the given lengths, borrowed for
        // the duration of the call (ISA-L's reads up to OVERREAD bytes past next_in's end
        // stay readable: `compress` copies inputs for which they might not); the stream and
        // level buffer are valid.
        let rc = unsafe { ffi::isal_deflate(s) };
        let (avail_in, avail_out) = (s.avail_in as usize, s.avail_out as usize);
        // Leave no dangling pointers in the kept structure.
        s.next_in = std::ptr::null_mut();
        s.next_out = std::ptr::null_mut();
        let complete = if finish {
            s.internal_state.state == ffi::isal_zstate_state_ZSTATE_END
        } else {
            // A sync flush is complete only if it left output space unused.
            avail_in == 0 && avail_out > 0
        };
        if rc != ffi::COMP_OK as i32 || !complete {
            return DeflateResult::OutputFull;
        }
        DeflateResult::Done(input.len() - avail_in, output.len() - avail_out)
    }
}

impl Default for Deflater {
    fn default() -> Self {
        Deflater::new()
    }
}

/// A resumable ISA-L decoder for one stream. Lenient: it accepts Huffman codes that do not
/// fill their code space and zlib window fields above 7, which zlib refuses; the device
/// decodes with [`crate::zlibrs::Inflater`] instead.
pub struct Inflater {
    state: Box<ffi::inflate_state>,
}

// SAFETY: the state holds pointers only into the caller's slices during a call (cleared
// after it); it is owned exclusively.
unsafe impl Send for Inflater {}

impl Inflater {
    /// A decoder for a new stream with `wrapper`.
    pub fn new(wrapper: Wrapper) -> Inflater {
        // SAFETY: all-zero is a valid `inflate_state`; `isal_inflate_init` sets it up.
        let mut state: Box<ffi::inflate_state> = unsafe { boxed_zeroed() };
        // SAFETY: a valid, exclusively owned state.
        unsafe { ffi::isal_inflate_init(&mut *state) };
        state.crc_flag = match wrapper {
            Wrapper::Raw => ffi::ISAL_DEFLATE,
            Wrapper::Zlib => ffi::ISAL_ZLIB,
            Wrapper::Gzip => ffi::ISAL_GZIP,
        };
        Inflater { state }
    }

    /// Decodes from `input` into `output`; returns (consumed, produced, why it stopped).
    pub fn inflate(&mut self, input: &[u8], output: &mut [u8]) -> (usize, usize, InflateStop) {
        let (Ok(n_in), Ok(n_out)) = (u32::try_from(input.len()), u32::try_from(output.len()))
        else {
            return (0, 0, InflateStop::Invalid);
        };
        let s = &mut *self.state;
        s.next_in = input.as_ptr() as *mut u8;
        s.avail_in = n_in;
        s.next_out = output.as_mut_ptr();
        s.avail_out = n_out;
        // SAFETY: next_in/next_out describe live slices of the given lengths for the
        // duration of the call; ISA-L does not write through next_in.
        let rc = unsafe { ffi::isal_inflate(s) };
        let (avail_in, avail_out) = (s.avail_in as usize, s.avail_out as usize);
        s.next_in = std::ptr::null_mut();
        s.next_out = std::ptr::null_mut();
        let mut consumed = input.len() - avail_in;
        let produced = output.len() - avail_out;
        if s.block_state == ffi::isal_block_state_ISAL_BLOCK_FINISH {
            // ISA-L reads ahead into a 64-bit bit buffer: whole bytes still there at the end
            // of the stream belong to whatever follows it (trailing data, the next member).
            let ahead = (s.read_in_length.max(0) / 8) as usize;
            consumed -= ahead.min(consumed);
            s.read_in_length = 0;
            s.read_in = 0;
        }
        let stop = if rc == ffi::ISAL_INCORRECT_CHECKSUM {
            InflateStop::Checksum
        } else if rc < 0 {
            InflateStop::Invalid
        } else if s.block_state == ffi::isal_block_state_ISAL_BLOCK_FINISH {
            InflateStop::End
        } else if avail_out == 0 {
            InflateStop::OutputFull
        } else if avail_in == 0 {
            InflateStop::NeedInput
        } else {
            InflateStop::Invalid
        };
        (consumed, produced, stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two pages of which the second cannot be read: input that ends at the first page's
    /// end has nothing readable after it.
    struct Guarded(*mut u8);

    impl Guarded {
        const PAGE: usize = 4096;
        fn new() -> Guarded {
            // SAFETY: a fresh private anonymous mapping; the result is checked.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    2 * Self::PAGE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            // SAFETY: the second page of the mapping just made.
            let rc =
                unsafe { libc::mprotect(p.cast::<u8>().add(Self::PAGE).cast(), Self::PAGE, 0) };
            assert_eq!(rc, 0);
            Guarded(p.cast())
        }
        /// `data` copied so that it ends where the readable page ends.
        fn at_end(&mut self, data: &[u8]) -> &[u8] {
            assert!(data.len() <= Self::PAGE);
            // SAFETY: the readable page, which this value owns, holds the whole range.
            unsafe {
                let start = self.0.add(Self::PAGE - data.len());
                std::ptr::copy_nonoverlapping(data.as_ptr(), start, data.len());
                std::slice::from_raw_parts(start, data.len())
            }
        }
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, no longer borrowed.
            unsafe { libc::munmap(self.0.cast(), 2 * Self::PAGE) };
        }
    }

    #[test]
    fn input_that_ends_at_unreadable_memory_is_read_only_up_to_its_end() {
        // ISA-L's arm64 code for the end of a level-1 stream compared matches 8 and 16
        // bytes at a time past the end of the input, and faulted when the input ended just
        // before an unmapped page (a DMA buffer filled to its last bytes).
        let mut g = Guarded::new();
        let mut d = Deflater::new();
        let mut out = vec![0u8; 8192];
        let text: Vec<u8> = b"abcabcabd".iter().copied().cycle().take(4096).collect();
        for len in (1..64).chain([100, 255, 258, 259, 300, 1000, 4000, 4096]) {
            for finish in [true, false] {
                let input = g.at_end(&text[..len]);
                let DeflateResult::Done(c, p) = d.compress(Wrapper::Raw, finish, input, &mut out)
                else {
                    panic!("{len} bytes: output full")
                };
                assert_eq!(c, len);
                let mut stream = out[..p].to_vec();
                if !finish {
                    // After the sync flush: a final, empty block with fixed codes.
                    stream.extend_from_slice(&[0x03, 0x00]);
                }
                let back = miniz_oxide::inflate::decompress_to_vec(&stream).unwrap();
                assert_eq!(back, &text[..len], "{len} bytes, finish {finish}");
            }
        }
    }

    #[test]
    fn level1_pieces_join_into_one_stream_and_inflate_resumes() {
        let data: Vec<u8> = (0..300_000u32)
            .map(|i| (i / 3 % 256) as u8 ^ (i % 7) as u8)
            .collect();
        let mut d = Deflater::new();
        let mut out = vec![0u8; 400_000];
        let DeflateResult::Done(c1, p1) =
            d.compress(Wrapper::Raw, false, &data[..100_000], &mut out)
        else {
            panic!("first piece")
        };
        assert_eq!(c1, 100_000);
        let DeflateResult::Done(_, p2) =
            d.compress(Wrapper::Raw, true, &data[100_000..], &mut out[p1..])
        else {
            panic!("last piece")
        };
        let stream = &out[..p1 + p2];
        let back = miniz_oxide::inflate::decompress_to_vec(stream).unwrap();
        assert_eq!(back, data);
        // Inflate with a tiny output buffer and tiny input steps.
        let mut inf = Inflater::new(Wrapper::Raw);
        let (mut pos, mut got, mut buf) = (0, Vec::new(), vec![0u8; 1000]);
        loop {
            let end = (pos + 777).min(stream.len());
            let (c, p, stop) = inf.inflate(&stream[pos..end], &mut buf);
            pos += c;
            got.extend_from_slice(&buf[..p]);
            match stop {
                InflateStop::End => break,
                InflateStop::OutputFull | InflateStop::NeedInput => {}
                s => panic!("{s:?}"),
            }
        }
        assert_eq!(got, data);
        assert_eq!(pos, stream.len());
    }

    #[test]
    fn gzip_output_is_standard_and_a_bad_crc_is_a_checksum_error() {
        let data = b"warpdrive ".repeat(5000);
        let mut out = vec![0u8; 60_000];
        let DeflateResult::Done(_, p) =
            Deflater::new().compress(Wrapper::Gzip, true, &data, &mut out)
        else {
            panic!("gzip")
        };
        let mut gz = out[..p].to_vec();
        let mut buf = vec![0u8; data.len() + 10];
        let (c, n, stop) = Inflater::new(Wrapper::Gzip).inflate(&gz, &mut buf);
        assert_eq!((c, n, stop), (gz.len(), data.len(), InflateStop::End));
        assert_eq!(&buf[..n], &data[..]);
        let len = gz.len();
        gz[len - 8] ^= 1;
        let (_, _, stop) = Inflater::new(Wrapper::Gzip).inflate(&gz, &mut buf);
        assert_eq!(stop, InflateStop::Checksum);
        let (_, _, stop) =
            Inflater::new(Wrapper::Gzip).inflate(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], &mut buf);
        assert_eq!(stop, InflateStop::Invalid);
    }

    #[test]
    fn the_end_of_a_stream_is_exact_whatever_follows_and_however_input_arrives() {
        let data = b"abcabcabc".repeat(1000);
        for w in [Wrapper::Raw, Wrapper::Zlib, Wrapper::Gzip] {
            let mut out = vec![0u8; 20_000];
            let DeflateResult::Done(_, p) = Deflater::new().compress(w, true, &data, &mut out)
            else {
                panic!("compress")
            };
            for extra in [0usize, 1, 3, 4, 9, 17] {
                for step in [usize::MAX, 7, 1] {
                    let mut s = out[..p].to_vec();
                    s.extend(std::iter::repeat_n(0x5a, extra));
                    let mut inf = Inflater::new(w);
                    let (mut pos, mut got, mut buf) = (0usize, Vec::new(), vec![0u8; 20_000]);
                    loop {
                        let end = pos.saturating_add(step).min(s.len());
                        let (c, n, stop) = inf.inflate(&s[pos..end], &mut buf);
                        pos += c;
                        got.extend_from_slice(&buf[..n]);
                        match stop {
                            InflateStop::End => break,
                            InflateStop::NeedInput if end < s.len() => {}
                            st => panic!("{w:?} extra {extra} step {step}: {st:?}"),
                        }
                    }
                    assert_eq!(pos, p, "{w:?} extra {extra} step {step}");
                    assert_eq!(got, data);
                }
            }
        }
    }

    #[test]
    fn a_too_small_output_is_reported() {
        let data: Vec<u8> = (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut out = vec![0u8; 1000];
        assert_eq!(
            Deflater::new().compress(Wrapper::Zlib, true, &data, &mut out),
            DeflateResult::OutputFull
        );
    }
}
