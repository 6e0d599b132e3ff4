use super::*;

#[test]
fn doorbell_round_trips() {
    let v = doorbell(3, CMD_CQ, 1023, 1);
    assert_eq!(v, 3 | 1 << 16 | 1023 << 32 | 1 << 48);
    assert_eq!(
        Doorbell::decode(v),
        Doorbell {
            sqn: 3,
            cmd: 1,
            index: 1023,
            priority: 1
        }
    );
}

#[test]
fn sqe_fields_sit_in_their_words() {
    let e = ZipSqe::request(
        ReqType::Gzip,
        FLAG_PARTIAL | Csum::Adler32.flag_bits(),
        9,
        0xdead_beef,
        0x1_2345_6000,
        777,
        0x7_0000_1000,
        4096,
    );
    assert_eq!(e.dw[9], 3);
    assert_eq!(e.dw[4], 777);
    assert_eq!(e.dw[13], 0xdead_beef);
    assert_eq!(e.dw[18], 0x2345_6000);
    assert_eq!(e.dw[19], 1);
    assert_eq!(e.dw[20], 0x1000);
    assert_eq!(e.dw[21], 7);
    assert_eq!(e.dw[14], 4096);
    assert_eq!(e.src(), 0x1_2345_6000);
    assert_eq!(e.dst(), 0x7_0000_1000);
    assert_eq!(e.flags(), 0b101);
    assert_eq!(Csum::from_flags(e.flags()), Some(Csum::Adler32));
    assert_eq!(e.level(), 9);
    let mut r = e;
    r.set_result(Status::OkNotShrunk, 777, 790, 0x1234);
    assert_eq!(r.status_raw(), 0x0d);
    assert_eq!(
        (r.consumed(), r.produced(), r.checksum()),
        (777, 790, 0x1234)
    );
}

#[test]
fn every_status_maps_to_its_wire_value_and_error() {
    let wire = [0x00u8, 0x0d, 0x0e, 0x10, 0x11, 0x12, 0x20, 0x21, 0x22, 0x23];
    assert_eq!(Status::ALL.len(), wire.len());
    for (s, w) in Status::ALL.iter().zip(wire) {
        assert_eq!(*s as u8, w);
        assert_eq!(Status::from_wire(w), Some(*s));
    }
    assert_eq!(Status::from_wire(0x55), None);
    assert!(Status::Ok.check().is_ok());
    assert!(Status::OkNotShrunk.check().is_ok());
    assert!(matches!(
        Status::OutputTooSmall.check(),
        Err(Error::OutputTooSmall)
    ));
    assert!(
        matches!(Status::ChecksumError.check(), Err(Error::BadData(m)) if m.contains("checksum"))
    );
    assert!(matches!(Status::NeedInput.check(), Err(Error::BadData(m)) if m.contains("truncated")));
    assert!(matches!(Status::DataError.check(), Err(Error::BadData(_))));
    assert!(matches!(Status::DmaFault.check(), Err(Error::DmaFault)));
    assert!(matches!(
        Status::BadRequest.check(),
        Err(Error::BadRequest(_))
    ));
    assert!(matches!(
        Status::DeviceError.check(),
        Err(Error::Protocol(_))
    ));
    // The locked-memory limit is its own error, never a DMA fault.
    let e = Status::MemlockLimit.check().unwrap_err();
    assert!(matches!(e, Error::MemlockLimit { needed: None, .. }), "{e}");
    let e = e.with_pinned(2 << 20);
    assert!(
        matches!(e, Error::MemlockLimit { needed: Some(n), .. } if n == 2 << 20),
        "{e}"
    );
    let m = e.to_string();
    assert!(
        m.contains("RLIMIT_MEMLOCK") && m.contains("2097152 bytes"),
        "{m}"
    );
    assert!(!m.to_lowercase().contains("dma fault"), "{m}");
}

#[test]
fn cqe_phase_and_head() {
    let c = Cqe::new(1000, 2, true);
    assert_eq!(c.sq_head(), 1000);
    assert!(c.phase());
    assert!(!Cqe::new(5, 0, false).phase());
}

#[test]
fn v2_doorbell_puts_the_command_at_bit_12() {
    let v = Dialect::V2.doorbell(5, CMD_CQ, 1023, 0);
    assert_eq!(v, 5 | 1 << 12 | 1023 << 32);
    assert_eq!(
        Dialect::V3.doorbell(0x1234, CMD_SQ, 7, 1),
        0x234 | 7 << 32 | 1 << 48
    );
    assert_eq!(
        Dialect::V1.doorbell(3, CMD_CQ, 9, 1),
        doorbell(3, CMD_CQ, 9, 1)
    );
    for cmd in [CMD_SQ, CMD_CQ] {
        assert_eq!(Dialect::V2.doorbell_offset(cmd, false), 0x1000);
        assert_eq!(Dialect::V3.doorbell_offset(cmd, true), 0x1000);
        assert_eq!(Dialect::V1.doorbell_offset(cmd, false), DOORBELL_SQ);
    }
    assert_eq!(Dialect::V1.doorbell_offset(CMD_CQ, true), DOORBELL_CQ_SOFT);
    assert_eq!(Dialect::V2.mmio_size(), 8192);
    assert!(Dialect::V2.doorbell_offset(CMD_SQ, false) + 8 <= Dialect::V2.mmio_size());
}

