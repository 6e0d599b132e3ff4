//! The VFIO and sdmdev system calls, with their unsafe parts in one place. Structures come
//! from `vfio-bindings`; request numbers are `_IO(';', 100 + n)` as in `linux/vfio.h`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use vfio_bindings::bindings::vfio as v;

/// `_IO(ty, nr)`: no direction, no size.
const fn io(ty: u8, nr: u32) -> libc::c_ulong {
    ((ty as u32) << 8 | nr) as libc::c_ulong
}

const fn vfio(n: u32) -> libc::c_ulong {
    io(v::VFIO_TYPE, v::VFIO_BASE + n)
}

/// `VFIO_GET_API_VERSION`.
pub const GET_API_VERSION: libc::c_ulong = vfio(0);
/// `VFIO_CHECK_EXTENSION`.
pub const CHECK_EXTENSION: libc::c_ulong = vfio(1);
/// `VFIO_SET_IOMMU`.
pub const SET_IOMMU: libc::c_ulong = vfio(2);
/// `VFIO_GROUP_GET_STATUS`.
pub const GROUP_GET_STATUS: libc::c_ulong = vfio(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const GROUP_SET_CONTAINER: libc::c_ulong = vfio(4);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub const GROUP_GET_DEVICE_FD: libc::c_ulong = vfio(6);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const DEVICE_GET_REGION_INFO: libc::c_ulong = vfio(8);
/// `VFIO_DEVICE_SET_IRQS`.
pub const DEVICE_SET_IRQS: libc::c_ulong = vfio(10);
/// `VFIO_DEVICE_RESET`.
pub const DEVICE_RESET: libc::c_ulong = vfio(11);
/// `VFIO_IOMMU_MAP_DMA`.
pub const IOMMU_MAP_DMA: libc::c_ulong = vfio(13);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub const IOMMU_UNMAP_DMA: libc::c_ulong = vfio(14);
/// `VFIO_SDMDEV_CMD_WAIT = _IO('W', 1)`: argument = timeout in ms, 0 = forever.
pub const SDMDEV_CMD_WAIT: libc::c_ulong = io(b'W', 1);
/// `VFIO_SDMDEV_CMD_KICK = _IO('W', 3)`.
pub const SDMDEV_CMD_KICK: libc::c_ulong = io(b'W', 3);

/// The VFIO API version this driver speaks.
pub const API_VERSION: i32 = v::VFIO_API_VERSION as i32;
/// `VFIO_GROUP_FLAGS_VIABLE`.
pub const GROUP_VIABLE: u32 = v::VFIO_GROUP_FLAGS_VIABLE;

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An ioctl whose argument is a plain value.
pub fn ioctl_val(fd: RawFd, req: libc::c_ulong, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: these requests take their argument by value; no memory is passed.
    check(unsafe { libc::ioctl(fd, req, arg) })
}

/// An ioctl that reads and may write `*arg`.
///
/// # Safety
/// `T` must be the structure the kernel expects for `req` (with a correct `argsz`).
unsafe fn ioctl_ptr<T>(fd: RawFd, req: libc::c_ulong, arg: &mut T) -> io::Result<libc::c_int> {
    // SAFETY: `arg` is a live, exclusive structure of the type the request expects.
    check(unsafe { libc::ioctl(fd, req, arg as *mut T) })
}

/// Opens a file read-write, close-on-exec.
pub fn open_rw(path: &str) -> io::Result<OwnedFd> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    Ok(f.into())
}

/// The group's status flags.
pub fn group_status(group: &OwnedFd) -> io::Result<u32> {
    let mut st = v::vfio_group_status {
        argsz: std::mem::size_of::<v::vfio_group_status>() as u32,
        flags: 0,
    };
    // SAFETY: the request takes a vfio_group_status.
    unsafe { ioctl_ptr(group.as_raw_fd(), GROUP_GET_STATUS, &mut st)? };
    Ok(st.flags)
}

/// Attaches `group` to `container`.
pub fn group_set_container(group: &OwnedFd, container: &OwnedFd) -> io::Result<()> {
    let mut fd: libc::c_int = container.as_raw_fd();
    // SAFETY: the request takes a pointer to the container's fd as an int.
    unsafe { ioctl_ptr(group.as_raw_fd(), GROUP_SET_CONTAINER, &mut fd)? };
    Ok(())
}

