//! The `hisi_qm_v1` ring dialect and the ZIP request format, exactly as `docs/abi.md`
//! defines them. Pure data: no memory access happens here.

use crate::error::{DataErrorKind, Error};

/// Size of the MMIO region (region 0).
pub const MMIO_SIZE: usize = 4096;
/// Hardware doorbell (both commands) and, on software devices, the SQ doorbell.
pub const DOORBELL_SQ: usize = 0x340;
/// The CQ doorbell of software devices (hardware uses [`DOORBELL_SQ`] for both).
pub const DOORBELL_CQ_SOFT: usize = 0x348;
/// `SOFT_ID` register: reads [`SOFT_ID_MAGIC`] on software devices.
pub const REG_SOFT_ID: usize = 0x380;
/// "WDRV" little endian.
pub const SOFT_ID_MAGIC: u32 = 0x5744_5256;
/// Idle register of software devices: 1 while the device sleeps.
pub const REG_IDLE: usize = 0x388;
/// Capability bits of software devices ([`CAP_MODERATED_ARM`]); reads 0 where none.
pub const REG_CAPS: usize = 0x390;
/// The device understands [`ARM_MODERATED`].
pub const CAP_MODERATED_ARM: u32 = 1;
/// CQ doorbell `priority`: interrupt at the next completion.
pub const ARM_NOW: u16 = 1;
/// CQ doorbell `priority`: interrupt at a completion, but the device may hold it while it
/// has more of the queue's requests in hand (up to [`MODERATION_MAX_HELD`] completions, and
/// never behind a request of more than [`MODERATION_MAX_INPUT`] input bytes).
pub const ARM_MODERATED: u16 = 2;
/// Most completions a moderated interrupt waits for.
pub const MODERATION_MAX_HELD: u32 = 4;
/// A moderated interrupt is not held behind a request with more input than this.
pub const MODERATION_MAX_INPUT: u32 = 256 << 10;

/// Entries in each ring.
pub const RING_DEPTH: usize = 1024;
/// Size of a submission entry.
pub const SQE_SIZE: usize = 128;
/// Size of a completion entry.
pub const CQE_SIZE: usize = 16;
/// Byte offset of the CQ inside region 1.
pub const CQ_OFFSET: usize = RING_DEPTH * SQE_SIZE;
/// Size of region 1 before rounding to pages.
pub const RINGS_SIZE: usize = CQ_OFFSET + RING_DEPTH * CQE_SIZE;
/// The most requests outstanding at once (one slot stays empty so full != empty).
pub const MAX_OUTSTANDING: usize = RING_DEPTH - 1;
/// "No command" value that software devices leave in a consumed CQ doorbell register.
pub const DOORBELL_EMPTY: u64 = u64::MAX;

/// Doorbell command: submission ring.
pub const CMD_SQ: u64 = 0;
/// Doorbell command: completion ring.
pub const CMD_CQ: u64 = 1;

/// Encodes a doorbell value: `sqn | cmd << 16 | index << 32 | priority << 48`.
pub const fn doorbell(sqn: u16, cmd: u64, index: u16, priority: u16) -> u64 {
    sqn as u64 | cmd << 16 | (index as u64) << 32 | (priority as u64) << 48
}

/// Decoded doorbell value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doorbell {
    /// Queue number inside the parent.
    pub sqn: u16,
    /// [`CMD_SQ`] or [`CMD_CQ`].
    pub cmd: u16,
    /// New SQ tail or CQ head.
    pub index: u16,
    /// 1 on a CQ doorbell: interrupt wanted.
    pub priority: u16,
}

impl Doorbell {
    /// Splits a doorbell value into its fields.
    pub const fn decode(v: u64) -> Doorbell {
        Doorbell {
            sqn: v as u16,
            cmd: (v >> 16) as u16,
            index: (v >> 32) as u16,
            priority: (v >> 48) as u16,
        }
    }
}

/// Compress or decompress: a property of a queue, fixed when it starts (an mdev type's
/// `flags`, section 6 of `docs/abi.md`). Spelled `compress` / `decompress` (exactly, as
/// [`std::str::FromStr`] reads and [`std::fmt::Display`] writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The queue compresses.
    Compress,
    /// The queue decompresses.
    Decompress,
}

impl Direction {
    /// Both directions, in the order of their index ([`Direction::index`]).
    pub const ALL: [Direction; 2] = [Direction::Compress, Direction::Decompress];

