//! Typed errors. Each says what went wrong and what to do next.

use std::io;

/// Everything the driver can report (more kinds may come: a `match` needs a `_` arm).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The submission ring has no free slot. Receive completions, then send again.
    #[error("queue full: receive completions before sending more")]
    QueueFull,
    /// Nothing completed in time.
    #[error("timed out waiting for the device")]
    Timeout,
    /// The device reported an address it was not allowed to reach (an IOMMU fault).
    #[error("DMA fault: the request named memory that was not shared with the device")]
    DmaFault,
    /// The destination was too small for the result.
    #[error("output buffer too small for the result")]
    OutputTooSmall,
    /// The input is not a valid stream of the requested format, or decodes to more than
    /// the caller allowed: [`DataError::kind`] says which.
    #[error("{0}")]
    BadData(DataError),
    /// The request is malformed or does not fit the queue.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The device answered with a status this driver does not know.
    #[error("device status {status:#04x} is unknown to this driver")]
    DeviceStatus {
        /// The raw status byte.
        status: u8,
    },
    /// No device of the requested kind is present.
    #[error("no device: {0}")]
    NoDevice(String),
    /// The operating system refused access.
    #[error("permission denied: {0}")]
    Permission(String),
    /// The device could not pin a request's memory: the process's locked-memory limit
    /// (`RLIMIT_MEMLOCK`) would be exceeded. Raise the limit or give the process
    /// `CAP_IPC_LOCK` (the text says how).
    #[error("{}", crate::memlock::describe(*.needed, *.limit))]
    MemlockLimit {
        /// Bytes the request (or the smallest job) needs pinned, page-rounded, if known.
        needed: Option<u64>,
        /// The soft `RLIMIT_MEMLOCK` in bytes when the error was made (`None`: unlimited).
        limit: Option<u64>,
    },
    /// Memory could not be shared with the device (e.g. RLIMIT_MEMLOCK).
    #[error("cannot share memory with the device: {0}")]
    Share(String),
    /// The queue belongs to the process that opened it; this one is a fork child.
    #[error("queue used after fork: a queue belongs to the process that opened it; open a new one in the child")]
    Forked,
    /// The queue was closed or its device stopped.
    #[error("queue is closed")]
    Closed,
    /// The device broke the protocol (e.g. a completion for a slot with no request).
    #[error("device protocol error: {0}")]
    Protocol(String),
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What the driver was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps an `io::Error` with what the driver was doing, mapping EPERM/EACCES to
    /// [`Error::Permission`].
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        let context = context.into();
        if source.kind() == io::ErrorKind::PermissionDenied {
            return Error::Permission(format!("{context}: {source}"));
        }
        Error::Io { context, source }
    }
}

/// What is wrong with an input that does not decode. The messages are defined here only.
/// More kinds may come ([`DataErrorKind::ALL`] lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// Not a stream of the format at all (gzip: bad magic bytes; zlib: the header check
    /// fails; anything: empty input).
    NotCompressed,
    /// A header of the right kind with a field zlib refuses (method, reserved flags, window
    /// size, preset dictionary, header CRC).
    BadHeader,
    /// The input ends inside the stream.
    Truncated,
    /// The compressed data is invalid (bad block type, bad Huffman code, distance too far
    /// back, ...).
    Corrupt,
    /// The trailer's checksum or length does not match the decoded data.
    Checksum,
    /// Bytes after the end of the stream that are not another gzip member (or, for gzip,
    /// zero padding).
    TrailingGarbage,
    /// The output would exceed the caller's limit (`max_output`).
    OutputLimit,
}

impl DataErrorKind {
    /// Every kind, for tests and bindings.
    pub const ALL: [DataErrorKind; 7] = [
        DataErrorKind::NotCompressed,
        DataErrorKind::BadHeader,
        DataErrorKind::Truncated,
        DataErrorKind::Corrupt,
        DataErrorKind::Checksum,
        DataErrorKind::TrailingGarbage,
        DataErrorKind::OutputLimit,
    ];

    /// The general message of this kind; [`DataError`] may add a detail after it.
    pub fn message(self) -> &'static str {
        match self {
            DataErrorKind::NotCompressed => "not a compressed stream of this format",
            DataErrorKind::BadHeader => "bad stream header",
            DataErrorKind::Truncated => "input ends inside the compressed stream (truncated)",
            DataErrorKind::Corrupt => "corrupt compressed data",
            DataErrorKind::Checksum => {
                "checksum mismatch: the trailer's checksum or length does not match the data"
            }
            DataErrorKind::TrailingGarbage => "trailing garbage after the compressed stream",
            DataErrorKind::OutputLimit => "decompressed output exceeds the limit",
        }
    }

    /// A short stable name (the Python exception classes are chosen by it).
    pub fn name(self) -> &'static str {
        match self {
            DataErrorKind::NotCompressed => "not_compressed",
            DataErrorKind::BadHeader => "bad_header",
            DataErrorKind::Truncated => "truncated",
            DataErrorKind::Corrupt => "corrupt",
            DataErrorKind::Checksum => "checksum",
            DataErrorKind::TrailingGarbage => "trailing_garbage",
            DataErrorKind::OutputLimit => "output_limit",
        }
    }
}

/// A decoding error: its kind and the message that says what is wrong. Reads as the
/// message (`&str`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    kind: DataErrorKind,
    msg: String,
}

impl DataError {
    /// An error of `kind` with its message, followed by `detail` if not empty.
    pub fn new(kind: DataErrorKind, detail: &str) -> DataError {
        let msg = if detail.is_empty() {
            kind.message().to_string()
        } else {
            format!("{}: {detail}", kind.message())
        };
        DataError { kind, msg }
    }

    /// What is wrong.
    pub fn kind(&self) -> DataErrorKind {
        self.kind
    }
}

impl From<DataErrorKind> for DataError {
    fn from(kind: DataErrorKind) -> DataError {
        DataError::new(kind, "")
    }
}

impl std::ops::Deref for DataError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.msg
    }
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl Error {
    /// A [`Error::BadData`] of `kind`, with `detail` after the kind's message.
    pub fn data(kind: DataErrorKind, detail: &str) -> Error {
        Error::BadData(DataError::new(kind, detail))
    }
}

impl Error {
    /// Fills in the pinned bytes of a [`Error::MemlockLimit`] that does not know them yet;
    /// any other error is returned unchanged.
    pub fn with_pinned(self, bytes: u64) -> Error {
        match self {
            Error::MemlockLimit {
                needed: None,
                limit,
            } if bytes > 0 => Error::MemlockLimit {
                needed: Some(bytes),
                limit,
            },
            e => e,
        }
    }
}

/// Result with the driver's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