/// Gets the device fd of device `name` in `group`.
pub fn group_get_device_fd(group: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the request takes a NUL-terminated device name, alive for the call.
    let fd = check(unsafe { libc::ioctl(group.as_raw_fd(), GROUP_GET_DEVICE_FD, c.as_ptr()) })?;
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// (offset, size) of region `index` of a device.
pub fn region_info(device: &OwnedFd, index: u32) -> io::Result<(u64, u64)> {
    let mut ri = v::vfio_region_info {
        argsz: std::mem::size_of::<v::vfio_region_info>() as u32,
        flags: 0,
        index,
        cap_offset: 0,
        size: 0,
        offset: 0,
    };
    // SAFETY: the request takes a vfio_region_info.
    unsafe { ioctl_ptr(device.as_raw_fd(), DEVICE_GET_REGION_INFO, &mut ri)? };
    Ok((ri.offset, ri.size))
}

/// Routes interrupt `index` of the device to `eventfd` (-1 tears it down).
pub fn set_irq_eventfd(device: &OwnedFd, index: u32, eventfd: RawFd) -> io::Result<()> {
    #[repr(C)]
    struct IrqSetOne {
        set: v::vfio_irq_set,
        fd: i32,
    }
    let mut s = IrqSetOne {
        set: v::vfio_irq_set {
            argsz: std::mem::size_of::<IrqSetOne>() as u32,
            flags: v::VFIO_IRQ_SET_DATA_EVENTFD | v::VFIO_IRQ_SET_ACTION_TRIGGER,
            index,
            start: 0,
            count: 1,
            data: Default::default(),
        },
        fd: eventfd,
    };
    // SAFETY: a vfio_irq_set followed by one eventfd, with argsz covering both.
    unsafe { ioctl_ptr(device.as_raw_fd(), DEVICE_SET_IRQS, &mut s)? };
    Ok(())
}

/// `VFIO_IOMMU_MAP_DMA` of `[vaddr, vaddr + size)` at `iova`, readable and writable.
pub fn map_dma(container: &OwnedFd, vaddr: u64, iova: u64, size: u64) -> io::Result<()> {
    let mut m = v::vfio_iommu_type1_dma_map {
        argsz: std::mem::size_of::<v::vfio_iommu_type1_dma_map>() as u32,
        flags: v::VFIO_DMA_MAP_FLAG_READ | v::VFIO_DMA_MAP_FLAG_WRITE,
        vaddr,
        iova,
        size,
    };
    // SAFETY: the request takes a vfio_iommu_type1_dma_map.
    unsafe { ioctl_ptr(container.as_raw_fd(), IOMMU_MAP_DMA, &mut m)? };
    Ok(())
}

/// `VFIO_IOMMU_UNMAP_DMA` of exactly `[iova, iova + size)`.
pub fn unmap_dma(container: &OwnedFd, iova: u64, size: u64) -> io::Result<()> {
    let mut u = v::vfio_iommu_type1_dma_unmap {
        argsz: std::mem::size_of::<v::vfio_iommu_type1_dma_unmap>() as u32,
        flags: 0,
        iova,
        size,
        data: Default::default(),
    };
    // SAFETY: the request takes a vfio_iommu_type1_dma_unmap (no bitmap).
    unsafe { ioctl_ptr(container.as_raw_fd(), IOMMU_UNMAP_DMA, &mut u)? };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_linux_vfio_h() {
        // Values from the kernel headers (_IO(';', 100 + n) = 0x3b64 + n).
        assert_eq!(GET_API_VERSION, 0x3b64);
        assert_eq!(SET_IOMMU, 0x3b66);
        assert_eq!(GROUP_GET_STATUS, 0x3b67);
        assert_eq!(GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(DEVICE_GET_REGION_INFO, 0x3b6c);
        assert_eq!(DEVICE_SET_IRQS, 0x3b6e);
        assert_eq!(IOMMU_MAP_DMA, 0x3b71);
        assert_eq!(IOMMU_UNMAP_DMA, 0x3b72);
        assert_eq!(SDMDEV_CMD_WAIT, 0x5701);
        assert_eq!(SDMDEV_CMD_KICK, 0x5703);
    }
}
