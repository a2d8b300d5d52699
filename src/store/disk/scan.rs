//! The background rebuild of the disk cache's index after `open`: one pass
//! over the fan-out directories, a `readdir` and a `stat` per file (no file
//! is opened unless a prefix was purged during the pass), deleting temp
//! files of earlier processes; then, with the index complete, a pass that
//! reads the key of each entry from its header, and the removal of the old
//! (version 1) layout.
//!
//! Not the full check of entries (deferred to the first `get`, which checks
//! everything) and not a writer of entries.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::format::{
    charged, is_lower_hex, nanos, parse_name, unlink, Id, FAN_DIGITS, OBJ_SUFFIX, TMP_SUFFIX,
};
use super::head::MIN_FILE_LEN;
use super::read::{read_key, KeyRead};
use super::Shared;

/// A rebuild in progress: the directories still to scan.
pub(super) struct Rebuild {
    /// Fan-out directories (name, path) not scanned yet.
    todo: Vec<(String, PathBuf)>,
    /// Version 1 first-level directories (`ab/`), deleted at the end.
    old: Vec<PathBuf>,
    started: Instant,
}

/// A file the scan found, not yet indexed.
struct Found {
    id: Id,
    len: u64,
    stamp: u64,
    /// Read from the header only when a prefix was purged during the scan.
    key: Option<String>,
    /// Read with the key.
    tags: Option<super::tagged::Tags>,
    /// Its header was read and is not ours.
    bad: bool,
}

impl Rebuild {
    /// Lists the cache directory (one `readdir`).
    pub fn start(shared: &Shared) -> Rebuild {
        let (mut todo, mut old) = (Vec::new(), Vec::new());
        match fs::read_dir(&shared.dir) {
            Ok(rd) => {
                for ent in rd.flatten() {
                    let Ok(name) = ent.file_name().into_string() else {
                        continue;
                    };
                    if !is_lower_hex(&name) || !ent.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    match name.len() {
                        FAN_DIGITS => todo.push((name, ent.path())),
                        2 => old.push(ent.path()),
                        _ => {}
                    }
                }
            }
            Err(e) => {
                tracing::warn!(path = %shared.dir.display(), error = %e, "disk cache: cannot list")
            }
        }
        Rebuild {
            todo,
            old,
            started: Instant::now(),
        }
    }

    /// Scans one more directory; `false` when none is left.
    pub fn step(&mut self, shared: &Shared) -> bool {
        let Some((name, path)) = self.todo.pop() else {
            return false;
        };
        if let Err(e) = scan_dir(shared, &name, &path) {
            // The entries not indexed are still read by `get` on demand
            // until the rebuild ends, and evicted never: at most a leak
            // until the next restart.
            tracing::warn!(error = %e, "disk cache: directory scan failed");
        }
        true
    }

    /// Ends the rebuild: the index is complete and enforces the bound.
    pub fn finish(&self, shared: &Shared) {
        let victims = {
            let mut ix = shared.lock();
            ix.finish_rebuild();
            ix.evict(shared.max_bytes)
        };
        shared.unlink_victims(victims);
        let (bytes, objects) = (
            shared.counters.bytes.load(Ordering::Relaxed),
            shared.counters.objects.load(Ordering::Relaxed),
        );
        shared.set_ready();
        tracing::info!(
            objects,
            bytes,
            ms = self.started.elapsed().as_millis() as u64,
            "disk cache index rebuilt"
        );
    }

    /// After the rebuild: reads the key of every entry not read yet (so
    /// that purges need no file I/O, and bad headers are found early), then
    /// deletes the old layout. Stops early if the cache is dropped.
    pub fn after(self, shared: &Shared) {
        let todo: Vec<(Id, u64)> = {
            let ix = shared.lock();
            ix.entries()
                .filter(|(_, e)| e.key.is_none() || e.tags.is_none())
                .map(|(id, e)| (id, e.generation))
                .collect()
        };
        let (mut bad_count, mut old_count) = (0, 0);
        for batch in todo.chunks(KEY_BATCH) {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            let (_, bad, old) = shared.learn_keys(batch, None, true);
            bad_count += bad.len();
            old_count += old.len();
            shared.unlink_victims(bad);
            shared.unlink_victims(old);
        }
        tracing::info!(
            read = todo.len(),
            bad = bad_count,
            ms = self.started.elapsed().as_millis() as u64,
            "disk cache keys read"
        );
        if old_count > 0 {
            tracing::info!(
                removed = old_count,
                "disk cache: deleted entries of an older format (fetched again when asked for)"
            );
        }
        let mut removed = 0;
        for d in &self.old {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            removed += remove_old_layout(d);
        }
        if removed > 0 {
            tracing::info!(removed, "disk cache: deleted entries of the old layout");
        }
    }
}

