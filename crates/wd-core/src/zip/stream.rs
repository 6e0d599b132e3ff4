//! What both directions of a whole stream share: waiting on several queues at once
//! ([`recv_any`], also used by the incremental compressor and the piece-index
//! decompression), reading the input in full buffers, and the errors of reading and
//! writing. The compression is in `zip/compress_stream.rs`, the decompression in
//! `zip/decompress_stream.rs`.

use std::io::{self, Read};
use std::os::fd::RawFd;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::queue::{Completion, Queue};
use crate::wait::{self, Policy, Waiter};

/// How long the caller polls before it sleeps on the queues' interrupts. With one queue
/// busy, as that queue judges from the speed it has seen (`Queue::poll_budget`), so a small
/// request never pays a wake-up; with several busy, only briefly: the devices need the CPU
/// more than the caller does.
fn poll_budget(queues: &[Queue]) -> Duration {
    let mut busy = queues.iter().filter(|q| q.outstanding() > 0);
    match (busy.next(), busy.next()) {
        (Some(q), None) => q.poll_budget(),
        _ => Duration::from_micros(50),
    }
}

/// Waits until one of `queues` has a completion and takes all that are ready.
pub(crate) fn recv_any(queues: &mut [Queue], out: &mut Vec<(usize, Completion)>) -> Result<()> {
    let policy = Policy {
        budget: poll_budget(queues),
        nap: None,
        slice: crate::queue::DEVICE_CHECK,
        deadline: None,
    };
    let mut any = AnyQueue {
        queues,
        out,
        got: Vec::new(),
    };
    wait::until(&mut any, &policy)
}

/// Several queues' blocking receive, for [`wait::until`]: ready when any has completions.
struct AnyQueue<'a> {
    queues: &'a mut [Queue],
    out: &'a mut Vec<(usize, Completion)>,
    got: Vec<Completion>,
}

impl Waiter for AnyQueue<'_> {
    type Ready = ();
    type Error = Error;

    fn poll(&mut self) -> Result<Option<()>> {
        for (i, q) in self.queues.iter_mut().enumerate() {
            q.recv_many(&mut self.got, usize::MAX)?;
            self.out.extend(self.got.drain(..).map(|c| (i, c)));
        }
        Ok((!self.out.is_empty()).then_some(()))
    }

    fn arm(&mut self) -> Result<bool> {
        let (mut busy, mut ready) = (false, false);
        for q in self.queues.iter_mut().filter(|q| q.outstanding() > 0) {
            busy = true;
            if !q.arm_interrupt()? {
                ready = true;
            }
        }
        if !busy {
            return Err(Error::Protocol("waiting with nothing in flight".into()));
        }
        if ready {
            self.clear_readiness();
        }
        Ok(!ready)
    }

    fn sleep(&mut self, timeout: Duration) -> Result<()> {
        let busy = || self.queues.iter().filter(|q| q.outstanding() > 0);
        let fds: Vec<RawFd> = busy().map(|q| q.readiness_fd()).collect();
        wait::readable(&fds, Some(timeout))?;
        for q in busy() {
            q.check_device()?;
        }
        self.clear_readiness();
        Ok(())
    }
}

impl AnyQueue<'_> {
    fn clear_readiness(&self) {
        for q in self.queues.iter() {
            q.clear_readiness();
        }
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(super) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The error of reading a stream's input.
pub(super) fn read_error(e: io::Error) -> Error {
    Error::io("reading the input", e)
}

/// The error of writing a stream's output.
pub(super) fn write_error(e: io::Error) -> Error {
    Error::io("writing the output", e)
}
