//! The history of manifests beside a built tree (`DIR/.cdn-edge/`, a
//! dot-directory the server never serves), and pruning: removing the files
//! that only manifests older than the last N referenced, so a deploy keeps
//! serving the previous versions' assets while caches drain.
//!
//! History entries are named by the hash of the manifest they hold, so two
//! builds of the same tree leave the same history.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::write_atomic;
use crate::manifest::{self, Manifest};

/// Where the history lives inside the output directory.
pub const DIR_NAME: &str = ".cdn-edge";

/// Most manifests remembered; older ones are forgotten (their files are
/// then left alone by `--prune`).
const MAX_HISTORY: usize = 100;

fn history_dir(out: &Path) -> PathBuf {
    out.join(DIR_NAME)
}

fn list_path(out: &Path) -> PathBuf {
    history_dir(out).join("history.json")
}

fn manifest_path(out: &Path, id: &str) -> PathBuf {
    history_dir(out)
        .join("manifests")
        .join(format!("{id}.json"))
}

fn read_list(out: &Path) -> io::Result<Vec<String>> {
    match std::fs::read(list_path(out)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

fn write_list(out: &Path, list: &[String]) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(list).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(&list_path(out), &bytes)
}

/// Records a just-written manifest as the newest in the history.
pub fn record(out: &Path, manifest_bytes: &[u8]) -> io::Result<()> {
    let id = blake3::hash(manifest_bytes).to_hex()[..16].to_string();
    let path = manifest_path(out, &id);
    if !path.exists() {
        write_atomic(&path, manifest_bytes)?;
    }
    let mut list = read_list(out)?;
    if list.first() == Some(&id) {
        return Ok(());
    }
    list.retain(|h| *h != id);
    list.insert(0, id);
    for old in list.split_off(list.len().min(MAX_HISTORY)) {
        let _ = std::fs::remove_file(manifest_path(out, &old));
    }
    write_list(out, &list)
}

/// The newest `n` manifests of the history, newest first (the build in
/// progress not among them: it is recorded when done). Unreadable ones are
/// skipped.
pub fn recent(out: &Path, n: usize) -> io::Result<Vec<Manifest>> {
    let list = read_list(out)?;
    Ok(list
        .iter()
        .take(n)
        .filter_map(|id| manifest::read_file(&manifest_path(out, id)).ok().flatten())
        .collect())
}

/// What pruning removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pruned {
    /// Files removed.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Every path (relative to the output) a manifest accounts for: each
/// fingerprinted file and plain name, with their compressed siblings.
fn paths_of(m: &Manifest) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for (logical, e) in m {
        for base in [logical.as_str(), e.file.as_str()] {
            set.insert(base.to_string());
            for ext in crate::precompress::FORMS.map(|f| f.ext) {
                set.insert(format!("{base}.{ext}"));
            }
        }
        for d in &e.deltas {
            if let Some(hash) = d.hash() {
                for coding in d.encodings.keys() {
                    set.insert(manifest::delta_file(&e.file, &hash, coding));
                }
            }
        }
    }
    set
}

/// Removes the files that only manifests older than the newest `keep`
/// referenced, then forgets those manifests.
pub fn prune(out: &Path, keep: usize) -> io::Result<Pruned> {
    let list = read_list(out)?;
    let keep = keep.max(1).min(list.len());
    let load = |id: &String| -> io::Result<Manifest> {
        manifest::read_file(&manifest_path(out, id))
            .map_err(io::Error::other)
            .map(Option::unwrap_or_default)
    };
    let mut kept = BTreeSet::new();
    for id in &list[..keep] {
        kept.extend(paths_of(&load(id)?));
    }
    let mut pruned = Pruned::default();
    for id in &list[keep..] {
        for rel in paths_of(&load(id)?).difference(&kept) {
            let path = out.join(rel);
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if meta.is_file() {
                    std::fs::remove_file(&path)?;
                    pruned.files += 1;
                    pruned.bytes += meta.len();
                }
            }
        }
        let _ = std::fs::remove_file(manifest_path(out, id));
    }
    write_list(out, &list[..keep])?;
    Ok(pruned)
}
