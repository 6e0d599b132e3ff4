//! The codec on the soft device: streams every decoder reads, header fields, errors, the
//! `Read`/`Write` adapters.

use std::io::{self, Read, Write};

use super::*;
use crate::zip::{gzip_header, read_gzip_header, Format, GzipHeader};

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
