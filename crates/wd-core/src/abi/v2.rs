//! The layout of the `hisi_qm_v2`/`hisi_qm_v3` dialect of mainline `uacce` devices
//! (docs/abi.md section 9): doorbell, DUS region, entry words and statuses.

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