#[test]
fn v2_stream_fields_sit_where_uadk_puts_them() {
    let ctx = 0x1234_5678_9abc_d000u64;
    let fresh = || Dialect::V2.encode(ReqType::Deflate, 0, 0, 1, 0x10, 5, 0x20, 64);
    let mode = |e: &ZipSqe| (e.dw[7] >> 25) & 7;
    // A compression piece: stateful, new, sync flush; the context buffer in dw22/23.
    let mut e = fresh();
    Dialect::V2.set_stream(&mut e, Direction::Compress, true, None, ctx);
    assert_eq!(mode(&e), 0b110);
    assert_eq!((e.dw[22], e.dw[23]), (0x9abc_d000, 0x1234_5678));
    assert_eq!(e.dw[7] >> V2_SQE_TYPE_SHIFT, 3, "the entry type stays");
    // A whole compression: stateless, finish, no context.
    let mut e = fresh();
    Dialect::V2.set_stream(&mut e, Direction::Compress, false, None, ctx);
    assert_eq!((mode(&e), e.dw[22]), (0b001, 0));
    // Decompressions: stateful, new or continuing with the words handed on.
    let mut e = fresh();
    Dialect::V3.set_stream(&mut e, Direction::Decompress, false, None, ctx);
    assert_eq!(mode(&e), 0b111);
    let mut e = fresh();
    Dialect::V2.set_stream(
        &mut e,
        Direction::Decompress,
        false,
        Some(&[1, 2, 3, 4, 5]),
        ctx,
    );
    assert_eq!(mode(&e), 0b011);
    assert_eq!(
        (e.dw[15], e.dw[28], e.dw[29], e.dw[30], e.dw[31]),
        (1, 2, 3, 4, 5)
    );
    // v1 entries are left as they are.
    let mut e = Dialect::V1.encode(ReqType::Deflate, FLAG_PARTIAL, 0, 1, 0x10, 5, 0x20, 64);
    let before = e;
    Dialect::V1.set_stream(&mut e, Direction::Compress, true, None, ctx);
    assert_eq!(e, before);
}

#[test]
fn v2_entries_carry_type_and_tag_where_uadk_puts_them() {
    // v2: zlib and gzip are entry type 0 (tag dw13), deflate type 3 (tag dw26).
    let e = Dialect::V2.encode(
        ReqType::Gzip,
        0,
        0,
        0xabc,
        0x1_0000_2000,
        100,
        0x3_0000_4000,
        500,
    );
    assert_eq!(e.dw[7] >> 28, 0);
    assert_eq!((e.dw[9], e.dw[13], e.dw[26]), (3, 0xabc, 0));
    assert_eq!((e.dw[4], e.dw[14]), (100, 500));
    assert_eq!(
        (e.dw[18], e.dw[19], e.dw[20], e.dw[21]),
        (0x2000, 1, 0x4000, 3)
    );
    let e = Dialect::V2.encode(ReqType::Deflate, 0, 0, 0xdef, 0, 1, 0, 2);
    assert_eq!(
        (e.dw[7] >> 28, e.dw[9], e.dw[13], e.dw[26]),
        (3, 1, 0, 0xdef)
    );
    // v3: type 3 for everything.
    let e = Dialect::V3.encode(ReqType::Zlib, 0, 0, 7, 0, 1, 0, 2);
    assert_eq!((e.dw[7] >> 28, e.dw[9], e.dw[13], e.dw[26]), (3, 2, 0, 7));
    // Nothing of v1's flags or level lands in a v2 entry; words 10, 11, 15 stay 0.
    let e = Dialect::V2.encode(ReqType::Zlib, FLAG_PARTIAL, 9, 1, 0, 1, 0, 2);
    assert_eq!((e.dw[10], e.dw[11], e.dw[15]), (0, 0, 0));
    // A no-op is an empty raw deflate request.
    let e = Dialect::V2.encode(ReqType::Nop, 0, 0, 9, 0x1000, 10, 0x2000, 10);
    assert_eq!((e.dw[9], e.dw[4], e.dw[14], e.dw[26]), (1, 0, 0, 9));
    // v1 is unchanged.
    assert_eq!(
        Dialect::V1.encode(ReqType::Gzip, 1, 2, 3, 4, 5, 6, 7),
        ZipSqe::request(ReqType::Gzip, 1, 2, 3, 4, 5, 6, 7)
    );
    for (d, t, w) in [
        (Dialect::V1, ReqType::Gzip, [0, 1, 3, 15, 13]),
        (Dialect::V2, ReqType::Gzip, [0, 1, 3, 31, 13]),
        (Dialect::V2, ReqType::Deflate, [0, 1, 3, 31, 26]),
        (Dialect::V3, ReqType::Zlib, [0, 1, 3, 31, 26]),
    ] {
        let e = d.encode(t, 0, 0, 0, 0, 0, 0, 0);
        assert_eq!(d.entry_tag_word(&e), d.tag_word(t), "{d:?} {t:?}");
        assert_eq!(d.result_words(d.entry_tag_word(&e)), w, "{d:?} {t:?}");
    }
}

