//! The ring dialects and the ZIP request formats, exactly as `docs/abi.md` defines them:
//! `hisi_qm_v1` (sections 1-8) and the `hisi_qm_v2`/`hisi_qm_v3` dialect of mainline
//! `uacce` devices (section 9), both behind [`Dialect`]. Pure data: no memory access
//! happens here.
//!
//! The children: `entry` the `hisi_qm_v1` ZIP entry layout (request types, flags,
//! checksum selectors, the submission and completion entries), `status` the statuses and
//! what each means, `v2` the layout constants of the `hisi_qm_v2`/`v3` dialect, and
//! `dialect` the [`Dialect`] that speaks either. Everything is re-exported here: the paths
//! are `abi::NAME`.

mod dialect;
mod entry;
mod status;
#[cfg(test)]
mod tests;
mod v2;

pub use dialect::*;
pub use entry::*;
pub use status::*;
pub use v2::*;

use crate::error::Error;

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
