//! The VFIO and sdmdev system calls, with their unsafe parts in one place. Structures come
//! from `vfio-bindings`; request numbers are `_IO(';', 100 + n)` as in `linux/vfio.h`.

//! The VFIO and sdmdev system calls, with their unsafe parts in one place. Structures come
//! from `vfio-bindings`; request numbers are `_IO(';', 100 + n)` as in `linux/vfio.h`, and
//! the calls go through `rustix::ioctl`.
//!
//! VFIO's numbers are `_IO` (no direction, no size) even where a structure is passed by
//! pointer: the opcode is built with `opcode::none`, and the argument (pointer or value) is
//! chosen by the ioctl pattern, not by the number.

use std::ffi::{c_void, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use rustix::ioctl::{opcode, IntegerSetter, Ioctl, IoctlOutput, NoArg, Opcode, Setter, Updater};
use vfio_bindings::bindings::vfio as v;

const fn vfio(n: u32) -> Opcode {
    opcode::none(v::VFIO_TYPE, (v::VFIO_BASE + n) as u8)
}

/// `VFIO_GET_API_VERSION`.
pub const GET_API_VERSION: Opcode = vfio(0);
/// `VFIO_CHECK_EXTENSION`.
pub const CHECK_EXTENSION: Opcode = vfio(1);
/// `VFIO_SET_IOMMU`.
pub const SET_IOMMU: Opcode = vfio(2);
/// `VFIO_GROUP_GET_STATUS`.
pub const GROUP_GET_STATUS: Opcode = vfio(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub const GROUP_SET_CONTAINER: Opcode = vfio(4);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub const GROUP_GET_DEVICE_FD: Opcode = vfio(6);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub const DEVICE_GET_REGION_INFO: Opcode = vfio(8);
/// `VFIO_DEVICE_SET_IRQS`.
pub const DEVICE_SET_IRQS: Opcode = vfio(10);
/// `VFIO_DEVICE_RESET`.
pub const DEVICE_RESET: Opcode = vfio(11);
/// `VFIO_IOMMU_MAP_DMA`.
pub const IOMMU_MAP_DMA: Opcode = vfio(13);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub const IOMMU_UNMAP_DMA: Opcode = vfio(14);
/// `VFIO_SDMDEV_CMD_WAIT = _IO('W', 1)`: argument = timeout in ms by value, 0 = forever.
pub const SDMDEV_CMD_WAIT: Opcode = opcode::none(b'W', 1);
/// `VFIO_SDMDEV_CMD_KICK = _IO('W', 3)`.
pub const SDMDEV_CMD_KICK: Opcode = opcode::none(b'W', 3);

/// The VFIO API version this driver speaks.
pub const API_VERSION: i32 = v::VFIO_API_VERSION as i32;
/// `VFIO_GROUP_FLAGS_VIABLE`.
pub const GROUP_VIABLE: u32 = v::VFIO_GROUP_FLAGS_VIABLE;

/// An ioctl whose result is its return value (rustix's patterns drop it): the argument is
/// passed as the raw word given, a value or a pointer to memory the kernel only reads.
struct Returning<const OPCODE: Opcode> {
    arg: *mut c_void,
}

// SAFETY: the opcode and argument are passed through unchanged; the output is the return
// value alone (no memory is read back). Each call of `rustix::ioctl::ioctl` with one
// vouches, in its own SAFETY comment, that the argument is what the request expects.
unsafe impl<const OPCODE: Opcode> Ioctl for Returning<OPCODE> {
    type Output = IoctlOutput;
    // The kernel writes no memory of ours for these requests; claiming it may is the
    // conservative choice.
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        OPCODE
    }

    fn as_ptr(&mut self) -> *mut c_void {
        self.arg
    }

    unsafe fn output_from_ptr(out: IoctlOutput, _: *mut c_void) -> rustix::io::Result<IoctlOutput> {
        Ok(out)
    }
}

/// `VFIO_GET_API_VERSION` (no argument): the container's API version.
pub fn api_version(container: impl AsFd) -> io::Result<i32> {
    let call = Returning::<GET_API_VERSION> {
        arg: std::ptr::null_mut(),
    };
    // SAFETY: the request takes no argument.
    Ok(unsafe { rustix::ioctl::ioctl(container, call) }?)
}

/// `VFIO_CHECK_EXTENSION` of `extension` (by value): > 0 if the container supports it.
pub fn check_extension(container: impl AsFd, extension: u32) -> io::Result<i32> {
    let call = Returning::<CHECK_EXTENSION> {
        arg: extension as usize as *mut c_void,
    };
    // SAFETY: the request takes the extension number by value; no memory is passed.
    Ok(unsafe { rustix::ioctl::ioctl(container, call) }?)
}

/// `VFIO_SET_IOMMU` to IOMMU type `iommu_type` (by value).
pub fn set_iommu(container: impl AsFd, iommu_type: u32) -> io::Result<()> {
    // SAFETY: the request takes the IOMMU type by value; no memory is passed.
    unsafe {
        rustix::ioctl::ioctl(
            container,
            IntegerSetter::<SET_IOMMU>::new_usize(iommu_type as usize),
        )
    }?;
    Ok(())
}

/// `VFIO_DEVICE_RESET` (no argument).
pub fn device_reset(device: impl AsFd) -> io::Result<()> {
    // SAFETY: the request takes no argument (a null one is passed).
    unsafe { rustix::ioctl::ioctl(device, NoArg::<DEVICE_RESET>::new()) }?;
    Ok(())
}

/// `VFIO_SDMDEV_CMD_KICK` (no argument): wakes a soft device.
pub fn sdmdev_kick(device: impl AsFd) -> io::Result<()> {
    // SAFETY: the request takes no argument (a null one is passed).
    unsafe { rustix::ioctl::ioctl(device, NoArg::<SDMDEV_CMD_KICK>::new()) }?;
    Ok(())
}

/// `VFIO_SDMDEV_CMD_WAIT` for up to `ms` milliseconds (by value; 0 = forever).
pub fn sdmdev_wait(device: impl AsFd, ms: u32) -> io::Result<()> {
    // SAFETY: the request takes the timeout by value; no memory is passed.
    unsafe {
        rustix::ioctl::ioctl(
            device,
            IntegerSetter::<SDMDEV_CMD_WAIT>::new_usize(ms as usize),
        )
    }?;
    Ok(())
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
    // SAFETY: the request reads `argsz` and writes the flags of one vfio_group_status
    // through the pointer, which `st` is.
    unsafe { rustix::ioctl::ioctl(group, Updater::<GROUP_GET_STATUS, _>::new(&mut st)) }?;
    Ok(st.flags)
}

/// Attaches `group` to `container`.
pub fn group_set_container(group: &OwnedFd, container: &OwnedFd) -> io::Result<()> {
    let fd: std::ffi::c_int = container.as_raw_fd();
    // SAFETY: the request reads the container's descriptor as an int through the pointer
    // (Setter passes a pointer to its copy of `fd`).
    unsafe {
        rustix::ioctl::ioctl(
            group,
            Setter::<GROUP_SET_CONTAINER, std::ffi::c_int>::new(fd),
        )
    }?;
    Ok(())
}

/// Gets the device fd of device `name` in `group`.
pub fn group_get_device_fd(group: &OwnedFd, name: &str) -> io::Result<OwnedFd> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let call = Returning::<GROUP_GET_DEVICE_FD> {
        arg: c.as_ptr().cast_mut().cast(),
    };
    // SAFETY: the request reads a NUL-terminated device name through the pointer; `c` is
    // alive for the call. It returns a new descriptor.
    let fd = unsafe { rustix::ioctl::ioctl(group, call) }?;
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
    // SAFETY: the request reads and writes one vfio_region_info through the pointer, which
    // `ri` is (argsz = its size: no capability chain is asked for).
    unsafe { rustix::ioctl::ioctl(device, Updater::<DEVICE_GET_REGION_INFO, _>::new(&mut ri)) }?;
    Ok((ri.offset, ri.size))
}

