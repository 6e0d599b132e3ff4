//! The ring dialects and the ZIP request formats, exactly as `docs/abi.md` defines them:
//! `hisi_qm_v1` (sections 1-8) and the `hisi_qm_v2`/`hisi_qm_v3` dialect of mainline
//! `uacce` devices (section 9), both behind [`Dialect`]. Pure data: no memory access
//! happens here.

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

// ---------------------------------------------------------------------------------------
// hisi_qm v2 / v3 (docs/abi.md section 9)

/// Size of the MMIO region of a `hisi_qm_v2` queue (and v3 without doorbell isolation).
pub const V2_MMIO_SIZE: usize = 8192;
/// The v2/v3 doorbell: one 64-bit store at this offset of the MMIO region.
pub const V2_DOORBELL: usize = 0x1000;
/// Size of the DUS region of a ZIP queue of depth 1024: the rings, rounded to pages, plus
/// the status page.
pub const V2_DUS_SIZE: usize = 151552;
/// "stop RX", counted back from the end of the DUS region: 1 once the function is stopped.
pub const V2_STOP_RX_FROM_END: usize = 8;
/// "stop TX", counted back from the end of the DUS region: 1 once the function takes no
/// more requests.
pub const V2_STOP_TX_FROM_END: usize = 4;
/// dw3 bit 8: the stream's last block was decoded.
pub const V2_LSTBLK: u32 = 1 << 8;
/// dw7 bits 31:28: the entry type.
pub const V2_SQE_TYPE_SHIFT: u32 = 28;
/// Where the tag sits in an entry of type 0.
pub const V2_TAG_WORD_TYPE0: usize = 13;
/// Where the tag sits in an entry of type 3.
pub const V2_TAG_WORD_TYPE3: usize = 26;
/// The checksum word (CRC-32 for gzip, Adler-32 for zlib).
pub const V2_CSUM_WORD: usize = 31;
/// dw7 bit 25, `flush_type`: 1 finish (the request ends the stream), 0 sync flush.
pub const V2_FLUSH_FINISH: u32 = 1 << 25;
/// dw7 bit 26, `stream_mode`: 1 stateful (the stream context buffer holds the state).
pub const V2_STATEFUL: u32 = 1 << 26;
/// dw7 bit 27, `stream_new`: the first request of a stateful stream.
pub const V2_STREAM_NEW: u32 = 1 << 27;
/// Where the stream context buffer's address sits (low word; the high word follows).
pub const V2_CTX_ADDR_WORD: usize = 22;
/// The words an answered stateful request hands on to the next request of its stream:
/// `ctx_dw0`, `ctx_dw1`, `ctx_dw2`, `isize`, `checksum`.
pub const V2_CARRY_WORDS: [usize; 5] = [15, 28, 29, 30, 31];
/// Size of a queue's stream context buffer (UADK's `HW_CTX_SIZE`).
pub const V2_CTX_SIZE: usize = 64 << 10;

/// v2 status: done.
pub const V2_ST_OK: u8 = 0x00;
/// v2 status: done, output not smaller than input.
pub const V2_ST_NEGACOMPRESS: u8 = 0x0d;
/// v2 status: `dest_avail_out` too small.
pub const V2_ST_DSTLEN_OUT: u8 = 0x0e;
/// v2 status: checksum mismatch.
pub const V2_ST_CRC_ERR: u8 = 0x10;
/// v2 status: decompression reached the end of the stream.
pub const V2_ST_DECOMP_END: u8 = 0x13;

/// How a ring is spoken: the encoding of submission entries, of their results and of the
/// doorbells. One ring driver (`queue.rs`) drives every dialect through this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `hisi_qm_v1` (sections 1-8): the soft device and sdmdev devices.
    V1,
    /// `hisi_qm_v2`: ZIP entries of type 0 (tag in dw13) for zlib and gzip, type 3 (tag in
    /// dw26) for raw deflate, as UADK does on v2.
    V2,
    /// `hisi_qm_v3`: every ZIP entry of type 3.
    V3,
}

