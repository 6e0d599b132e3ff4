//! `wd-bench`: the Rust programs of the WarpDrive benchmark suite. Each subcommand prints
//! one JSON object on stdout (progress on stderr); `bench/run` drives them, keeps the
//! figures in `bench/out/results.json` and writes `docs/benchmarks.md`.
//!
//! ```text
//! wd-bench ring    [--secs S] [--reps R]              NOP round trips: soft ring vs pipe vs rtrb
//! wd-bench ring-count --mode soft|pipe --requests N [--batch B]   fixed work, for strace -c
//! wd-bench sizes   --corpus F [--mib M] [--reps R]    queue path vs the engine called directly
//! wd-bench queues  --corpus F [--mib M] [--reps R]    compress_stream on 1 vs 2 queues
//! wd-bench gz      [-l N] [-q Q] IN OUT               compress a file (wd-core compress_stream)
//! wd-bench gunzip  IN OUT                             decompress a file (wd-core decompress_stream)
//! wd-bench corpus  --mib M --out F                    build the reproducible mixed corpus
//! ```
//!
//! Benchmarks print figures; none of them checks a time limit.

mod corpus;
mod ring;
mod stats;
mod zipb;

use std::process::ExitCode;

/// Command-line flags: `--name value` pairs and bare words.
pub struct Args {
    words: Vec<String>,
}

impl Args {
    fn new(words: Vec<String>) -> Args {
        Args { words }
    }

    /// The value after `--name` (or `-n`), if any.
    pub fn get(&self, names: &[&str]) -> Option<String> {
        self.words
            .iter()
            .position(|w| names.contains(&w.as_str()))
            .and_then(|i| self.words.get(i + 1).cloned())
    }

    /// A parsed value or a default.
    pub fn num<T: std::str::FromStr>(&self, names: &[&str], default: T) -> T {
        self.get(names)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Words that are neither flags nor flag values.
    pub fn positional(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut skip = false;
        for w in &self.words {
            if skip {
                skip = false;
            } else if w.starts_with('-') && w.len() > 1 {
                skip = true;
            } else {
                out.push(w.clone());
            }
        }
        out
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let cmd = argv.next().unwrap_or_default();
    let args = Args::new(argv.collect());
    let r = match cmd.as_str() {
        "ring" => ring::bench(&args),
        "ring-count" => ring::count(&args),
        "sizes" => zipb::sizes(&args),
        "queues" => zipb::queues(&args),
        "gz" => zipb::gz_file(&args),
        "gunzip" => zipb::gunzip_file(&args),
        "alloc-probe" => zipb::alloc_probe(&args),
        "corpus" => corpus::main(&args),
        _ => {
            eprintln!("usage: wd-bench ring|ring-count|sizes|queues|gz|gunzip|corpus ... (see the source header)");
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wd-bench {cmd}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The error type of the subcommands.
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;
