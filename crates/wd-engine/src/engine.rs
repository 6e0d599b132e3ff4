//! One queue's engine state and the choice of engine per level and direction: compressor
//! contexts kept for reuse, the zlib-rs decoders and the stream a resumed decompression
//! continues. The per-engine code is in `zlibrs.rs`, `isal.rs` and libdeflate's crate.

#[cfg(feature = "isal")]
use crate::isal;
use crate::joinable;
use crate::zlibrs;
use crate::zlibrs::{DeflateResult, InflateStop, Inflater, Wrapper};
use crate::Checksum;

/// The lowest level whose raw pieces come from libdeflate, made joinable: from level 3 on
/// libdeflate with the walk is at least as fast as zlib-rs and smaller; at level 2 zlib-rs is
/// 1.3x faster (`docs/decisions/engines.md`).
const FIRST_JOINABLE_LEVEL: u32 = 3;

/// libdeflate's level for `level` (2..=9, and 1 in a build without ISA-L): the same number,
/// except that the default level 6 runs libdeflate's 5, which already writes within 0.5% of
/// zlib's level 6, at 1.15x the speed of libdeflate's 6 (`docs/decisions/engines.md`).
fn libdeflate_level(level: u32) -> i32 {
    match level {
        6 => 5,
        l => l as i32,
    }
}

/// The running checksum a decompression stream reports (only the one it needs).
enum RunningSum {
    None,
    /// The one the decoder keeps for the wrapper's own trailer (gzip: CRC-32, zlib:
    /// Adler-32): read from it instead of computing it twice.
    Decoder,
    Crc(crc32fast::Hasher),
    Adler(simd_adler32::Adler32),
}

impl RunningSum {
    fn new(w: Wrapper, sum: Checksum) -> RunningSum {
        match (sum, w) {
            (Checksum::Crc32, Wrapper::Gzip) | (Checksum::Adler32, Wrapper::Zlib) => {
                RunningSum::Decoder
            }
            (Checksum::Crc32, _) => RunningSum::Crc(Default::default()),
            (Checksum::Adler32, _) => RunningSum::Adler(Default::default()),
            (Checksum::None, _) => RunningSum::None,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            RunningSum::None | RunningSum::Decoder => {}
            RunningSum::Crc(h) => h.update(data),
            RunningSum::Adler(h) => h.write(data),
        }
    }

    /// The checksum so far; `decoder` is the decoder's own.
    fn value(&self, decoder: u32) -> u32 {
        match self {
            RunningSum::None => 0,
            RunningSum::Decoder => decoder,
            RunningSum::Crc(h) => h.clone().finalize(),
            RunningSum::Adler(h) => h.finish(),
        }
    }
}

/// The stream a resumed decompression continues.
struct Decoder {
    kind: Wrapper,
    sum: RunningSum,
}

/// Compressor contexts kept for reuse, by key, the most recently used last.
struct Contexts<K, C> {
    kept: Vec<(K, C)>,
}

/// How many compressor contexts of each kind to keep (each holds a few hundred KiB).
const MAX_CONTEXTS: usize = 4;

impl<K: PartialEq, C> Contexts<K, C> {
    fn new() -> Self {
        Contexts { kept: Vec::new() }
    }

    fn get(&mut self, key: K, make: impl FnOnce() -> C) -> &mut C {
        if let Some(i) = self.kept.iter().position(|(k, _)| *k == key) {
            let entry = self.kept.remove(i);
            self.kept.push(entry);
        } else {
            if self.kept.len() == MAX_CONTEXTS {
                self.kept.remove(0);
            }
            self.kept.push((key, make()));
        }
        &mut self.kept.last_mut().expect("just pushed").1
    }
}

/// What one decompression call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Output bytes produced.
    pub produced: usize,
    /// Why it stopped.
    pub stop: InflateStop,
    /// The checksum asked for, over everything the stream produced so far.
    pub checksum: u32,
}

/// A resumed decompression found no stream to continue: none was started, the last one is
/// over, or it has another wrapper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoStream;

/// One queue's engine state: compressor contexts kept for reuse and the decoder kept
/// between resumed decompressions. Everything is made on first use.
pub struct Engine {
    /// zlib-rs, for pieces that end in a sync flush: by wrapper and level.
    pieces: Contexts<(Wrapper, u32), zlibrs::Deflater>,
    /// libdeflate, for whole streams: by level (the wrapper is chosen per call).
    whole: Contexts<u32, libdeflater::Compressor>,
    /// ISA-L, for level 1.
    #[cfg(feature = "isal")]
    fast: Option<isal::Deflater>,
    /// zlib-rs decoders, kept for reuse (a reset is cheaper than a new one): raw, zlib, gzip.
    inflaters: [Option<Inflater>; 3],
    decoder: Option<Decoder>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    /// An engine with nothing made yet.
    pub fn new() -> Engine {
        Engine {
            pieces: Contexts::new(),
            whole: Contexts::new(),
            #[cfg(feature = "isal")]
            fast: None,
            inflaters: [None, None, None],
            decoder: None,
        }
    }

