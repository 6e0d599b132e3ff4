//! A caller that only waits for its request lends its thread to the soft device
//! ([`Backend::serve_here`]): `run_borrowed` gets its answer even when the device's own
//! thread never runs, while plain sends and a held device are left to the device.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::abi::{Direction, ReqType};
use crate::backend::soft::{SoftBackend, SoftControl, SoftOptions};
use crate::dma::Domain;
use crate::error::Error;
use crate::queue::{Queue, Request};

/// Long enough for any loaded machine; only a request nobody serves reaches it.
const WAIT: Duration = Duration::from_secs(60);
const SHORT: Duration = Duration::from_millis(50);

fn queue(stalled: bool, paused: bool) -> (Queue, SoftControl) {
    let opts = SoftOptions {
        stalled_thread: stalled,
        start_paused: paused,
        ..Default::default()
    };
    let b = SoftBackend::start(Domain::soft(), Direction::Compress, opts).unwrap();
    let ctl = b.control();
    (Queue::new(Box::new(b), Direction::Compress), ctl)
}

fn text() -> Vec<u8> {
    (0..65536u32)
        .map(|i| b"warpdrive lends "[i as usize % 16])
        .collect()
}

/// Runs one zlib compression of `data` through `run_borrowed` on another thread; the
/// receiver gets the queue back with the output.
fn run_elsewhere(mut q: Queue, data: Arc<Vec<u8>>) -> mpsc::Receiver<(Queue, Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let req = Request::without_buffers(ReqType::Zlib);
        let c = q.run_borrowed(req, &data, &mut out, data.len() + 4096);
        c.unwrap().check().unwrap();
        let _ = tx.send((q, out));
    });
    rx
}

#[test]
fn a_waiting_caller_runs_its_request_when_the_device_thread_does_not() {
    let (q, _ctl) = queue(true, false);
    let data = Arc::new(text());
    let (q, out) = run_elsewhere(q, Arc::clone(&data))
        .recv_timeout(WAIT)
        .expect("run_borrowed got no answer from a device whose thread never runs");
    assert_eq!(
        miniz_oxide::inflate::decompress_to_vec_zlib(&out).unwrap(),
        *data
    );
    let st = q.stats();
    assert_eq!((st.served_here, st.wakeups), (1, 0), "{st:?}");
}

#[test]
fn a_plain_send_is_left_to_the_device_thread() {
    let (mut q, ctl) = queue(true, false);
    let data = text();
    let mut src = q.alloc(data.len()).unwrap();
    src.fill(&data);
    let dst = q.alloc(data.len() + 4096).unwrap();
    q.send(Request::new(ReqType::Zlib, src, dst)).unwrap();
    // A sender that goes on with other work (an event loop) never runs the device's work.
    let e = q.recv_timeout(Some(SHORT)).unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e}");
    ctl.set_stalled(false);
    let c = q.recv_timeout(Some(WAIT)).unwrap();
    c.check().unwrap();
    assert_eq!(q.stats().served_here, 0);
}

#[test]
fn a_held_device_is_not_served_by_a_waiting_caller() {
    let (q, ctl) = queue(false, true);
    let rx = run_elsewhere(q, Arc::new(text()));
    assert!(
        rx.recv_timeout(SHORT).is_err(),
        "a held device answered a request"
    );
    ctl.resume();
    let (q, _) = rx.recv_timeout(WAIT).expect("no answer after resume");
    assert_eq!(q.stats().served_here, 0);
}
