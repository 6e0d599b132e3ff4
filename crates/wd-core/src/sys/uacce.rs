//! The mainline `uacce` character device's ioctls (`include/uapi/misc/uacce/uacce.h` and
//! `hisi_qm.h`; docs/abi.md section 9.2).

use std::io;
use std::os::fd::BorrowedFd;

use rustix::ioctl::{opcode, NoArg, Opcode, Updater};

/// `UACCE_CMD_START_Q = _IO('W', 0)`.
pub const START_Q: Opcode = opcode::none(b'W', 0);
/// `UACCE_CMD_PUT_Q = _IO('W', 1)`.
pub const PUT_Q: Opcode = opcode::none(b'W', 1);
/// `UACCE_CMD_QM_SET_QP_CTX = _IOWR('H', 10, struct hisi_qp_ctx)`.
pub const QM_SET_QP_CTX: Opcode = opcode::read_write::<QpCtx>(b'H', 10);
/// `UACCE_CMD_QM_SET_QP_INFO = _IOWR('H', 11, struct hisi_qp_info)`.
pub const QM_SET_QP_INFO: Opcode = opcode::read_write::<QpInfo>(b'H', 11);
/// mmap page offset of the MMIO region (`UACCE_QFRT_MMIO`).
pub const QFRT_MMIO: u64 = 0;
/// mmap page offset of the DUS region (`UACCE_QFRT_DUS`).
pub const QFRT_DUS: u64 = 1;

/// `struct hisi_qp_ctx`.
#[repr(C)]
#[derive(Debug, Default)]
struct QpCtx {
    id: u16,
    qc_type: u16,
}

/// `struct hisi_qp_info`.
#[repr(C)]
#[derive(Debug, Default)]
struct QpInfo {
    sqe_size: u32,
    sq_depth: u16,
    cq_depth: u16,
    reserved: u64,
}

const _: () = assert!(std::mem::size_of::<QpCtx>() == 4);
const _: () = assert!(std::mem::size_of::<QpInfo>() == 16);

/// `START_Q`: starts the queue (no argument).
pub fn start_q(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the request takes no argument (a null one is passed).
    unsafe { rustix::ioctl::ioctl(fd, NoArg::<START_Q>::new()) }?;
    Ok(())
}

/// `PUT_Q`: stops the queue (no argument).
pub fn put_q(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the request takes no argument (a null one is passed).
    unsafe { rustix::ioctl::ioctl(fd, NoArg::<PUT_Q>::new()) }?;
    Ok(())
}

/// `QM_SET_QP_CTX` with queue type `qc_type` (0 compress, 1 decompress): returns the
/// queue number the kernel wrote back.
pub fn set_qp_ctx(fd: BorrowedFd<'_>, qc_type: u16) -> io::Result<u16> {
    let mut ctx = QpCtx { id: 0, qc_type };
    // SAFETY: the request reads and writes one `struct hisi_qp_ctx` through the
    // pointer, which `ctx` is (live and exclusive for the call).
    unsafe { rustix::ioctl::ioctl(fd, Updater::<QM_SET_QP_CTX, QpCtx>::new(&mut ctx)) }?;
    Ok(ctx.id)
}

/// `QM_SET_QP_INFO`: the queue's `(sqe_size, sq_depth, cq_depth)`.
pub fn qp_info(fd: BorrowedFd<'_>) -> io::Result<(u32, u16, u16)> {
    let mut info = QpInfo::default();
    // SAFETY: the request reads and writes one `struct hisi_qp_info` through the
    // pointer, which `info` is (live and exclusive for the call).
    unsafe { rustix::ioctl::ioctl(fd, Updater::<QM_SET_QP_INFO, QpInfo>::new(&mut info)) }?;
    Ok((info.sqe_size, info.sq_depth, info.cq_depth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_the_kernel() {
        // The numbers of docs/abi.md section 9.2 (uacce.h and hisi_qm.h).
        assert_eq!(START_Q, 0x5700);
        assert_eq!(PUT_Q, 0x5701);
        assert_eq!(QM_SET_QP_CTX, 0xc004_480a);
        assert_eq!(QM_SET_QP_INFO, 0xc010_480b);
    }
}
