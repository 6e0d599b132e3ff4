//! [`Encoder`] and [`Decoder`]: the `Write` and `Read` adapters of [`Deflater`] and
//! [`Inflater`] (flate2's encoder and decoder types).

use std::io::{self, Read, Write};

use super::{io_error, Deflater, Flush, Inflater, OUT_STEP, PIECE};
use crate::error::{DataErrorKind, Error, Result};
use crate::zip::{Format, GzipHeader, Level};

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
