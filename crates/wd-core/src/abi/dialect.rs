//! [`Dialect`]: how a ring is spoken (v1, v2, v3), and what picks it (a uacce `api`).

use super::v2::*;
use super::{
    doorbell, Direction, ReqType, Status, ZipSqe, CMD_CQ, DOORBELL_CQ_SOFT, DOORBELL_SQ, MMIO_SIZE,
};

/// How a ring is spoken: the encoding of submission entries, of their results and of the
/// doorbells. One ring driver (`queue.rs`) drives every dialect through this type; new
/// hardware may add dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
