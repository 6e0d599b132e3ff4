//! Whole-stream compression: round trips, split boundaries, and interoperability with an
//! independent implementation (miniz_oxide) and the `gzip` program.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use wd_core::zip::{
    compress, compress_stream, decompress, decompress_stream, default_opener, Format,
};

const FORMATS: [Format; 3] = [Format::Deflate, Format::Zlib, Format::Gzip];

/// Mixed data: runs, text-like bytes and noise, so pieces compress differently.
fn mixed(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let run = (x % 300) as usize + 1;
        match x % 3 {
            0 => out.extend(std::iter::repeat_n((x >> 8) as u8, run)),
            1 => out.extend((0..run).map(|i| b"the quick brown fox "[i % 20])),
            _ => out.extend((0..run).map(|i| (x >> (i % 56)) as u8)),
        }
    }
    out.truncate(len);
    out
}

/// Compresses with small pieces so that split boundaries are cheap to test.
fn compress_pieces(data: &[u8], format: Format, level: u32, chunk: usize) -> Vec<u8> {
    let opts = common::piece_options(format, level, chunk);
    let mut out = Vec::new();
    let mut calls = 0;
    let st = compress_stream(
        &mut &data[..],
        &mut out,
        &opts,
        &default_opener,
        &mut |i, _| {
            calls += 1;
            assert!(i <= data.len() as u64);
        },
    )
    .unwrap();
    assert_eq!(st.bytes_in, data.len() as u64);
    assert_eq!(st.bytes_out, out.len() as u64);
    assert_eq!(calls as u64, data.len().div_ceil(chunk).max(1) as u64);
    out
}

/// Decodes with the independent reference implementation.
fn reference_decode(comp: &[u8], format: Format) -> Vec<u8> {
    use miniz_oxide::inflate::{decompress_to_vec, decompress_to_vec_zlib};
    match format {
        Format::Deflate => decompress_to_vec(comp).unwrap(),
        Format::Zlib => decompress_to_vec_zlib(comp).unwrap(),
        Format::Gzip => {
            // RFC 1952 with no optional fields but the piece index's extra field (what we
            // write), then raw deflate and trailer.
            assert_eq!(&comp[..3], &[0x1f, 0x8b, 8]);
            assert_eq!(comp[3] & !0x04, 0, "only FEXTRA may be set");
            let start = match comp[3] {
                0 => 10,
                _ => 12 + usize::from(u16::from_le_bytes([comp[10], comp[11]])),
            };
            let body = &comp[start..comp.len() - 8];
            let out = decompress_to_vec(body).unwrap();
            let t = &comp[comp.len() - 8..];
            assert_eq!(
                u32::from_le_bytes(t[..4].try_into().unwrap()),
                crc32fast::hash(&out)
            );
            assert_eq!(
                u32::from_le_bytes(t[4..].try_into().unwrap()),
                out.len() as u32
            );
            out
        }
    }
}

fn gzip_program(args: &[&str], input: &[u8]) -> (bool, Vec<u8>) {
    program("gzip", args, input)
}