    /// The name: `compress` or `decompress`.
    pub const fn name(self) -> &'static str {
        match self {
            Direction::Compress => "compress",
            Direction::Decompress => "decompress",
        }
    }

    /// 0 for compress, 1 for decompress: an index into per-direction tables.
    pub const fn index(self) -> usize {
        match self {
            Direction::Compress => 0,
            Direction::Decompress => 1,
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Direction {
    type Err = Error;

    /// Reads `compress` or `decompress`; anything else is [`Error::BadRequest`].
    fn from_str(s: &str) -> Result<Direction, Error> {
        Direction::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                Error::BadRequest(format!(
                    "direction must be 'compress' or 'decompress', not {s:?}"
                ))
            })
    }
}

/// Request types (dw9 bits 7:0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReqType {
    /// Raw deflate (RFC 1951).
    Deflate = 1,
    /// zlib (RFC 1950).
    Zlib = 2,
    /// gzip (RFC 1952), one member.
    Gzip = 3,
    /// No operation: measures the ring (ours).
    Nop = 0x7f,
}

impl ReqType {
    /// Parses the wire value.
    pub fn from_wire(v: u8) -> Option<ReqType> {
        Some(match v {
            1 => ReqType::Deflate,
            2 => ReqType::Zlib,
            3 => ReqType::Gzip,
            0x7f => ReqType::Nop,
            _ => return None,
        })
    }
}

/// Flag: more input of this compressed stream follows (compress, raw deflate only).
pub const FLAG_PARTIAL: u32 = 1 << 0;
/// Shift of the 2-bit checksum selector.
pub const FLAG_CSUM_SHIFT: u32 = 1;
/// Mask of the checksum selector.
pub const FLAG_CSUM_MASK: u32 = 3 << FLAG_CSUM_SHIFT;
/// Flag: continue the decoder state of the previous request (decompress).
pub const FLAG_CONTINUE: u32 = 1 << 3;
/// Every flag bit the ABI defines.
pub const FLAGS_KNOWN: u32 = FLAG_PARTIAL | FLAG_CSUM_MASK | FLAG_CONTINUE;

/// Which checksum the device returns in dw15.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Csum {
    /// The one the format implies (zlib: Adler-32, gzip: CRC-32, raw: none).
    #[default]
    Implied = 0,
    /// CRC-32 (gzip's).
    Crc32 = 1,
    /// Adler-32 (zlib's).
    Adler32 = 2,
}

impl Csum {
    /// Flag bits for this selector.
    pub const fn flag_bits(self) -> u32 {
        (self as u32) << FLAG_CSUM_SHIFT
    }

    /// Parses the selector out of the flags word.
    pub fn from_flags(flags: u32) -> Option<Csum> {
        match (flags & FLAG_CSUM_MASK) >> FLAG_CSUM_SHIFT {
            0 => Some(Csum::Implied),
            1 => Some(Csum::Crc32),
            2 => Some(Csum::Adler32),
            _ => None,
        }
    }
}

/// Status values (dw3 bits 7:0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Status {
    /// Done.
    Ok = 0x00,
    /// Done; the compressed output did not shrink.
    OkNotShrunk = 0x0d,
    /// The destination is too small.
    OutputTooSmall = 0x0e,
    /// A checksum or length trailer does not match.
    ChecksumError = 0x10,
    /// Decompress: input ended inside the stream (ours).
    NeedInput = 0x11,
    /// Decompress: not a valid stream (ours).
    DataError = 0x12,
    /// An address range was not shared with the device (ours).
    DmaFault = 0x20,
    /// Malformed request (ours).
    BadRequest = 0x21,
    /// The device failed internally on this request; the output is undefined (ours).
    DeviceError = 0x22,
    /// The device could not pin the request's memory: the process's `RLIMIT_MEMLOCK`
    /// would be exceeded; nothing was touched (ours).
    MemlockLimit = 0x23,
}

impl Status {
    /// Every status, for exhaustive tests.
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::OkNotShrunk,
        Status::OutputTooSmall,
        Status::ChecksumError,
        Status::NeedInput,
        Status::DataError,
        Status::DmaFault,
        Status::BadRequest,
        Status::DeviceError,
        Status::MemlockLimit,
    ];

    /// Parses the wire value.
    pub fn from_wire(v: u8) -> Option<Status> {
        Status::ALL.into_iter().find(|s| *s as u8 == v)
    }

    /// True for the two success values.
    pub fn is_success(self) -> bool {
        matches!(self, Status::Ok | Status::OkNotShrunk)
    }

    /// The typed error for this status (`Ok(())` for success). `NeedInput` and
    /// `OutputTooSmall` are errors for a caller that expected a finished request; the
    /// streaming code handles them before they get here.
    pub fn check(self) -> Result<(), Error> {
        match self {
            Status::Ok | Status::OkNotShrunk => Ok(()),
            Status::OutputTooSmall => Err(Error::OutputTooSmall),
            Status::ChecksumError => Err(Error::BadData(DataErrorKind::Checksum.into())),
            Status::NeedInput => Err(Error::BadData(DataErrorKind::Truncated.into())),
            Status::DataError => Err(Error::BadData(DataErrorKind::Corrupt.into())),
            Status::DmaFault => Err(Error::DmaFault),
            Status::BadRequest => Err(Error::BadRequest(
                "the device rejected the request (type, flags or level)".into(),
            )),
            Status::DeviceError => Err(Error::Protocol(
                "the device failed internally on this request; it goes on with the next".into(),
            )),
            // The amount is the request's: `Completion::check` fills it in.
            Status::MemlockLimit => Err(crate::memlock::limit_error(None)),
        }
    }
}