/// What the driver reads back from an answered submission entry, in the terms of
/// `hisi_qm_v1` whatever the dialect ([`Dialect::decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status byte the device wrote, as it wrote it.
    pub device_status: u8,
    /// The status as a [`Status`] wire value where the dialect's value has a meaning there,
    /// else the device's own byte.
    pub status_raw: u8,
    /// Input bytes consumed.
    pub consumed: u32,
    /// Output bytes produced.
    pub produced: u32,
    /// The checksum the device returned.
    pub checksum: u32,
    /// The tag word.
    pub tag: u32,
}

impl Dialect {
    /// The dialect of a uacce device's `api` attribute (trailing white space ignored);
    /// `None` for one this driver does not speak.
    pub fn from_uacce_api(api: &str) -> Option<Dialect> {
        match api.trim_end() {
            "hisi_qm_v2" => Some(Dialect::V2),
            "hisi_qm_v3" => Some(Dialect::V3),
            _ => None,
        }
    }

    /// The name of the dialect (a uacce `api` string for v2 and v3).
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::V1 => "hisi_qm_v1",
            Dialect::V2 => "hisi_qm_v2",
            Dialect::V3 => "hisi_qm_v3",
        }
    }

    /// The smallest MMIO region the dialect needs.
    pub const fn mmio_size(self) -> usize {
        match self {
            Dialect::V1 => MMIO_SIZE,
            Dialect::V2 | Dialect::V3 => V2_MMIO_SIZE,
        }
    }

    /// A doorbell value.
    pub const fn doorbell(self, qn: u16, cmd: u64, index: u16, priority: u16) -> u64 {
        match self {
            Dialect::V1 => doorbell(qn, cmd, index, priority),
            Dialect::V2 | Dialect::V3 => {
                (qn & 0xfff) as u64 | cmd << 12 | (index as u64) << 32 | (priority as u64) << 48
            }
        }
    }

    /// Where in the MMIO region the doorbell of command `cmd` is stored; `soft_layout` is
    /// true for a v1 software device, which has a CQ doorbell of its own.
    pub const fn doorbell_offset(self, cmd: u64, soft_layout: bool) -> usize {
        match self {
            Dialect::V1 if soft_layout && cmd == CMD_CQ => DOORBELL_CQ_SOFT,
            Dialect::V1 => DOORBELL_SQ,
            Dialect::V2 | Dialect::V3 => V2_DOORBELL,
        }
    }

    /// True if the interrupt is armed through the CQ doorbell's priority (v1); a v2/v3
    /// queue is waited on with `poll()`, and its CQ doorbells carry priority 0.
    pub const fn arms_through_doorbell(self) -> bool {
        matches!(self, Dialect::V1)
    }

    /// Sets the stream fields of v2/v3 entry `e` (nothing on v1, whose flags say it all).
    /// A compression piece that ends in a sync flush (`partial`) is the first and only
    /// request of a stateful stream, so that it does not end the deflate stream; any other
    /// compression is stateless and finishes. A decompression is stateful, so that the
    /// device keeps what it decoded for a next request: new, or continuing with the state
    /// words `carry` the previous answer of its stream gave ([`V2_CARRY_WORDS`]). `ctx` is
    /// the queue's stream context buffer.
    pub fn set_stream(
        self,
        e: &mut ZipSqe,
        dir: Direction,
        partial: bool,
        carry: Option<&[u32; 5]>,
        ctx: u64,
    ) {
        if self == Dialect::V1 {
            return;
        }
        let mode = match (dir, partial, carry) {
            (Direction::Compress, true, _) => V2_STATEFUL | V2_STREAM_NEW,
            (Direction::Compress, false, _) => V2_FLUSH_FINISH,
            (Direction::Decompress, _, None) => V2_STATEFUL | V2_STREAM_NEW | V2_FLUSH_FINISH,
            (Direction::Decompress, _, Some(_)) => V2_STATEFUL | V2_FLUSH_FINISH,
        };
        e.dw[7] = (e.dw[7] & !(V2_FLUSH_FINISH | V2_STATEFUL | V2_STREAM_NEW)) | mode;
        if mode & V2_STATEFUL != 0 {
            e.dw[V2_CTX_ADDR_WORD] = ctx as u32;
            e.dw[V2_CTX_ADDR_WORD + 1] = (ctx >> 32) as u32;
        }
        if let Some(c) = carry {
            for (w, v) in V2_CARRY_WORDS.iter().zip(c) {
                e.dw[*w] = *v;
            }
        }
    }

    /// True if a request carries a compression level (v1). v2/v3 entries have no field
    /// for it: the engine compresses at its own fixed level whatever was asked.
    pub const fn takes_level(self) -> bool {
        matches!(self, Dialect::V1)
    }

    /// True if the device computes a checksum selector's choice itself (v1); on v2/v3 a
    /// compression's choice is computed by the driver over the input it sends, as the
    /// device's checksum word only covers its own zlib and gzip framing.
    pub const fn device_checksums(self) -> bool {
        matches!(self, Dialect::V1)
    }

    /// The word of an entry of `req_type` that carries the tag.
    pub const fn tag_word(self, req_type: ReqType) -> usize {
        match (self, req_type) {
            (Dialect::V1, _) => ZipSqe::TAG_WORD,
            (Dialect::V2, ReqType::Zlib | ReqType::Gzip) => V2_TAG_WORD_TYPE0,
            _ => V2_TAG_WORD_TYPE3,
        }
    }

    /// The word that carries the tag of entry `e`, by the entry type it names (dw7 bits
    /// 31:28 on v2/v3): where the driver puts its tag, hand-made entries included.
    pub const fn entry_tag_word(self, e: &ZipSqe) -> usize {
        match self {
            Dialect::V1 => ZipSqe::TAG_WORD,
            Dialect::V2 | Dialect::V3 if e.dw[7] >> V2_SQE_TYPE_SHIFT == 3 => V2_TAG_WORD_TYPE3,
            Dialect::V2 | Dialect::V3 => V2_TAG_WORD_TYPE0,
        }
    }

    /// The words a device writes back, and `tag_word`.
    pub const fn result_words(self, tag_word: usize) -> [usize; 5] {
        let csum = match self {
            Dialect::V1 => 15,
            Dialect::V2 | Dialect::V3 => V2_CSUM_WORD,
        };
        [0, 1, 3, csum, tag_word]
    }

    /// The type v2/v3 hardware is asked for in place of `req_type`: a no-op (ours) goes as
    /// an empty raw deflate request, whose answer only says that the ring works.
    pub const fn wire_type(self, req_type: ReqType) -> ReqType {
        match (self, req_type) {
            (Dialect::V2 | Dialect::V3, ReqType::Nop) => ReqType::Deflate,
            (_, t) => t,
        }
    }

    /// Builds a request entry. `flags` and `level` are v1's (v2/v3 entries have no place
    /// for them: the stream fields are [`Dialect::set_stream`]'s, the level is the
    /// engine's own); `tag` goes into the dialect's tag word.
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        self,
        req_type: ReqType,
        flags: u32,
        level: u32,
        tag: u32,
        src: u64,
        input_len: u32,
        dst: u64,
        output_space: u32,
    ) -> ZipSqe {
        if self == Dialect::V1 {
            return ZipSqe::request(
                req_type,
                flags,
                level,
                tag,
                src,
                input_len,
                dst,
                output_space,
            );
        }
        let wire = self.wire_type(req_type);
        let (input_len, output_space) = if req_type == ReqType::Nop {
            (0, 0)
        } else {
            (input_len, output_space)
        };
        let sqe_type: u32 = if self.tag_word(wire) == V2_TAG_WORD_TYPE0 {
            0
        } else {
            3
        };
        let mut e = ZipSqe::default();
        e.dw[4] = input_len;
        e.dw[7] = sqe_type << V2_SQE_TYPE_SHIFT;
        e.dw[9] = wire as u32;
        e.dw[self.tag_word(wire)] = tag;
        e.dw[14] = output_space;
        e.dw[18] = src as u32;
        e.dw[19] = (src >> 32) as u32;
        e.dw[20] = dst as u32;
        e.dw[21] = (dst >> 32) as u32;
        e
    }

    /// Reads the answer in entry `e` (its tag in `tag_word`) on a queue of direction `dir`,
    /// and says it in v1's terms: v2's "done" on a decompression that did not reach the
    /// stream's last block is v1's [`Status::NeedInput`], its "end of stream" is
    /// [`Status::Ok`]; the answer to a no-op (`nop`, which v2/v3 send as an empty deflate)
    /// is [`Status::Ok`] with nothing consumed or produced.
    pub fn decode(self, e: &ZipSqe, tag_word: usize, nop: bool, dir: Direction) -> Answer {
        let device_status = e.dw[3] as u8;
        if self == Dialect::V1 {
            return Answer {
                device_status,
                status_raw: device_status,
                consumed: e.consumed(),
                produced: e.produced(),
                checksum: e.checksum(),
                tag: e.tag(),
            };
        }
        let tag = e.dw[tag_word];
        if nop {
            return Answer {
                device_status,
                status_raw: Status::Ok as u8,
                consumed: 0,
                produced: 0,
                checksum: 0,
                tag,
            };
        }
        let last = e.dw[3] & V2_LSTBLK != 0;
        let status = match device_status {
            V2_ST_OK if dir == Direction::Decompress && !last => Some(Status::NeedInput),
            V2_ST_OK | V2_ST_DECOMP_END => Some(Status::Ok),
            V2_ST_NEGACOMPRESS => Some(Status::OkNotShrunk),
            V2_ST_DSTLEN_OUT => Some(Status::OutputTooSmall),
            V2_ST_CRC_ERR => Some(Status::ChecksumError),
            // The soft parent's codes for what no public source names (section 9.7).
            0x12 => Some(Status::DataError),
            0x20 => Some(Status::DmaFault),
            0x21 => Some(Status::BadRequest),
            0x22 => Some(Status::DeviceError),
            // v1 gives these bytes other meanings: a failure it cannot name.
            s if Status::from_wire(s).is_some() => Some(Status::DeviceError),
            _ => None,
        };
        Answer {
            device_status,
            status_raw: status.map_or(device_status, |s| s as u8),
            consumed: e.consumed(),
            produced: e.produced(),
            checksum: e.dw[V2_CSUM_WORD],
            tag,
        }
    }

    /// True if the driver writes the zlib or gzip header in front of the device's output
    /// when it compresses to `req_type` (v2/v3 devices write neither); the header is
    /// [`crate::zip`]'s, as for every stream WarpDrive writes.
    pub const fn writes_header(self, req_type: ReqType) -> bool {
        !matches!(self, Dialect::V1) && matches!(req_type, ReqType::Zlib | ReqType::Gzip)
    }

    /// True if the driver skips the stream's header before a v2/v3 device decompresses it.
    pub const fn skips_header(self, req_type: ReqType) -> bool {
        !matches!(self, Dialect::V1) && matches!(req_type, ReqType::Zlib | ReqType::Gzip)
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
        assert!(
            Dialect::V2.writes_header(ReqType::Zlib) && Dialect::V3.writes_header(ReqType::Gzip)
        );
        assert!(!Dialect::V2.writes_header(ReqType::Deflate));
        assert!(!Dialect::V1.writes_header(ReqType::Gzip));
        assert!(
            Dialect::V2.skips_header(ReqType::Gzip) && !Dialect::V1.skips_header(ReqType::Gzip)
        );
        assert!(Dialect::V1.device_checksums() && !Dialect::V3.device_checksums());
        assert_eq!(Dialect::from_uacce_api("hisi_qm_v2\n"), Some(Dialect::V2));
        assert_eq!(Dialect::from_uacce_api("hisi_qm_v3"), Some(Dialect::V3));
        assert_eq!(Dialect::from_uacce_api("hisi_qm_v1"), None);
    }
}
