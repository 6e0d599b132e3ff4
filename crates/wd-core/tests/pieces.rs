//! The piece index of WarpDrive's own gzip streams: written by `zip::compress`, read by
//! `zip::decompress` to decode the pieces on several queues (other readers: tests/zip.rs).

use wd_core::pieces::{self, read_index, PieceTable, DATA_OFFSET, SUBFIELD_ID};
use wd_core::zip::{self, default_opener, Format};

fn text(len: usize) -> Vec<u8> {
    let words: Vec<String> = (0..997u32)
        .map(|i| format!("w{}x{} ", i * 7919 % 1000, i % 13))
        .collect();
    let mut v = Vec::with_capacity(len + 16);
    let mut i = 0u64;
    while v.len() < len {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.extend_from_slice(words[(i >> 33) as usize % words.len()].as_bytes());
    }
    v.truncate(len);
    v
}

fn indexed(len: usize) -> (Vec<u8>, Vec<u8>, PieceTable) {
    let data = text(len);
    let z = zip::compress(&data, Format::Gzip, 6).unwrap();
    let t = read_index(&z).expect("compress writes a piece index");
    (data, z, t)
}

#[test]
fn compress_writes_an_index_that_describes_its_pieces() {
    let (data, z, t) = indexed((5 << 20) + 12_345);
    // FEXTRA with the WX subfield, right after the fixed header.
    assert_eq!(z[3] & 0x04, 0x04);
    assert_eq!(z[12..14], SUBFIELD_ID);
    assert_eq!(t.pieces.len(), 6);
    assert_eq!(t.total, data.len() as u64);
    assert!(t.pieces[..5].iter().all(|&(_, u)| u == 1 << 20));
    assert_eq!(t.pieces[5].1, 12_345);
    assert_eq!(t.body, DATA_OFFSET + 5 + 8 * 6);
    let back = pieces::decompress_pieces(&z, &t, None, 2, &default_opener).unwrap();
    assert!(back.as_deref() == Some(&data[..]));
    assert!(zip::decompress(&z, Format::Gzip).unwrap() == data);
}

#[test]
fn small_inputs_and_other_formats_carry_no_index() {
    for (len, format) in [
        (1 << 20, Format::Gzip),
        (100, Format::Gzip),
        (3 << 20, Format::Zlib),
        (3 << 20, Format::Deflate),
    ] {
        let z = zip::compress(&text(len), format, 1).unwrap();
        assert!(read_index(&z).is_none(), "{len} {format:?}");
        if format == Format::Gzip {
            assert_eq!(z[3] & 0x04, 0, "{len}");
        }
    }
}

#[test]
fn an_index_that_lies_is_not_followed_and_the_stream_still_decodes() {
    let (data, z, t) = indexed((4 << 20) + 1000);
    let entry = |i: usize| DATA_OFFSET + 5 + 8 * i;
    let put = |z: &mut Vec<u8>, at: usize, v: u32| z[at..at + 4].copy_from_slice(&v.to_le_bytes());

    // A boundary moved by three bytes: the sums still match the member.
    let mut moved = z.clone();
    put(&mut moved, entry(0), t.pieces[0].0 + 3);
    put(&mut moved, entry(1), t.pieces[1].0 - 3);
    let tm = read_index(&moved).expect("sizes still add up");
    assert_eq!(
        pieces::decompress_pieces(&moved, &tm, None, 2, &default_opener).unwrap(),
        None
    );
    assert!(zip::decompress(&moved, Format::Gzip).unwrap() == data);

    // Uncompressed sizes swapped between the first and the last (shorter) piece.
    let mut swapped = z.clone();
    let last = t.pieces.len() - 1;
    put(&mut swapped, entry(0) + 4, t.pieces[last].1);
    put(&mut swapped, entry(last) + 4, t.pieces[0].1);
    let ts = read_index(&swapped).expect("sizes still add up");
    assert_eq!(
        pieces::decompress_pieces(&swapped, &ts, None, 2, &default_opener).unwrap(),
        None
    );
    assert!(zip::decompress(&swapped, Format::Gzip).unwrap() == data);

    // Sizes that do not add up to the member, a count past the room, another version:
    // no index at all.
    let mut short = z.clone();
    put(&mut short, entry(0), t.pieces[0].0 + 1);
    assert!(read_index(&short).is_none());
    let mut many = z.clone();
    put(&mut many, DATA_OFFSET + 1, 1000);
    assert!(read_index(&many).is_none());
    let mut v2 = z.clone();
    v2[DATA_OFFSET] = 2;
    assert!(read_index(&v2).is_none());
    // Anything after the member (another member, garbage): not this index's stream.
    let mut two = z.clone();
    two.extend_from_slice(&z);
    assert!(read_index(&two).is_none());
    let back = zip::decompress(&two, Format::Gzip).unwrap();
    assert!(back.len() == 2 * data.len() && back[..data.len()] == data[..]);
}

