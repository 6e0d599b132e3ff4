//! `WARPDRIVE_DEVICE` as the one-shot calls read it. A test binary of its own: it changes
//! the process's environment, which no other test may see.

use wd_core::{zip, Error, Format};

#[test]
fn a_bad_device_choice_fails_a_call_even_with_an_idle_queue_in_the_pool() {
    let before = std::env::var_os("WARPDRIVE_DEVICE");
    // A call under the environment the suite runs in leaves an idle queue in the pool.
    let packed = zip::compress(b"warpdrive", Format::Gzip, 1).unwrap();
    std::env::set_var("WARPDRIVE_DEVICE", "bogus");
    let compressed = zip::compress(b"warpdrive", Format::Gzip, 1);
    let decompressed = zip::decompress(&packed, Format::Gzip);
    match before {
        Some(v) => std::env::set_var("WARPDRIVE_DEVICE", v),
        None => std::env::remove_var("WARPDRIVE_DEVICE"),
    }
    for r in [compressed, decompressed] {
        match r {
            Err(Error::BadRequest(m)) => assert!(m.contains("WARPDRIVE_DEVICE"), "{m}"),
            r => panic!("want BadRequest naming WARPDRIVE_DEVICE, got {r:?}"),
        }
    }
    // The pooled queue is still there and still works once the value is good again.
    assert_eq!(
        zip::decompress(&packed, Format::Gzip).unwrap(),
        b"warpdrive"
    );
}
