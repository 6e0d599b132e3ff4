//! Compresses a file through WarpDrive queues (the soft device when no accelerator is
//! present) into a standard gzip (or zlib/deflate) file.
//!
//! ```text
//! cargo run --release --example compress_file -- INPUT [OUTPUT] [--level N] [--format gzip|zlib|deflate]
//! ```
//! OUTPUT defaults to INPUT.gz. Prints progress on stderr and a summary at the end.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Instant;

use wd_core::zip::{compress_stream, default_opener, Format, ZipOptions};

fn usage() -> ExitCode {
    eprintln!("usage: compress_file INPUT [OUTPUT] [--level 1-9] [--format gzip|zlib|deflate]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut opts = ZipOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--level" | "-l" => match args.next().and_then(|v| v.parse().ok()) {
                Some(l) => opts.level = l,
                _ => return usage(),
            },
            "--format" | "-f" => match args.next().and_then(|v| v.parse::<Format>().ok()) {
                Some(f) => opts.format = f,
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            _ => paths.push(a),
        }
    }
    let (input, output) = match paths.as_slice() {
        [i] => (i.clone(), format!("{i}.gz")),
        [i, o] => (i.clone(), o.clone()),
        _ => return usage(),
    };
    match run(&input, &output, &opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compress_file: {e}");
            let _ = std::fs::remove_file(format!("{output}.part"));
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, output: &str, opts: &ZipOptions) -> Result<(), Box<dyn std::error::Error>> {
    let file = File::open(input).map_err(|e| format!("{input}: {e}"))?;
    let total = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    // Write beside the target and rename on success: a failure leaves no partial output.
    let part = format!("{output}.part");
    let mut writer = BufWriter::with_capacity(1 << 20, File::create(&part)?);
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let mut last_pct = u64::MAX;
    let st = compress_stream(
        &mut reader,
        &mut writer,
        opts,
        &default_opener,
        &mut |i, _| {
            let pct = (i * 100).checked_div(total).unwrap_or(100);
            if tty && pct != last_pct {
                last_pct = pct;
                eprint!("\r{input}: {pct:3}%");
            }
        },
    )?;
    writer.flush()?;
    drop(writer);
    std::fs::rename(&part, output)?;
    let secs = start.elapsed().as_secs_f64();
    if tty {
        eprintln!();
    }
    let dev = wd_core::default_device();
    eprintln!(
        "{input} -> {output}: {} -> {} bytes ({:.1}%), {:.1} MB/s on {} {dev} queue(s)",
        st.bytes_in,
        st.bytes_out,
        100.0 * st.bytes_out as f64 / st.bytes_in.max(1) as f64,
        st.bytes_in as f64 / 1e6 / secs,
        opts.queues,
    );
    Ok(())
}
