//! Backends: ways to get a device queue. The ring driver (`queue.rs`) is written once; a
//! backend only provides the MMIO page, the ring memory, a DMA domain, an interrupt fd and
//! a way to wake a sleeping software device. Later designs (uacce character devices,
//! iommufd) fit behind the same trait.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

use crate::dma::Domain;
use crate::error::Result;
// The memory views a backend hands the driver: part of this trait, so named here (the
// `ring` module itself is private).
pub use crate::ring::{Mmio, Region, Rings};

pub mod soft;
pub mod uacce;
pub mod vfio;

/// What kind of device serves a queue: decides what the driver must take care of (whether
/// request memory is pinned against the locked-memory limit) and which idle queues may be
/// reused for a call. Spelled `soft` / `vfio` / `uacce` ([`std::str::FromStr`],
/// [`std::fmt::Display`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceKind {
    /// The in-process software device.
    Soft,
    /// An sdmdev mediated device through VFIO.
    Vfio,
    /// A mainline uacce device (hisi_zip on SVA systems): the process's own memory.
    Uacce,
}

impl DeviceKind {
    /// Every kind.
    pub const ALL: [DeviceKind; 3] = [DeviceKind::Soft, DeviceKind::Vfio, DeviceKind::Uacce];

    /// The kind's name: `soft`, `vfio` or `uacce`.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceKind::Soft => "soft",
            DeviceKind::Vfio => "vfio",
            DeviceKind::Uacce => "uacce",
        }
    }

    /// The name device listings ([`crate::sysfs::DeviceEntry::kind`], Python's
    /// `warpdrive.devices()`) show for this kind: the kernel class its devices appear under
    /// (`sdmdev` for VFIO, `uacce`), `soft` for the in-process device.
    pub const fn class_name(self) -> &'static str {
        match self {
            DeviceKind::Soft => "soft",
            DeviceKind::Vfio => "sdmdev",
            DeviceKind::Uacce => "uacce",
        }
    }

    /// True if one device of this kind serves both directions, each queue's chosen when it
    /// opens (soft, uacce); false if a device is made for one direction (an sdmdev type,
    /// whose `flags` name it).
    pub const fn serves_both_directions(self) -> bool {
        match self {
            DeviceKind::Soft | DeviceKind::Uacce => true,
            DeviceKind::Vfio => false,
        }
    }

    /// True if the device pins request memory (a kernel device), so that the work on it
    /// must fit the process's locked-memory limit; the in-process device pins nothing.
    pub const fn pins_pages(self) -> bool {
        match self {
            // uacce: SVA, the device works through the process's page tables.
            DeviceKind::Soft | DeviceKind::Uacce => false,
            DeviceKind::Vfio => true,
        }
    }
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DeviceKind {
    type Err = crate::error::Error;

    /// Reads a kind's name; anything else is [`crate::Error::BadRequest`].
    fn from_str(s: &str) -> Result<DeviceKind> {
        DeviceKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<String> = DeviceKind::ALL.iter().map(|k| format!("'{k}'")).collect();
                crate::error::Error::BadRequest(format!(
                    "device kind must be one of {}, not {s:?}",
                    names.join(", ")
                ))
            })
    }
}

/// A started device queue.
pub trait Backend: Send {
    /// Region 0: registers and doorbells.
    fn mmio(&self) -> &Mmio;
    /// Region 1: the rings.
    fn rings(&self) -> &Rings;
    /// The address space the device works in.
    fn domain(&self) -> &Arc<Domain>;
    /// Queue number inside the parent (goes into doorbells).
    fn sqn(&self) -> u16 {
        0
    }
    /// The fd that becomes readable when an armed interrupt fires, open for as long as the
    /// backend (the queue hands it out as its readiness fd, [`crate::Queue::readiness_fd`]
    /// and [`std::os::fd::AsFd`]).
    fn interrupt_fd(&self) -> BorrowedFd<'_>;
    /// Consumes pending interrupt signals.
    fn clear_interrupt(&self);
    /// Sleeps until the armed interrupt fires or `timeout` passes (`None` = no limit).
    /// Returning early is allowed: the driver checks the ring and its clock again.
    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        crate::wait::readable(&[self.interrupt_fd().as_raw_fd()], timeout)?;
        self.clear_interrupt();
        Ok(())
    }
    /// Wakes a software device that said it sleeps (a system call; the driver calls it
    /// only when the idle register reads 1). A backend whose wake-up can fail must still
    /// guarantee progress (e.g. its device also polls on a timer), so this cannot fail.
    fn kick(&self);
    /// For a device that runs inside the caller's process (the soft device): runs the
    /// requests the ring holds on the calling thread, unless the device is already at work
    /// or held, and says whether it did. A caller that would otherwise only wait for its
    /// request lends its thread this way, which saves waking the device's own thread (and,
    /// on a busy machine, waiting for that thread to get a core). Hardware: `false`.
    fn serve_here(&self) -> bool {
        false
    }
    /// `Err` if the device can no longer answer (its thread died, it was removed).
    fn check_alive(&self) -> Result<()> {
        Ok(())
    }
    /// Stops the device. Every request it read completes first.
    fn stop(&mut self) -> Result<()>;
    /// A short human-readable name (e.g. `soft:compress`).
    fn describe(&self) -> String;
    /// The kind of device this backend drives.
    fn kind(&self) -> DeviceKind;
    /// The ring dialect the device speaks.
    fn dialect(&self) -> crate::abi::Dialect {
        crate::abi::Dialect::V1
    }
}

#[cfg(test)]
mod dialect_tests;
// Both drive the soft device.
#[cfg(all(test, feature = "soft"))]
mod fault_tests;
#[cfg(all(test, feature = "soft"))]
mod lend_tests;