#[test]
fn damaged_data_in_a_piece_is_still_an_error() {
    let (_, z, t) = indexed(3 << 20);
    let mut bad = z.clone();
    let at = t.body + t.pieces[0].0 as usize + 1000;
    bad[at] ^= 0x55;
    assert!(zip::decompress(&bad, Format::Gzip).is_err());
    // A wrong CRC in the trailer with intact pieces: the checksum error, as without index.
    let mut crc = z.clone();
    let n = crc.len();
    crc[n - 8] ^= 1;
    assert_eq!(
        pieces::decompress_pieces(&crc, &read_index(&crc).unwrap(), None, 2, &default_opener)
            .unwrap(),
        None
    );
    let e = zip::decompress(&crc, Format::Gzip).unwrap_err();
    assert!(e.to_string().to_lowercase().contains("checksum"), "{e}");
}

#[test]
fn the_output_limit_holds_with_an_index() {
    let (data, z, t) = indexed(3 << 20);
    assert_eq!(
        pieces::decompress_pieces(&z, &t, Some(data.len() - 1), 2, &default_opener).unwrap(),
        None
    );
    let e = zip::decompress_limited(&z, Format::Gzip, Some(data.len() - 1)).unwrap_err();
    assert!(
        e.to_string().contains(&format!("{}", data.len() - 1)),
        "{e}"
    );
    assert!(zip::decompress_limited(&z, Format::Gzip, Some(data.len())).unwrap() == data);
}

/// A gzip member of the raw deflate `pieces`, whose index states `sizes` as their
/// uncompressed sizes and whose trailer states the CRC-32 and size of `stated`.
fn member(pieces: &[&[u8]], sizes: &[u32], stated: &[u8]) -> Vec<u8> {
    let mut z = vec![0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3];
    z.extend(pieces::extra_field(pieces.len()).unwrap());
    let entries: Vec<(u32, u32)> = pieces
        .iter()
        .zip(sizes)
        .map(|(p, &u)| (p.len() as u32, u))
        .collect();
    for p in pieces {
        z.extend_from_slice(p);
    }
    z.extend_from_slice(&zip::crc32(0, stated).to_le_bytes());
    z.extend_from_slice(&(stated.len() as u32).to_le_bytes());
    pieces::PieceIndex::new(&entries, pieces.len())
        .unwrap()
        .patch(&mut z);
    z
}

/// A fixed-Huffman block ("hello") that is not the last, ended by its end-of-block code
/// inside its last byte (50 bits): the next block's header would start right after it.
const FIXED_HELLO: [u8; 7] = [0xca, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

/// A stored block stating `len` bytes, with `data` after its header.
fn stored(last: bool, len: u16, data: &[u8]) -> Vec<u8> {
    let mut v = vec![u8::from(last)];
    v.extend_from_slice(&len.to_le_bytes());
    v.extend_from_slice(&(!len).to_le_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn pieces_that_do_not_end_where_a_block_starts_are_not_decoded_apart() {
    // Each pair of pieces decodes apart, with the sizes and the CRC the index and the
    // trailer state; as one stream (as zlib and gzip read it) it does not: the second
    // piece is read from where the first one left off. The index must not be followed.
    let world = stored(true, 5, b"world");
    let cases: [(&str, Vec<u8>); 3] = [
        // A stored block that goes on into the next piece (its first five bytes would be
        // data, and 'w' is not a valid block header).
        (
            "stored block across the boundary",
            stored(false, 10, b"hello"),
        ),
        // The same with the last block of the stream.
        ("last block across the boundary", stored(true, 10, b"hello")),
        // A block that ends inside the piece's last byte: the rest of that byte starts a
        // stored block header whose lengths are the next piece's first four bytes.
        ("block ending inside a byte", FIXED_HELLO.to_vec()),
    ];
    for (what, first) in cases {
        let z = member(&[&first, &world], &[5, 5], b"helloworld");
        let t = read_index(&z).expect("the sizes add up");
        assert_eq!(
            pieces::decompress_pieces(&z, &t, None, 2, &default_opener).unwrap(),
            None,
            "{what}"
        );
        // As one stream (C zlib says the same: invalid block type; the stream ends five
        // bytes into the second piece; invalid stored block lengths) it is not
        // "helloworld", so the gzip member is not valid.
        assert!(zip::decompress(&z, Format::Gzip).is_err(), "{what}");
        let mut whole = first.clone();
        whole.extend_from_slice(&world);
        let one = miniz_oxide::inflate::decompress_to_vec(&whole);
        assert!(
            one.as_deref().ok() != Some(&b"helloworld"[..]),
            "{what}: {one:?}"
        );
    }
}
