//! The `hisi_qm_v1` ZIP entries (docs/abi.md sections 3 and 4): request types, flags, checksum
//! selectors, the submission entry and the completion entry.

use super::{Status, CQE_SIZE, SQE_SIZE};

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
/// Flag: the input ends where a block starts (decompress, raw deflate only): input that
/// runs out anywhere else inside the stream is a data error, not "needs input".
pub const FLAG_BLOCK_END: u32 = 1 << 4;
/// Every flag bit the ABI defines.
pub const FLAGS_KNOWN: u32 = FLAG_PARTIAL | FLAG_CSUM_MASK | FLAG_CONTINUE | FLAG_BLOCK_END;

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