/// Whether `prog args` succeeded on `input` as its stdin, and what it wrote; panics if it is
/// not installed (tests/run installs gzip, pigz and igzip).
fn program(prog: &str, args: &[&str], input: &[u8]) -> (bool, Vec<u8>) {
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("the {prog} program must be installed: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    (out.status.success(), out.stdout)
}

#[test]
fn output_with_a_piece_index_is_one_plain_member_for_other_readers() {
    let data = mixed(3 << 20, 11);
    let z = compress(&data, Format::Gzip, 6).unwrap();
    assert!(wd_core::pieces::read_index(&z).is_some());
    for prog in ["gzip", "pigz", "igzip"] {
        let (ok, out) = program(prog, &["-dc"], &z);
        assert!(ok && out == data, "{prog} -dc");
    }
    assert!(gzip_program(&["-t"], &z).0, "gzip -t");
    // One member: the trailer states the whole size (what gzip -l shows), and the
    // reference reads header (with the extra field), body and trailer with nothing after.
    let n = z.len();
    assert_eq!(
        u32::from_le_bytes(z[n - 4..].try_into().unwrap()) as usize,
        data.len()
    );
    assert_eq!(reference_decode(&z, Format::Gzip), data);
}

#[test]
fn empty_and_one_byte_inputs_round_trip_in_every_format() {
    for f in FORMATS {
        for data in [&b""[..], &b"x"[..]] {
            for level in [1, 6, 9] {
                let c = compress(data, f, level).unwrap();
                assert_eq!(decompress(&c, f).unwrap(), data);
                assert_eq!(reference_decode(&c, f), data);
            }
        }
    }
}

#[test]
fn sizes_around_the_split_boundaries_round_trip() {
    let chunk = 4096;
    for f in FORMATS {
        for n in [
            chunk - 1,
            chunk,
            chunk + 1,
            2 * chunk - 1,
            2 * chunk,
            2 * chunk + 1,
            7 * chunk + 5,
        ] {
            let data = mixed(n, n as u64);
            let c = compress_pieces(&data, f, 6, chunk);
            assert_eq!(decompress(&c, f).unwrap(), data, "{f:?} {n}");
            assert_eq!(reference_decode(&c, f), data, "{f:?} {n}");
        }
    }
}

#[test]
fn a_large_input_becomes_one_stream_that_gzip_and_the_reference_read() {
    // 9 MiB over 1 MiB pieces on two queues.
    let data = mixed(9 << 20, 42);
    let gz = compress(&data, Format::Gzip, 1).unwrap();
    assert!(gz.len() < data.len());
    // ONE member: the reference parser reads header + body + trailer with nothing after.
    assert_eq!(reference_decode(&gz, Format::Gzip), data);
    let (ok, out) = gzip_program(&["-dc"], &gz);
    assert!(ok);
    assert_eq!(out, data);
    let (ok, _) = gzip_program(&["-t"], &gz);
    assert!(ok);
    let z = compress(&data, Format::Zlib, 6).unwrap();
    assert_eq!(reference_decode(&z, Format::Zlib), data);
}

#[test]
fn we_read_what_the_gzip_program_and_the_reference_write() {
    let data = mixed(3 << 20, 7);
    for level in ["-1", "-6", "-9"] {
        let (ok, gz) = gzip_program(&["-c", level], &data);
        assert!(ok);
        assert_eq!(decompress(&gz, Format::Gzip).unwrap(), data);
    }
    // gzip -c on a named file stores the name (FNAME): header fields must be skipped.
    let dir = std::env::temp_dir().join(format!("wd-zip-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("named.txt");
    std::fs::write(&p, &data[..1000]).unwrap();
    let out = Command::new("gzip").arg("-c").arg(&p).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        decompress(&out.stdout, Format::Gzip).unwrap(),
        &data[..1000]
    );
    std::fs::remove_dir_all(&dir).unwrap();
    for level in [1u8, 6, 10] {
        let raw = miniz_oxide::deflate::compress_to_vec(&data, level);
        assert_eq!(decompress(&raw, Format::Deflate).unwrap(), data);
        let z = miniz_oxide::deflate::compress_to_vec_zlib(&data, level);
        assert_eq!(decompress(&z, Format::Zlib).unwrap(), data);
    }
}

#[test]
fn multi_member_gzip_decodes_to_the_concatenation() {
    let a = mixed(100_000, 1);
    let b = mixed(5_000_000, 2);
    let mut gz = compress(&a, Format::Gzip, 6).unwrap();
    gz.extend(gzip_program(&["-c"], &b).1);
    gz.extend(compress(b"", Format::Gzip, 6).unwrap());
    gz.extend(compress(&a, Format::Gzip, 1).unwrap());
    let want = [a.clone(), b, a].concat();
    assert_eq!(decompress(&gz, Format::Gzip).unwrap(), want);
    // Zero padding after the last member is accepted, as gzip(1) does.
    gz.extend([0u8; 100]);
    assert_eq!(decompress(&gz, Format::Gzip).unwrap(), want);
}

#[test]
fn corrupt_truncated_and_trailing_garbage_inputs_are_bad_data() {
    let data = mixed(2 << 20, 3);
    for f in FORMATS {
        let c = compress(&data, f, 6).unwrap();
        for cut in [1, c.len() / 2, c.len() - 1] {
            let e = decompress(&c[..cut], f).unwrap_err();
            assert!(
                matches!(e, wd_core::Error::BadData(_)),
                "{f:?} cut {cut}: {e}"
            );
        }
        let mut junk = c.clone();
        junk.extend_from_slice(b"junk");
        assert!(matches!(
            decompress(&junk, f),
            Err(wd_core::Error::BadData(_))
        ));
        if f != Format::Deflate {
            // Flip a bit in the trailer's checksum.
            let mut bad = c.clone();
            let n = bad.len();
            bad[n - if f == Format::Gzip { 8 } else { 1 }] ^= 1;
            let e = decompress(&bad, f).unwrap_err();
            assert!(
                matches!(e, wd_core::Error::BadData(ref m) if m.contains("checksum")),
                "{e}"
            );
        }
    }
    assert!(matches!(
        decompress(b"", Format::Gzip),
        Err(wd_core::Error::BadData(_))
    ));
}

#[test]
fn decompress_stream_reports_progress_and_bounded_pieces() {
    let data = mixed(10 << 20, 9);
    let gz = compress(&data, Format::Gzip, 6).unwrap();
    let mut out = Vec::new();
    let mut last = (0, 0);
    let st = decompress_stream(
        &mut &gz[..],
        &mut out,
        Format::Gzip,
        &default_opener,
        &mut |i, o| {
            assert!(i >= last.0 && o >= last.1);
            last = (i, o);
        },
    )
    .unwrap();
    assert_eq!(out, data);
    assert_eq!(st.bytes_in, gz.len() as u64);
    assert_eq!(st.bytes_out, data.len() as u64);
    assert!(st.requests >= 3, "10 MiB out through 4 MiB buffers");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_data_round_trips(
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3),
            proptest::collection::vec(any::<u8>(), 0..40_000),
            proptest::collection::vec(0u8..4, 0..40_000),
        ],
        f in prop::sample::select(FORMATS.to_vec()),
        level in 1u32..=9,
        chunk in prop::sample::select(vec![4096usize, 8192, 65536]),
    ) {
        let c = compress_pieces(&data, f, level, chunk);
        prop_assert_eq!(&decompress(&c, f).unwrap(), &data);
        prop_assert_eq!(&reference_decode(&c, f), &data);
    }
}

