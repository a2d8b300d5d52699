//! Disk cache tests' helpers: the entry files a cache directory holds (found
//! by walking it, not by predicting names from keys) and one counter read
//! from a `/metrics` text.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