/// Keys read per lock acquisition by the key pass.
const KEY_BATCH: usize = 256;

/// Runs a whole rebuild, stopping early if the cache is dropped.
pub(super) fn run(shared: &Shared) {
    let mut rebuild = Rebuild::start(shared);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if !rebuild.step(shared) {
            break;
        }
    }
    rebuild.finish(shared);
    rebuild.after(shared);
}

/// Indexes the entries of one fan-out directory not indexed yet, deleting
/// other processes' temp files and malformed entry names.
fn scan_dir(shared: &Shared, fan: &str, dir: &Path) -> io::Result<()> {
    let ours = format!(".{}.", shared.tag);
    let mut names = Vec::new();
    for ent in fs::read_dir(dir).map_err(|e| super::format::at(dir, e))? {
        let ent = ent.map_err(|e| super::format::at(dir, e))?;
        let Ok(file) = ent.file_name().into_string() else {
            continue;
        };
        if file.ends_with(TMP_SUFFIX) {
            if !file.contains(&ours) {
                tracing::debug!(path = %ent.path().display(), "deleting leftover temp file");
                let _ = unlink(&ent.path());
            }
        } else if file.ends_with(OBJ_SUFFIX) {
            match parse_name(fan, &file) {
                Some(id) => names.push((id, ent)),
                // Not any key's path, so no entry of ours: garbage.
                None => {
                    let _ = unlink(&ent.path());
                }
            }
        }
    }
    {
        let ix = shared.lock();
        names.retain(|(id, _)| ix.slot(*id).is_none());
    }
    let mut found = Vec::with_capacity(names.len());
    let mut doomed = Vec::new();
    for (id, ent) in names {
        // fstatat on the directory, no symlink followed.
        let md = match ent.metadata() {
            Ok(md) if md.is_file() => md,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(super::format::at(&ent.path(), e)),
        };
        let len = md.len();
        if len < MIN_FILE_LEN || charged(len) > shared.max_bytes {
            doomed.push(id);
            continue;
        }
        let stamp = md.modified().map_or(0, nanos);
        found.push(Found {
            id,
            len,
            stamp,
            key: None,
            tags: None,
            bad: false,
        });
    }
    let mut keys_read = false;
    let victims = loop {
        let purging = !shared.lock().purged.is_empty();
        if purging && !keys_read {
            read_keys(shared, &mut found);
            keys_read = true;
        }
        let mut ix = shared.lock();
        if !ix.purged.is_empty() && !keys_read {
            continue; // a purge came in meanwhile: keys needed after all
        }
        for f in found.drain(..) {
            if ix.slot(f.id).is_some() {
                continue; // indexed by a put or get, or gone since
            }
            if f.bad || f.key.as_deref().is_some_and(|k| ix.purged_match(k)) {
                ix.forget(f.id);
                doomed.push(f.id);
                continue;
            }
            let _ = ix.insert(f.id, f.len, f.stamp, f.key.map(Into::into), f.tags);
        }
        break ix.evict(shared.max_bytes);
    };
    for id in doomed {
        if let Err(e) = shared.unlink_if_dead(id) {
            tracing::warn!(error = %e, "disk cache: cannot delete a bad entry");
        }
    }
    shared.unlink_victims(victims);
    Ok(())
}

/// Reads the key of each found file from its header (one open each), for
/// checking against purged prefixes.
fn read_keys(shared: &Shared, found: &mut [Found]) {
    for f in found {
        match read_key(&shared.path(f.id), f.id) {
            Ok(KeyRead::Key(key, tags)) => (f.key, f.tags) = (Some(key), Some(tags)),
            Ok(KeyRead::Bad | KeyRead::Old) => f.bad = true,
            // Vanished: indexing it is harmless (a `get` forgets it). Other
            // errors: a `get` decides.
            Err(_) => {}
        }
    }
}

/// Deletes the version 1 entries and temp files under `ab/` (`ab/cd/*.obj`)
/// and the directories left empty; returns how many entries.
fn remove_old_layout(d1: &Path) -> usize {
    let mut removed = 0;
    let Ok(rd) = fs::read_dir(d1) else {
        return 0;
    };
    for d2 in rd.flatten() {
        let name = d2.file_name();
        let is_fan = name
            .to_str()
            .is_some_and(|s| s.len() == 2 && is_lower_hex(s));
        if !is_fan || !d2.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(files) = fs::read_dir(d2.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(OBJ_SUFFIX) || name.ends_with(TMP_SUFFIX) {
                removed += usize::from(unlink(&f.path()).is_ok() && name.ends_with(OBJ_SUFFIX));
            }
        }
        let _ = fs::remove_dir(d2.path()); // fails if something else is there: left alone
    }
    let _ = fs::remove_dir(d1);
    removed
}