/// `struct vfio_irq_set` with one eventfd as its data.
#[repr(C)]
struct IrqSetOne {
    set: v::vfio_irq_set,
    fd: i32,
}

/// Routes interrupt `index` of the device to `eventfd` (-1 tears it down).
pub fn set_irq_eventfd(device: &OwnedFd, index: u32, eventfd: RawFd) -> io::Result<()> {
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
    // SAFETY: the request reads a vfio_irq_set followed by one eventfd through the
    // pointer, with argsz covering both, which `s` is.
    unsafe { rustix::ioctl::ioctl(device, Updater::<DEVICE_SET_IRQS, _>::new(&mut s)) }?;
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
    // SAFETY: the request reads one vfio_iommu_type1_dma_map through the pointer, which
    // `m` is.
    unsafe { rustix::ioctl::ioctl(container, Updater::<IOMMU_MAP_DMA, _>::new(&mut m)) }?;
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
    // SAFETY: the request reads one vfio_iommu_type1_dma_unmap (no bitmap) through the
    // pointer, which `u` is, and writes back the size unmapped.
    unsafe { rustix::ioctl::ioctl(container, Updater::<IOMMU_UNMAP_DMA, _>::new(&mut u)) }?;
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
        assert_eq!(CHECK_EXTENSION, 0x3b65);
        assert_eq!(GROUP_SET_CONTAINER, 0x3b68);
        assert_eq!(DEVICE_RESET, 0x3b6f);
        // kernel/include/uapi/sdmdev.h.
        assert_eq!(SDMDEV_CMD_WAIT, 0x5701);
        assert_eq!(SDMDEV_CMD_KICK, 0x5703);
    }

    #[test]
    fn structures_have_the_kernels_sizes() {
        use std::mem::{offset_of, size_of};
        // The sizes the kernel checks `argsz` against (linux/vfio.h, 64-bit).
        assert_eq!(size_of::<v::vfio_group_status>(), 8);
        assert_eq!(size_of::<v::vfio_region_info>(), 32);
        assert_eq!(size_of::<v::vfio_irq_set>(), 20);
        assert_eq!(size_of::<v::vfio_iommu_type1_dma_map>(), 32);
        assert_eq!(size_of::<v::vfio_iommu_type1_dma_unmap>(), 24);
        // set_irq_eventfd's structure: the eventfd right after the 20-byte header.
        assert_eq!(size_of::<IrqSetOne>(), 24);
        assert_eq!(offset_of!(IrqSetOne, fd), 20);
    }
}
