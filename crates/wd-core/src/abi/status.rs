//! The statuses a device writes back (dw3 bits 7:0, docs/abi.md section 5) and what each
//! means to the caller.

use crate::error::{DataErrorKind, Error};

/// Status values (dw3 bits 7:0). More may come with new devices or dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[non_exhaustive]
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