/// A ZIP submission entry: 32 little-endian words, as it sits in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct ZipSqe {
    /// The raw words.
    pub dw: [u32; 32],
}

const _: () = assert!(std::mem::size_of::<ZipSqe>() == SQE_SIZE);
const _: () = assert!(std::mem::align_of::<ZipSqe>() == 4);

impl ZipSqe {
    /// The words a device writes back: consumed, produced, status, checksum.
    pub const RESULT_WORDS: [usize; 4] = [0, 1, 3, 15];
    /// The echoed tag.
    pub const TAG_WORD: usize = 13;

    /// Input bytes consumed (out).
    pub fn consumed(&self) -> u32 {
        self.dw[0]
    }
    /// Output bytes produced (out).
    pub fn produced(&self) -> u32 {
        self.dw[1]
    }
    /// Raw status byte (out).
    pub fn status_raw(&self) -> u8 {
        self.dw[3] as u8
    }
    /// Input length.
    pub fn input_len(&self) -> u32 {
        self.dw[4]
    }
    /// Raw request type byte.
    pub fn req_type_raw(&self) -> u8 {
        self.dw[9] as u8
    }
    /// Flags word.
    pub fn flags(&self) -> u32 {
        self.dw[10]
    }
    /// Compression level (0 = default).
    pub fn level(&self) -> u32 {
        self.dw[11] & 0xf
    }
    /// Echoed tag.
    pub fn tag(&self) -> u32 {
        self.dw[13]
    }
    /// Output space at the destination.
    pub fn output_space(&self) -> u32 {
        self.dw[14]
    }
    /// Returned checksum (out).
    pub fn checksum(&self) -> u32 {
        self.dw[15]
    }
    /// Source I/O address.
    pub fn src(&self) -> u64 {
        self.dw[18] as u64 | (self.dw[19] as u64) << 32
    }
    /// Destination I/O address.
    pub fn dst(&self) -> u64 {
        self.dw[20] as u64 | (self.dw[21] as u64) << 32
    }

    /// Builds a request entry; output words are zero.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        req_type: ReqType,
        flags: u32,
        level: u32,
        tag: u32,
        src: u64,
        input_len: u32,
        dst: u64,
        output_space: u32,
    ) -> ZipSqe {
        let mut e = ZipSqe::default();
        e.dw[4] = input_len;
        e.dw[9] = req_type as u32;
        e.dw[10] = flags;
        e.dw[11] = level & 0xf;
        e.dw[13] = tag;
        e.dw[14] = output_space;
        e.dw[18] = src as u32;
        e.dw[19] = (src >> 32) as u32;
        e.dw[20] = dst as u32;
        e.dw[21] = (dst >> 32) as u32;
        e
    }

    /// Writes the device's answer into the output words.
    pub fn set_result(&mut self, status: Status, consumed: u32, produced: u32, checksum: u32) {
        self.dw[0] = consumed;
        self.dw[1] = produced;
        self.dw[3] = (self.dw[3] & !0xff) | status as u32;
        self.dw[15] = checksum;
    }
}

/// A completion entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Cqe {
    /// The raw words: dw2 holds `sq_head | sq_num << 16`, dw3 holds `w7 << 16`.
    pub dw: [u32; 4],
}

const _: () = assert!(std::mem::size_of::<Cqe>() == CQE_SIZE);

impl Cqe {
    /// A completion for SQ entry `sq_head` with the given phase.
    pub fn new(sq_head: u16, sq_num: u16, phase: bool) -> Cqe {
        Cqe {
            dw: [
                0,
                0,
                sq_head as u32 | (sq_num as u32) << 16,
                (phase as u32) << 16,
            ],
        }
    }
    /// Which SQ entry completed.
    pub fn sq_head(&self) -> u16 {
        self.dw[2] as u16
    }
    /// The phase bit (w7 bit 0).
    pub fn phase(&self) -> bool {
        (self.dw[3] >> 16) & 1 == 1
    }
}

#[cfg(test)]
mod tests {
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
        assert!(
            matches!(Status::NeedInput.check(), Err(Error::BadData(m)) if m.contains("truncated"))
        );
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
}
