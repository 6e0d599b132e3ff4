//! The benchmark corpus: mixed real-world content from the system, built reproducibly.
//!
//! Categories (paths sorted, each file capped at 4 MiB, categories interleaved file by
//! file, the whole sequence repeated until the size is reached):
//! documentation and licences (`/usr/share/doc`, `/usr/share/common-licenses`), man pages
//! (decompressed), C headers (`/usr/include`), ELF binaries (`/usr/bin`) and shared
//! libraries (`/usr/lib/x86_64-linux-gnu`), and a sorted list of every path seen. The
//! content depends on the installed packages; the CRC-32 printed identifies it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::{Args, BoxResult};

const CAP: usize = 4 << 20;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Ok(ft) = e.file_type() else { continue };
        let p = e.path();
        if ft.is_dir() {
            walk(&p, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

fn is_elf(p: &Path) -> bool {
    let mut m = [0u8; 4];
    fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut m))
        .is_ok()
        && m == *b"\x7fELF"
}

fn read_capped(p: &Path) -> Option<Vec<u8>> {
    let f = fs::File::open(p).ok()?;
    let mut v = Vec::new();
    if p.extension().is_some_and(|e| e == "gz") {
        flate2::read::GzDecoder::new(f)
            .take(CAP as u64)
            .read_to_end(&mut v)
            .ok()?;
    } else {
        f.take(CAP as u64).read_to_end(&mut v).ok()?;
    }
    (!v.is_empty()).then_some(v)
}

/// The corpus's categories: name and files.
fn categories() -> Vec<(&'static str, Vec<PathBuf>)> {
    let list = |dirs: &[&str], keep: &dyn Fn(&Path) -> bool| {
        let mut v = Vec::new();
        for d in dirs {
            walk(Path::new(d), &mut v);
        }
        v.retain(|p| keep(p));
        v.sort();
        v
    };
    vec![
        (
            "docs+licences",
            list(&["/usr/share/common-licenses", "/usr/share/doc"], &|p| {
                p.extension().is_none_or(|e| e != "gz")
            }),
        ),
        (
            "man pages",
            list(&["/usr/share/man"], &|p| {
                p.to_string_lossy().contains("/man/man") && p.extension().is_some_and(|e| e == "gz")
            }),
        ),
        (
            "C headers",
            list(&["/usr/include"], &|p| {
                p.extension().is_some_and(|e| e == "h")
            }),
        ),
        ("ELF /usr/bin", list(&["/usr/bin"], &|p| is_elf(p))),
        (
            "ELF /usr/lib",
            list(&["/usr/lib/x86_64-linux-gnu"], &|p| {
                p.to_string_lossy().contains(".so") && is_elf(p)
            }),
        ),
    ]
}

/// Byte shares of the categories, in 64ths, in the order of [`categories`] plus the path
/// list last.
const SHARES: [usize; 6] = [11, 10, 13, 13, 13, 4];

/// Builds `mib` MiB of corpus in memory; returns it and a description.
///
/// Each category gets its share of the size; its files (in sorted order) are read until
/// the share is filled or the files run out, then repeated. The output takes one file from
/// each category in turn.
pub fn build(mib: usize) -> (Vec<u8>, serde_json::Value) {
    let size = mib << 20;
    let cats = categories();
    let mut paths: Vec<String> = cats
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.display().to_string()))
        .collect();
    paths.sort();
    let listing = (paths.join("\n") + "\n").into_bytes();
    let mut names: Vec<&str> = cats.iter().map(|(n, _)| *n).collect();
    names.push("sorted path list");
    let budgets: Vec<usize> = SHARES.iter().map(|s| size * s / 64).collect();
    // Unique content per category.
    let mut pools: Vec<Vec<Vec<u8>>> = Vec::new();
    for (ci, (_, files)) in cats.iter().enumerate() {
        let mut pool = Vec::new();
        let mut have = 0;
        for p in files {
            if have >= budgets[ci] {
                break;
            }
            if let Some(d) = read_capped(p) {
                have += d.len();
                pool.push(d);
            }
        }
        pools.push(pool);
    }
    pools.push(listing.chunks(1 << 20).map(|c| c.to_vec()).collect());
    let mut out = Vec::with_capacity(size);
    let mut written = vec![0usize; pools.len()];
    let mut next = vec![0usize; pools.len()];
    let last = budgets.len() - 1;
    let mut budgets = budgets;
    // Rounding leftovers go to the path list.
    budgets[last] += size - budgets.iter().sum::<usize>();
    loop {
        let mut any = false;
        for ci in 0..pools.len() {
            if pools[ci].is_empty() || written[ci] >= budgets[ci] {
                continue;
            }
            let d = &pools[ci][next[ci] % pools[ci].len()];
            next[ci] += 1;
            let n = d.len().min(budgets[ci] - written[ci]);
            out.extend_from_slice(&d[..n]);
            written[ci] += n;
            any = true;
        }
        if !any {
            break;
        }
    }
    // A category with no files leaves a gap: fill it by repeating the output so far.
    while out.len() < size && !out.is_empty() {
        let n = (size - out.len()).min(out.len());
        out.extend_from_within(..n);
    }
    let mut comp = serde_json::Map::new();
    for (ci, name) in names.iter().enumerate() {
        comp.insert(
            name.to_string(),
            json!({"unique_files": pools[ci].len(),
                   "unique_bytes": pools[ci].iter().map(Vec::len).sum::<usize>(),
                   "bytes_in_corpus": written[ci]}),
        );
    }
    let desc = json!({
        "bytes": out.len(),
        "crc32": format!("{:08x}", crc32fast::hash(&out)),
        "composition": comp,
    });
    (out, desc)
}

/// `wd-bench corpus --mib M --out F`: writes the corpus, prints its description.
pub fn main(args: &Args) -> BoxResult<()> {
    let mib: usize = args.num(&["--mib"], 256);
    let out = args.get(&["--out"]).ok_or("--out FILE is required")?;
    let (data, desc) = build(mib);
    let tmp = format!("{out}.part");
    let mut f = fs::File::create(&tmp)?;
    f.write_all(&data)?;
    f.sync_all()?;
    fs::rename(&tmp, &out)?;
    println!("{desc}");
    Ok(())
}
