//! Backends: ways to get a device queue. The ring driver (`queue.rs`) is written once; a
//! backend only provides the MMIO page, the ring memory, a DMA domain, an interrupt fd and
//! a way to wake a sleeping software device. Later designs (uacce character devices,
//! iommufd) fit behind the same trait.

use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use crate::dma::Domain;
use crate::error::Result;
use crate::ring::{Mmio, Rings};

pub mod soft;
pub mod vfio;

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
    /// The fd that becomes readable when an armed interrupt fires.
    fn interrupt_fd(&self) -> RawFd;
    /// Consumes pending interrupt signals.
    fn clear_interrupt(&self);
    /// Sleeps until the armed interrupt fires or `timeout` passes (`None` = no limit).
    /// Returning early is allowed: the driver checks the ring and its clock again.
    fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        crate::sys::poll_readable(&[self.interrupt_fd()], timeout)
            .map_err(|e| crate::error::Error::io("waiting for the device interrupt", e))?;
        self.clear_interrupt();
        Ok(())
    }
    /// Wakes a software device that said it sleeps (a system call; the driver calls it
    /// only when the idle register reads 1). A backend whose wake-up can fail must still
    /// guarantee progress (e.g. its device also polls on a timer), so this cannot fail.
    fn kick(&self);
    /// `Err` if the device can no longer answer (its thread died, it was removed).
    fn check_alive(&self) -> Result<()> {
        Ok(())
    }
    /// Stops the device. Every request it read completes first.
    fn stop(&mut self) -> Result<()>;
    /// A short human-readable name (e.g. `soft:compress`).
    fn describe(&self) -> String;
}

#[cfg(test)]
mod fault_tests;