    /// Compresses all of `input` at `level` (1..=9) into `output`: a whole stream of
    /// wrapper `w`, or with `partial` a piece that ends in a sync flush instead of the
    /// stream's end (raw deflate: the caller joins pieces into one stream).
    pub fn compress(
        &mut self,
        w: Wrapper,
        level: u32,
        partial: bool,
        input: &[u8],
        output: &mut [u8],
    ) -> DeflateResult {
        #[cfg(feature = "isal")]
        if level == 1 {
            let d = self.fast.get_or_insert_with(isal::Deflater::new);
            return d.compress(w, !partial, input, output);
        }
        if partial && w == Wrapper::Raw && level >= FIRST_JOINABLE_LEVEL {
            if let Some(done) = self.compress_joinable(level, input, output) {
                return done;
            }
        }
        if partial {
            // zlib-rs writes pieces that do not end the stream.
            let d = self
                .pieces
                .get((w, level), || zlibrs::Deflater::new(w, level));
            d.compress(input, output, false)
        } else {
            self.compress_whole(w, level, input, output)
        }
    }

    /// A raw piece at `level` (3..=9) from libdeflate: its whole stream, with room kept for
    /// what [`joinable::make_joinable`] appends, made into a piece other pieces can follow.
    /// `None` where libdeflate's stream did not fit or the walk refused it (neither should
    /// happen): zlib-rs then writes the piece.
    fn compress_joinable(
        &mut self,
        level: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> Option<DeflateResult> {
        let room = output.len().checked_sub(joinable::APPENDED_MAX)?;
        let DeflateResult::Done(_, n) =
            self.compress_whole(Wrapper::Raw, level, input, &mut output[..room])
        else {
            return None;
        };
        let n = joinable::make_joinable(output, n)?;
        Some(DeflateResult::Done(input.len(), n))
    }

    /// libdeflate compression of a whole stream (or the last piece of one: a raw deflate
    /// stream, which ends with its final block).
    fn compress_whole(
        &mut self,
        w: Wrapper,
        level: u32,
        input: &[u8],
        output: &mut [u8],
    ) -> DeflateResult {
        // Levels reach here as 1..=9 (1 only without ISA-L), all of which libdeflate has.
        let c = self.whole.get(level, || {
            libdeflater::Compressor::new(
                libdeflater::CompressionLvl::new(libdeflate_level(level)).unwrap_or_default(),
            )
        });
        let written = match w {
            Wrapper::Gzip => c.gzip_compress(input, output),
            Wrapper::Zlib => c.zlib_compress(input, output),
            Wrapper::Raw => c.deflate_compress(input, output),
        };
        // Its only error is an output too small for the whole stream.
        written.map_or(DeflateResult::OutputFull, |p| {
            DeflateResult::Done(input.len(), p)
        })
    }

    /// Decompresses a stream of wrapper `w` from `input` into `output`, reporting checksum
    /// `sum` of the output. Without `resume` a new stream starts; with it the last one
    /// continues where it stopped (it stopped for input or output room), which must have
    /// the same wrapper. Once a stream has ended, or was found bad, it cannot be resumed.
    /// With `to_block` the input must end where a block starts
    /// ([`Inflater::inflate_to_block`]): input that runs out anywhere else in the stream
    /// stops it with [`InflateStop::InsideBlock`].
    pub fn decompress(
        &mut self,
        w: Wrapper,
        sum: Checksum,
        resume: bool,
        to_block: bool,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<Decoded, NoStream> {
        if resume {
            match &self.decoder {
                Some(d) if d.kind == w => {}
                _ => return Err(NoStream),
            }
        } else {
            self.decoder = Some(Decoder {
                kind: w,
                sum: RunningSum::new(w, sum),
            });
        }
        let slot = &mut self.inflaters[w as usize];
        let inflater = match slot {
            Some(i) if !resume => {
                i.reset();
                i
            }
            Some(i) => i,
            None => slot.insert(Inflater::new(w)),
        };
        let (consumed, produced, stop) = if to_block {
            inflater.inflate_to_block(input, output)
        } else {
            inflater.inflate(input, output)
        };
        let d = self.decoder.as_mut().expect("set above");
        d.sum.update(&output[..produced]);
        let checksum = d.sum.value(inflater.checksum());
        if !matches!(stop, InflateStop::OutputFull | InflateStop::NeedInput) {
            // The stream is over, one way or another: resuming is refused from now on.
            self.decoder = None;
        }
        Ok(Decoded {
            consumed,
            produced,
            stop,
            checksum,
        })
    }
}