#[test]
fn a_stalled_queue_holds_reading_back_instead_of_filling_memory() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use wd_core::backend::soft::{SoftBackend, SoftControl, SoftOptions};
    use wd_core::dma::Domain;
    use wd_core::{Direction, Queue};

    // The first queue's device starts paused, so its first piece is not done until it is
    // resumed; the second queue could meanwhile take every other piece of the input.
    let domain = Domain::soft();
    let controls: Mutex<Vec<SoftControl>> = Mutex::new(Vec::new());
    let open = |dir: Direction| {
        let mut c = controls.lock().unwrap();
        let opts = SoftOptions {
            start_paused: c.is_empty(),
            ..SoftOptions::default()
        };
        let b = SoftBackend::start(Arc::clone(&domain), dir, opts)?;
        c.push(b.control());
        Ok(Queue::new(Box::new(b), dir))
    };
    /// Counts what the job read.
    struct Counting<'a>(&'a [u8], &'a AtomicUsize);
    impl std::io::Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.fetch_add(n, Ordering::SeqCst);
            Ok(n)
        }
    }
    let chunk = 4096;
    let data = mixed(300 * chunk, 11);
    let read = AtomicUsize::new(0);
    let mut read_before_first_piece = None;
    let mut out = Vec::new();
    let opts = common::piece_options(Format::Gzip, 1, chunk);
    std::thread::scope(|s| {
        s.spawn(|| {
            // Long enough for the second queue to compress everything else many times
            // over; how long it is does not matter to the assertion below.
            std::thread::sleep(std::time::Duration::from_millis(300));
            controls.lock().unwrap()[0].resume();
        });
        compress_stream(
            &mut Counting(&data, &read),
            &mut out,
            &opts,
            &open,
            &mut |_, _| {
                read_before_first_piece.get_or_insert(read.load(Ordering::SeqCst));
            },
        )
        .unwrap();
    });
    assert_eq!(reference_decode(&out, Format::Gzip), data);
    // 2 queues x 2 in flight x 2 (the window), plus the look-ahead piece.
    let bound = (2 * 2 * 2 + 1) * chunk;
    let got = read_before_first_piece.unwrap();
    assert!(
        got <= bound,
        "read {got} bytes before the first piece was written (bound {bound})"
    );
}