fn answered(d: Dialect, t: ReqType, status: u32, csum: u32) -> ZipSqe {
    let mut e = d.encode(t, 0, 0, 0x55, 0, 10, 0, 20);
    e.dw[0] = 10;
    e.dw[1] = 12;
    e.dw[3] = status;
    e.dw[31] = csum;
    e
}

#[test]
fn v2_answers_decode_to_v1_statuses() {
    use Direction::{Compress as C, Decompress as D};
    let cases = [
        (C, 0x00, Status::Ok as u8),
        (C, 0x0d, Status::OkNotShrunk as u8),
        (C, 0x0e, Status::OutputTooSmall as u8),
        (D, 0x13 | V2_LSTBLK, Status::Ok as u8),
        (D, V2_LSTBLK, Status::Ok as u8),
        (D, 0x00, Status::NeedInput as u8),
        (D, 0x10, Status::ChecksumError as u8),
        (D, 0x12, Status::DataError as u8),
        (D, 0x20, Status::DmaFault as u8),
        (C, 0x21, Status::BadRequest as u8),
        (C, 0x22, Status::DeviceError as u8),
        // v1 means "need input" by 0x11: from a v2 device it is a failure.
        (D, 0x11, Status::DeviceError as u8),
        (C, 0x23, Status::DeviceError as u8),
        // unknown to both: the device's byte
        (C, 0x44, 0x44),
    ];
    for (dir, st, want) in cases {
        let e = answered(Dialect::V2, ReqType::Gzip, st, 0xc0de);
        let a = Dialect::V2.decode(&e, 13, false, dir);
        assert_eq!(a.status_raw, want, "{dir} {st:#x}");
        assert_eq!(a.device_status, st as u8);
        assert_eq!(
            (a.consumed, a.produced, a.checksum, a.tag),
            (10, 12, 0xc0de, 0x55)
        );
    }
    // The tag of a type 3 entry comes from dw26.
    let e = answered(Dialect::V3, ReqType::Gzip, 0, 0);
    let a = Dialect::V3.decode(&e, Dialect::V3.entry_tag_word(&e), false, C);
    assert_eq!(a.tag, 0x55);
    // A no-op's answer (an empty deflate the device may refuse) is a plain success.
    let a = Dialect::V2.decode(&answered(Dialect::V2, ReqType::Nop, 0x0e, 0), 26, true, C);
    assert_eq!(
        (a.status_raw, a.consumed, a.produced, a.tag),
        (0, 0, 0, 0x55)
    );
    // v1 passes the words through.
    let mut e = ZipSqe::request(ReqType::Zlib, 0, 0, 77, 0, 5, 0, 6);
    e.set_result(Status::NeedInput, 1, 2, 3);
    let a = Dialect::V1.decode(&e, 13, false, D);
    assert_eq!(
        (a.status_raw, a.consumed, a.produced, a.checksum, a.tag),
        (0x11, 1, 2, 3, 77)
    );
}

#[test]
fn headers_the_driver_writes_and_skips() {
    assert!(Dialect::V2.writes_header(ReqType::Zlib) && Dialect::V3.writes_header(ReqType::Gzip));
    assert!(!Dialect::V2.writes_header(ReqType::Deflate));
    assert!(!Dialect::V1.writes_header(ReqType::Gzip));
    assert!(Dialect::V2.skips_header(ReqType::Gzip) && !Dialect::V1.skips_header(ReqType::Gzip));
    assert!(Dialect::V1.device_checksums() && !Dialect::V3.device_checksums());
    assert_eq!(Dialect::from_uacce_api("hisi_qm_v2\n"), Some(Dialect::V2));
    assert_eq!(Dialect::from_uacce_api("hisi_qm_v3"), Some(Dialect::V3));
    assert_eq!(Dialect::from_uacce_api("hisi_qm_v1"), None);
}
