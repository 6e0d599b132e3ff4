//! The ring driver against a device that answers anything: the soft device, built with
//! `fault-injection`, forges completions and result words chosen by the input (wrong
//! slots, repeats, overruns, other tags, arbitrary status/consumed/produced/checksum).
//! Whatever it does, the driver must not panic or misbehave: every request is answered
//! once or the queue is broken (ProtocolError), no completion claims more output than was
//! offered, a borrowed run appends exactly what it reports and nothing on an error, and
//! closing always works and frees every buffer.

#![no_main]

use std::collections::HashSet;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wd_core::abi::ReqType;
use wd_core::backend::soft::{Fault, SoftOptions};
use wd_core::dma::Domain;
use wd_core::{Direction, Error, Queue, Request};

/// No fault here delays or drops an answer, so a wait this long means one was lost.
const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// Reads the input front to back; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
}

struct Plan {
    borrowed: bool,
    requests: Vec<(ReqType, u32, Vec<u8>, usize)>,
    faults: Vec<(u64, Fault)>,
}

fn plan(input: &[u8]) -> Plan {
    let mut b = Bytes(input);
    let head = b.u8();
    let n = 1 + (head % 6) as usize;
    let borrowed = head & 0x80 != 0;
    let mut requests = Vec::with_capacity(n);
    for i in 0..n {
        let kind = b.u8();
        let req_type = [ReqType::Deflate, ReqType::Zlib, ReqType::Gzip][kind as usize % 3];
        let level = (kind as u32 >> 2) % 10;
        let len = b.u8() as usize * 31;
        let data: Vec<u8> = (0..len).map(|j| (j * (i + 3) / 7) as u8).collect();
        // Room for the output, or (one time in four) less than it needs.
        let space = if kind & 0x80 != 0 && len > 64 {
            len / 8
        } else {
            len + len / 8 + 64
        };
        requests.push((req_type, level, data, space));
    }
    let mut faults = Vec::new();
    while !b.0.is_empty() && faults.len() < 4 {
        let at = (b.u8() % 8) as u64;
        let fault = match b.u8() % 5 {
            0 => Fault::WrongSlot(b.u16()),
            1 => Fault::Repeat,
            2 => Fault::Overrun(b.u8() as u32 * 64),
            3 => Fault::Tag(b.u32()),
            _ => Fault::Forge {
                slot: b.u16() % 16,
                words: [b.u32(), b.u32(), b.u32(), b.u32()],
            },
        };
        faults.push((at, fault));
    }
    Plan {
        borrowed,
        requests,
        faults,
    }
}

fn is_protocol(e: &Error) -> bool {
    matches!(e, Error::Protocol(_))
}

/// Closing works on any queue, broken or not, and frees every buffer it held.
fn close(q: Queue, domain: &Domain) {
    q.close().expect("closing a queue never fails on the soft device");
    assert_eq!(domain.share_count(), 0, "buffers left shared after close");
}

fn sent_and_received(plan: Plan) {
    let domain = Domain::soft();
    let opts = SoftOptions {
        faults: plan.faults,
        ..Default::default()
    };
    let mut q = Queue::open_soft_with(domain.clone(), Direction::Compress, opts).unwrap();
    let mut space = Vec::new();
    for (tag, (req_type, level, data, room)) in plan.requests.iter().enumerate() {
        let mut src = q.alloc(data.len().max(1)).unwrap();
        src.fill(data);
        let dst = q.alloc(*room).unwrap();
        space.push(dst.capacity());
        let req = Request::new(*req_type, src, dst)
            .level(*level)
            .tag(tag as u64);
        if q.send(req).is_err() {
            panic!("an empty ring refused a request");
        }
    }
    let mut seen = HashSet::new();
    while q.outstanding() > 0 {
        let in_flight = q.outstanding();
        match q.recv_timeout(WAIT) {
            Ok(c) => {
                assert!(seen.insert(c.tag), "tag {} handed back twice", c.tag);
                let room = *space.get(c.tag as usize).expect("a tag never sent");
                assert!(c.produced <= room, "{} produced in {room}", c.produced);
                if let Some(d) = &c.dst {
                    assert_eq!(d.len(), c.produced);
                }
                let _ = c.check();
            }
            Err(e) => {
                assert!(is_protocol(&e), "unexpected error {e}");
                assert!(q.is_broken());
                assert_eq!(q.outstanding(), in_flight, "a broken queue handed back");
                break;
            }
        }
    }
    close(q, &domain);
}

fn borrowed(plan: Plan) {
    let domain = Domain::soft();
    let opts = SoftOptions {
        faults: plan.faults,
        ..Default::default()
    };
    let mut q = Queue::open_soft_with(domain.clone(), Direction::Compress, opts).unwrap();
    let mut out = b"kept".to_vec();
    for (tag, (req_type, level, data, room)) in plan.requests.iter().enumerate() {
        let before = out.clone();
        let req = Request::without_buffers(*req_type)
            .level(*level)
            .tag(tag as u64);
        match q.run_borrowed(req, data, &mut out, *room) {
            Ok(c) => {
                assert!(c.produced <= *room, "{} produced in {room}", c.produced);
                assert_eq!(out.len(), before.len() + c.produced);
                assert_eq!(out[..before.len()], before[..], "earlier output changed");
                let _ = c.check();
            }
            Err(e) => {
                assert!(is_protocol(&e), "unexpected error {e}");
                assert_eq!(out, before, "a failed run changed the output");
                break;
            }
        }
    }
    close(q, &domain);
}

fuzz_target!(|input: &[u8]| {
    let plan = plan(input);
    if plan.borrowed {
        borrowed(plan);
    } else {
        sent_and_received(plan);
    }
});
