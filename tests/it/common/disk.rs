//! Disk cache tests' helpers: the entry files a cache directory holds (found
//! by walking it, not by predicting names from keys), one counter read
//! from a `/metrics` text, and a tamperer that overwrites bytes of a stored
//! object in its entry file while the node runs.
#![allow(dead_code)]

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::origin::Origin;
use super::Server;

/// What the tamperer writes: 17 bytes, as in the attack (issue 18).
pub const TAMPER: &[u8; 17] = b"TAMPERED-17-BYTES";

/// Every entry file (`*.obj`) under `dir`.
pub fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "obj") {
                out.push(p);
            }
        }
    }
    out
}

/// The value of the sample `name` (labels included, as exposed) in a
/// `/metrics` text; panics, showing the text, when it is not there.
pub fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
}

/// The entry file holding `body`, and where in it the body starts (found by
/// content: the tests do not depend on how keys name files).
pub fn entry_of(dir: &Path, body: &[u8]) -> Option<(PathBuf, usize)> {
    entry_files(dir).into_iter().find_map(|p| {
        let bytes = std::fs::read(&p).ok()?;
        let at = bytes.windows(64).position(|w| w == &body[..64])?;
        Some((p, at))
    })
}

/// Overwrites [`TAMPER`] over `body`'s bytes from `offset` in its entry
/// file, in place (same length, same inode), as another process with write
/// access would.
pub fn tamper_at(dir: &Path, body: &[u8], offset: usize) {
    let (path, at) = entry_of(dir, body).expect("the object is on disk");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(TAMPER, (at + offset) as u64).unwrap();
    f.sync_all().unwrap();
}

/// Whether no entry file holds the [`TAMPER`] bytes.
pub fn no_file_holds_the_tampered_bytes(dir: &Path) -> bool {
    entry_files(dir)
        .iter()
        .all(|p| std::fs::read(p).map_or(true, |b| !b.windows(TAMPER.len()).any(|w| w == TAMPER)))
}

/// The tampered entry is gone: fetched again from the origin (once) and
/// stored anew, no file holds the tampered bytes, and the node counted
/// (under `hash`) and logged what it found.
pub fn dropped_and_fetched_again(s: &Server, o: &Origin, path: &str, dir: &Path) {
    assert_eq!(o.count(path), 2, "fetched again once");
    assert!(no_file_holds_the_tampered_bytes(dir));
    let m = s.get("/metrics").text();
    assert_eq!(
        counter(&m, "cdn_edge_disk_bad_entries_total{reason=\"hash\"}"),
        1,
        "{m}"
    );
    assert!(
        s.stderr_text().contains("disk cache entry dropped"),
        "{}",
        s.stderr_text()
    );
}
