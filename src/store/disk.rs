//! The disk cache: objects pulled from an origin, kept on local disk so that a
//! restarted node serves them without asking the origin again. Bounded in
//! bytes, evicting least-recently-used entries; every read is checked
//! against the length and blake3 recorded at write time, so a corrupt,
//! truncated or tampered file is deleted and reported as a miss, never
//! served.
//!
//! What it is not: not HTTP caching policy (freshness, validators, `Vary`
//! live in the caller's metadata `M`, opaque here); not shared between
//! processes (one `DiskCache` per directory); not a durable database (a power
//! loss may forget recent puts, but never yields a torn entry). I/O is
//! blocking `std::fs`; callers run it on a blocking pool.
//!
//! # Layout
//!
//! An entry for `key` lives at `dir/ab/cd/<hex>.obj`, where `<hex>` is the 64
//! hex digits of `blake3(key)` and `ab`, `cd` its first four. Two levels of
//! 256 give 65,536 leaf directories; blake3 spreads keys evenly, so 1e8
//! objects make ~1,500 files per leaf and 1e9 make ~15,000, both well within
//! what ext4/xfs hashed directories handle. Only the index is in memory
//! (key, size, generation per entry).
//!
//! # File format (one file per entry)
//!
//! ```text
//! magic "cdnedisk" (8) | version u32 LE (4) | key_len u32 LE (4) |
//! meta_len u32 LE (4) | body_len u64 LE (8) | key | meta JSON | body |
//! blake3 of every byte before it (32)
//! ```
//!
//! `open` checks cheaply: magic, version, file length equal to the sum of the
//! header's lengths, and the stored key hashing to the file's name. `get`
//! checks everything: length against the index, the trailing blake3, and
//! the key. The byte bound counts whole files (header, key, meta, body,
//! trailer), which is what the entry costs on disk, less block rounding.
//!
//! # Crash safety
//!
//! Key, metadata and body are one file, so they can't disagree. `put` writes
//! `.<name>.<pid>.<n>.tmp` beside the target, fsyncs it, and renames it over
//! the target: rename is atomic, so a reader (or a restart after SIGKILL)
//! sees the previous entry or the new one, never a mix. `open` deletes every
//! leftover `.tmp` and every `.obj` that fails its check. The directory is not
//! fsynced after the rename: a power loss may lose the rename, which leaves
//! the previous entry or none, as above.
//!
//! # Recency after a restart
//!
//! The LRU order is rebuilt from file mtimes, oldest = least recently used.
//! `put` sets mtime by writing; `get` bumps it when it is older than
//! [`TOUCH_EVERY`], so restart order matches use to within that interval
//! without a metadata write on every hit.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use lru::LruCache;

/// Metadata stored with each object (opaque to this module beyond serde): the caller's response metadata.
pub trait Meta: serde::Serialize + serde::de::DeserializeOwned + Clone {}
impl<T: serde::Serialize + serde::de::DeserializeOwned + Clone> Meta for T {}

const MAGIC: [u8; 8] = *b"cdnedisk";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 28;
const TRAILER_LEN: usize = 32;
const OBJ_SUFFIX: &str = ".obj";
const TMP_SUFFIX: &str = ".tmp";

/// How stale a file's mtime may get before a hit refreshes it.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A disk cache under `dir`, bounded by `max_bytes` (bodies + metadata files), least-recently-used eviction.
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
    evictions: AtomicU64,
}

/// The index. Every change to it and every rename or unlink of an `.obj`
/// happens under its lock, so index and disk agree; only temp-file writing
/// and reading of bodies happen outside it.
struct Inner {
    lru: LruCache<String, Entry>,
    bytes: u64,
    next_generation: u64,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Whole file length.
    size: u64,
    /// Bumped by each put, so `get` deletes a bad file only if it is still
    /// the one it read (a concurrent put may have replaced it).
    generation: u64,
}

impl Inner {
    fn insert(&mut self, key: String, size: u64) {
        self.next_generation += 1;
        let generation = self.next_generation;
        if let Some(old) = self.lru.put(key, Entry { size, generation }) {
            self.bytes -= old.size;
        }
        self.bytes += size;
    }

    fn forget(&mut self, key: &str) {
        if let Some(old) = self.lru.pop(key) {
            self.bytes -= old.size;
        }
    }
}

struct Header {
    key_len: u32,
    meta_len: u32,
    body_len: u64,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.key_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.meta_len.to_le_bytes());
        b[20..28].copy_from_slice(&self.body_len.to_le_bytes());
        b
    }

    /// `None` unless magic and version are ours.
    fn decode(b: &[u8]) -> Option<Header> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        if b[..8] != MAGIC || u32_at(8) != VERSION {
            return None;
        }
        Some(Header {
            key_len: u32_at(12),
            meta_len: u32_at(16),
            body_len: u64::from_le_bytes(b[20..28].try_into().unwrap()),
        })
    }

    /// Total file length this header promises; `None` on overflow (garbage).
    fn file_len(&self) -> Option<u64> {
        ((HEADER_LEN + TRAILER_LEN) as u64)
            .checked_add(u64::from(self.key_len))?
            .checked_add(u64::from(self.meta_len))?
            .checked_add(self.body_len)
    }
}

impl DiskCache {
    /// Opens (creating) `dir` and rebuilds the index from the entries on disk.
    ///
    /// Deletes leftover temp files and entries that fail the cheap check,
    /// then evicts down to `max_bytes`. Entries are checked cheaply (header,
    /// length, key vs. name); the full blake3 check happens on `get`.
    /// Recency is rebuilt from file mtimes. Files and directories that are
    /// not ours are left alone.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<DiskCache> {
        fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for d1 in fan_dirs(dir)? {
            for d2 in fan_dirs(&d1)? {
                scan_leaf(dir, &d2, &mut found)?;
            }
        }
        // Oldest mtime first, so the newest ends up most recently used.
        found.sort_by_key(|f| f.0);
        let mut inner = Inner {
            lru: LruCache::unbounded(),
            bytes: 0,
            next_generation: 0,
        };
        for (_, key, size) in found {
            inner.insert(key, size);
        }
        let cache = DiskCache {
            dir: dir.to_owned(),
            max_bytes,
            inner: Mutex::new(inner),
            evictions: AtomicU64::new(0),
        };
        cache.evict_until(&mut cache.lock(), max_bytes);
        Ok(cache)
    }

    /// Stores `meta` and `body` under `key` atomically, replacing any previous entry.
    ///
    /// `Ok(false)`, storing nothing, if the entry's file would exceed
    /// `max_bytes`. One file holds key, meta and body (see the module docs), written to a
    /// temp file, fsynced and renamed into place. LRU entries are evicted
    /// *before* the rename, so committed entries never exceed the bound
    /// (in-flight temp files are extra). An entry too large to store also
    /// removes the previous one: the caller has a newer version, and the old
    /// one must not be served in its place.
    pub fn put<M: Meta>(&self, key: &str, meta: &M, body: &[u8]) -> io::Result<bool> {
        let meta = serde_json::to_vec(meta)?;
        let too_long = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
        let header = Header {
            key_len: u32::try_from(key.len()).map_err(|_| too_long("key over 4 GiB"))?,
            meta_len: u32::try_from(meta.len()).map_err(|_| too_long("meta over 4 GiB"))?,
            body_len: body.len() as u64,
        };
        let size = header
            .file_len()
            .ok_or_else(|| too_long("entry too large"))?;
        if size > self.max_bytes {
            self.remove(key)?;
            return Ok(false);
        }
        let path = entry_path(&self.dir, key);
        let tmp = write_temp(&path, &[&header.encode(), key.as_bytes(), &meta, body])?;

        let mut inner = self.lock();
        inner.forget(key); // its file is replaced by the rename below
        self.evict_until(&mut inner, self.max_bytes - size);
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            // The old entry already left the index; don't leave it on disk.
            let _ = unlink(&path);
            return Err(e);
        }
        inner.insert(key.to_owned(), size);
        Ok(true)
    }

    /// The object under `key`, if present and intact; marks it recently used.
    ///
    /// Length and blake3 are checked against the file's record; a bad entry
    /// (corrupt, truncated, tampered) is deleted and missed, never served.
    /// So is one whose metadata does not decode as `M` (say, after a change
    /// of the caller's metadata type).
    pub fn get<M: Meta>(&self, key: &str) -> Option<(M, Bytes)> {
        let entry = *self.lock().lru.get(key)?;
        let path = entry_path(&self.dir, key);
        let problem = match read_entry(&path, key, entry.size) {
            Ok(Ok((meta, body))) => match serde_json::from_slice(&meta) {
                Ok(meta) => return Some((meta, body)),
                Err(_) => "metadata does not decode",
            },
            Ok(Err(why)) => why,
            Err(e) if e.kind() == io::ErrorKind::NotFound => "file vanished",
            Err(e) => {
                // Maybe transient (EMFILE, EIO): miss, but keep the entry.
                tracing::warn!(path = %path.display(), error = %e, "disk cache read failed");
                return None;
            }
        };
        tracing::warn!(path = %path.display(), problem, "disk cache entry dropped");
        let mut inner = self.lock();
        // Only if no put replaced the file since we looked it up.
        if inner
            .lru
            .peek(key)
            .is_some_and(|e| e.generation == entry.generation)
        {
            let _ = unlink(&path);
            inner.forget(key);
        }
        None
    }

    /// Removes `key` if present.
    pub fn remove(&self, key: &str) -> io::Result<()> {
        let mut inner = self.lock();
        unlink(&entry_path(&self.dir, key))?;
        inner.forget(key);
        Ok(())
    }

    /// Removes every key starting with `prefix`; returns how many.
    ///
    /// Walks the whole index under the lock: O(entries), meant for purges,
    /// not the request path.
    pub fn remove_prefix(&self, prefix: &str) -> io::Result<usize> {
        let mut inner = self.lock();
        let keys: Vec<String> = inner
            .lru
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &keys {
            unlink(&entry_path(&self.dir, key))?;
            inner.forget(key);
        }
        Ok(keys.len())
    }

    /// (bytes, objects) held now.
    pub fn usage(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.bytes, inner.lru.len() as u64)
    }

    /// Entries evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The index stays consistent between statements; a panic elsewhere
        // while holding the lock must not take the cache down with it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Evicts least-recently-used entries until at most `limit` bytes remain.
    fn evict_until(&self, inner: &mut Inner, limit: u64) {
        while inner.bytes > limit {
            let Some((key, entry)) = inner.lru.pop_lru() else {
                break;
            };
            inner.bytes -= entry.size;
            self.evictions.fetch_add(1, Ordering::Relaxed);
            let path = entry_path(&self.dir, &key);
            if let Err(e) = unlink(&path) {
                // Uncounted until the next `open` rescans it.
                tracing::warn!(path = %path.display(), error = %e, "disk cache eviction failed");
            }
        }
    }
}

/// `dir/ab/cd/<64 hex>.obj` for `key`.
fn entry_path(dir: &Path, key: &str) -> PathBuf {
    let hex = blake3::hash(key.as_bytes()).to_hex();
    dir.join(&hex[..2])
        .join(&hex[2..4])
        .join(format!("{hex}{OBJ_SUFFIX}"))
}

/// Removes `path`; already gone is fine.
fn unlink(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Writes `parts` and their blake3 to a fresh temp file beside `path`,
/// fsynced; returns its path. Nothing is left behind on error.
fn write_temp(path: &Path, parts: &[&[u8]]) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().expect("entry paths have a parent");
    fs::create_dir_all(dir)?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Dot-prefixed and `.tmp`-suffixed like fsutil's, so `open` knows it.
    let tmp = dir.join(format!(".{name}.{}.{n}{TMP_SUFFIX}", std::process::id()));
    let result = (|| {
        let mut w = BufWriter::with_capacity(64 * 1024, File::create_new(&tmp)?);
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(part);
            w.write_all(part)?;
        }
        w.write_all(hasher.finalize().as_bytes())?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// (meta JSON, body) of a good entry, or why it is bad.
type Checked = Result<(Bytes, Bytes), &'static str>;

/// Reads and fully checks the entry for `key` expected to be `size` bytes:
/// `Ok(Err(why))` if it is bad. Refreshes a stale mtime (best effort).
fn read_entry(path: &Path, key: &str, size: u64) -> io::Result<Checked> {
    let mut file = File::open(path)?;
    let md = file.metadata()?;
    if md.len() != size {
        return Ok(Err("length differs from the index"));
    }
    let mut buf = Vec::with_capacity(size as usize);
    // Read at most one byte past `size`, so a growing file shows up as bad.
    (&mut file).take(size + 1).read_to_end(&mut buf)?;
    let checked = check(Bytes::from(buf), key);
    if checked.is_ok() {
        let now = SystemTime::now();
        let fresh = md
            .modified()
            .is_ok_and(|m| now.duration_since(m).unwrap_or_default() <= TOUCH_EVERY);
        if !fresh {
            let _ = file.set_modified(now);
        }
    }
    Ok(checked)
}

/// Full check of a whole entry file: header, lengths, trailing blake3, key.
fn check(buf: Bytes, key: &str) -> Checked {
    let header = Header::decode(&buf).ok_or("bad magic or version")?;
    if header.file_len() != Some(buf.len() as u64) {
        return Err("length differs from the header");
    }
    let (data, trailer) = buf.split_at(buf.len() - TRAILER_LEN);
    let trailer: [u8; TRAILER_LEN] = trailer.try_into().unwrap();
    // blake3::Hash's `==` is constant-time; not that it matters here.
    if blake3::hash(data) != blake3::Hash::from(trailer) {
        return Err("blake3 mismatch");
    }
    let key_end = HEADER_LEN + header.key_len as usize;
    let meta_end = key_end + header.meta_len as usize;
    // A different key here is a blake3 collision or a misplaced file.
    if &buf[HEADER_LEN..key_end] != key.as_bytes() {
        return Err("key differs");
    }
    Ok((
        buf.slice(key_end..meta_end),
        buf.slice(meta_end..buf.len() - TRAILER_LEN),
    ))
}

/// Subdirectories of `dir` named like a fan-out level (two lowercase hex digits).
fn fan_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        let name = ent.file_name();
        let ours = name.to_str().is_some_and(|s| {
            s.len() == 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ours && ent.file_type()?.is_dir() {
            out.push(ent.path());
        }
    }
    Ok(out)
}

/// Collects the good entries of one leaf directory as (mtime, key, size),
/// deleting temp files and entries that fail the cheap check.
fn scan_leaf(
    root: &Path,
    leaf: &Path,
    found: &mut Vec<(SystemTime, String, u64)>,
) -> io::Result<()> {
    for ent in fs::read_dir(leaf)? {
        let path = ent?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(TMP_SUFFIX) {
            tracing::debug!(path = %path.display(), "deleting leftover temp file");
            unlink(&path)?;
        } else if name.ends_with(OBJ_SUFFIX) {
            match scan_entry(root, &path) {
                Ok(Some(entry)) => found.push(entry),
                Ok(None) => {
                    tracing::warn!(path = %path.display(), "deleting bad disk cache entry");
                    unlink(&path)?;
                }
                Err(e) => {
                    // Unreadable is as good as corrupt for a cache.
                    tracing::warn!(path = %path.display(), error = %e, "deleting unreadable disk cache entry");
                    let _ = unlink(&path);
                }
            }
        }
    }
    Ok(())
}

/// The cheap check: magic, version, length against the header, and the
/// stored key naming this very path. `Ok(None)` if it fails.
fn scan_entry(root: &Path, path: &Path) -> io::Result<Option<(SystemTime, String, u64)>> {
    let mut file = File::open(path)?;
    let md = file.metadata()?;
    let mut head = [0u8; HEADER_LEN];
    if md.len() < (HEADER_LEN + TRAILER_LEN) as u64 {
        return Ok(None);
    }
    file.read_exact(&mut head)?;
    let Some(header) = Header::decode(&head) else {
        return Ok(None);
    };
    if header.file_len() != Some(md.len()) {
        return Ok(None); // truncated, or garbage lengths
    }
    let mut key = vec![0u8; header.key_len as usize];
    file.read_exact(&mut key)?;
    let Ok(key) = String::from_utf8(key) else {
        return Ok(None);
    };
    if entry_path(root, &key) != path {
        return Ok(None);
    }
    let mtime = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    Ok(Some((mtime, key, md.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use std::collections::HashMap;
    use std::sync::Arc;

    #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
    struct M {
        content_type: String,
        etag: Option<String>,
        status: u16,
    }

    fn meta(ct: &str) -> M {
        M {
            content_type: ct.into(),
            etag: Some("\"v1\"".into()),
            status: 200,
        }
    }

    /// File size of an entry with this key, meta and body length.
    fn entry_size(key: &str, m: &M, body_len: usize) -> u64 {
        (HEADER_LEN + TRAILER_LEN + key.len() + serde_json::to_vec(m).unwrap().len() + body_len)
            as u64
    }

    /// (bytes, count) of `.obj` files, and count of `.tmp` files, on disk.
    fn on_disk(dir: &Path) -> (u64, u64, u64) {
        let (mut bytes, mut objs, mut tmps) = (0, 0, 0);
        for d1 in fan_dirs(dir).unwrap() {
            for d2 in fan_dirs(&d1).unwrap() {
                for e in fs::read_dir(d2).unwrap() {
                    let e = e.unwrap();
                    let name = e.file_name().into_string().unwrap();
                    if name.ends_with(OBJ_SUFFIX) {
                        bytes += e.metadata().unwrap().len();
                        objs += 1;
                    } else if name.ends_with(TMP_SUFFIX) {
                        tmps += 1;
                    }
                }
            }
        }
        (bytes, objs, tmps)
    }

    fn get_body(c: &DiskCache, key: &str) -> Option<Vec<u8>> {
        c.get::<M>(key).map(|(_, b)| b.to_vec())
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<DiskCache>();
    }

    #[test]
    fn put_get_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        assert!(c.put("/a.css", &meta("text/css"), b"body{}").unwrap());
        let (m, body) = c.get::<M>("/a.css").unwrap();
        assert_eq!(m, meta("text/css"));
        assert_eq!(&body[..], b"body{}");
        assert!(c.get::<M>("/missing").is_none());
        let size = entry_size("/a.css", &m, 6);
        assert_eq!(c.usage(), (size, 1));
        assert_eq!(on_disk(d.path()), (size, 1, 0));
        assert!(entry_path(d.path(), "/a.css").starts_with(d.path()));
    }

    #[test]
    fn empty_body_and_empty_key() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        assert!(c.put("", &meta("x"), b"").unwrap());
        assert_eq!(get_body(&c, "").unwrap(), b"");
    }

    #[test]
    fn replace() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("k", &meta("a"), b"first version").unwrap();
        c.put("k", &meta("bb"), b"second").unwrap();
        let (m, body) = c.get::<M>("k").unwrap();
        assert_eq!((m.content_type.as_str(), &body[..]), ("bb", &b"second"[..]));
        let size = entry_size("k", &meta("bb"), 6);
        assert_eq!(c.usage(), (size, 1));
        assert_eq!(on_disk(d.path()), (size, 1, 0));
    }

    #[test]
    fn remove() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("k", &meta("a"), b"x").unwrap();
        c.put("other", &meta("a"), b"y").unwrap();
        c.remove("k").unwrap();
        c.remove("never-there").unwrap();
        assert!(c.get::<M>("k").is_none());
        assert_eq!(get_body(&c, "other").unwrap(), b"y");
        assert_eq!(c.usage().1, 1);
        assert_eq!(on_disk(d.path()).1, 1);
    }

    #[test]
    fn remove_prefix_is_exact() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        for k in ["/a/x", "/a/y/z", "/a/", "/ab", "/a", "/b/a/x"] {
            c.put(k, &meta("t"), k.as_bytes()).unwrap();
        }
        assert_eq!(c.remove_prefix("/a/").unwrap(), 3);
        for k in ["/a/x", "/a/y/z", "/a/"] {
            assert!(c.get::<M>(k).is_none(), "{k}");
        }
        for k in ["/ab", "/a", "/b/a/x"] {
            assert_eq!(get_body(&c, k).unwrap(), k.as_bytes());
        }
        assert_eq!(c.remove_prefix("/nothing").unwrap(), 0);
        assert_eq!(c.usage().1, 3);
        assert_eq!(on_disk(d.path()).1, 3);
    }

    #[test]
    fn evicts_least_recently_used() {
        let d = tempfile::tempdir().unwrap();
        let one = entry_size("a", &meta("t"), 100);
        let c = DiskCache::open(d.path(), 3 * one).unwrap();
        for k in ["a", "b", "c"] {
            c.put(k, &meta("t"), &[0; 100]).unwrap();
        }
        assert!(c.get::<M>("a").is_some()); // b is now the least recent
        c.put("d", &meta("t"), &[0; 100]).unwrap();
        assert!(c.get::<M>("b").is_none());
        for k in ["a", "c", "d"] {
            assert!(c.get::<M>(k).is_some(), "{k}");
        }
        assert_eq!(c.evictions(), 1);
        assert_eq!(c.usage(), (3 * one, 3));
        assert_eq!(on_disk(d.path()), (3 * one, 3, 0));
    }

    #[test]
    fn larger_than_bound_is_not_stored_and_drops_old_version() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 200).unwrap();
        assert!(c.put("small", &meta("t"), &[1; 10]).unwrap());
        assert!(!c.put("big", &meta("t"), &[0; 300]).unwrap());
        assert!(c.get::<M>("big").is_none());
        assert!(!c.put("small", &meta("t"), &[2; 300]).unwrap());
        assert!(c.get::<M>("small").is_none());
        assert_eq!(c.usage(), (0, 0));
        assert_eq!(on_disk(d.path()), (0, 0, 0));
        // Exactly the bound fits.
        let exact = 200 - entry_size("k", &meta("t"), 0) as usize;
        assert!(c.put("k", &meta("t"), &vec![0; exact]).unwrap());
        assert_eq!(c.usage(), (200, 1));
    }

    #[test]
    fn reopen_restores_everything() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        for i in 0..50 {
            let body = vec![i as u8; i * 7];
            c.put(&format!("/k/{i}"), &meta(&format!("t{i}")), &body)
                .unwrap();
        }
        let usage = c.usage();
        drop(c);
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        assert_eq!(c.usage(), usage);
        assert_eq!(c.evictions(), 0);
        for i in 0..50 {
            let (m, body) = c.get::<M>(&format!("/k/{i}")).unwrap();
            assert_eq!(m, meta(&format!("t{i}")));
            assert_eq!(body.to_vec(), vec![i as u8; i * 7]);
        }
    }

    #[test]
    fn reopen_orders_recency_by_mtime_and_evicts_to_bound() {
        let d = tempfile::tempdir().unwrap();
        let one = entry_size("a", &meta("t"), 10);
        let c = DiskCache::open(d.path(), 10 * one).unwrap();
        for k in ["a", "b", "c"] {
            c.put(k, &meta("t"), &[7; 10]).unwrap();
        }
        drop(c);
        // Written a, b, c; used since (per mtime): c long ago, then a, then b.
        let base = SystemTime::now() - Duration::from_secs(3600);
        for (k, secs) in [("c", 0), ("a", 10), ("b", 20)] {
            let f = File::options()
                .write(true)
                .open(entry_path(d.path(), k))
                .unwrap();
            f.set_modified(base + Duration::from_secs(secs)).unwrap();
        }
        let c = DiskCache::open(d.path(), 2 * one).unwrap();
        assert_eq!(c.evictions(), 1);
        assert_eq!(c.usage(), (2 * one, 2));
        assert!(c.get::<M>("c").is_none());
        // a is least recent now: a new entry evicts it, not b.
        c.put("d", &meta("t"), &[7; 10]).unwrap();
        assert!(c.get::<M>("a").is_none());
        assert!(c.get::<M>("b").is_some());
        assert!(c.get::<M>("d").is_some());
    }

    #[test]
    fn get_refreshes_a_stale_mtime() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("k", &meta("t"), b"x").unwrap();
        let path = entry_path(d.path(), "k");
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        c.get::<M>("k").unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        assert!(mtime > old + Duration::from_secs(1800));
    }

    #[test]
    fn corrupt_body_byte_is_a_miss_and_deletes_the_entry() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("k", &meta("t"), &[b'x'; 1000]).unwrap();
        c.put("keep", &meta("t"), b"fine").unwrap();
        let path = entry_path(d.path(), "k");
        let mut bytes = fs::read(&path).unwrap();
        let at = bytes.len() - TRAILER_LEN - 500; // inside the body
        bytes[at] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        assert!(c.get::<M>("k").is_none());
        assert!(!path.exists());
        assert_eq!(c.usage(), (entry_size("keep", &meta("t"), 4), 1));
        assert_eq!(get_body(&c, "keep").unwrap(), b"fine");
    }

    #[test]
    fn corrupt_meta_or_trailer_is_a_miss() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        for (k, from_end) in [("meta", None), ("trailer", Some(1))] {
            c.put(k, &meta("text/plain"), b"body").unwrap();
            let path = entry_path(d.path(), k);
            let mut bytes = fs::read(&path).unwrap();
            let at = match from_end {
                Some(n) => bytes.len() - n,
                None => HEADER_LEN + k.len() + 3,
            };
            bytes[at] ^= 0x20;
            fs::write(&path, &bytes).unwrap();
            assert!(c.get::<M>(k).is_none(), "{k}");
            assert!(!path.exists(), "{k}");
        }
        assert_eq!(c.usage(), (0, 0));
    }

    #[test]
    fn truncated_file_is_a_miss_and_deleted() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("k", &meta("t"), &[3; 4096]).unwrap();
        let path = entry_path(d.path(), "k");
        let len = fs::metadata(&path).unwrap().len();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        assert!(c.get::<M>("k").is_none());
        assert!(!path.exists());
        assert_eq!(c.usage(), (0, 0));
    }

    #[test]
    fn wrong_meta_type_is_a_miss() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("k", &"just a string".to_string(), b"x").unwrap();
        assert!(c.get::<M>("k").is_none());
        assert_eq!(c.usage(), (0, 0));
    }

    /// What SIGKILL mid-put can leave: a temp file (the rename never ran).
    /// A partial file at the entry's own path can't come from `put`, but a
    /// torn write by anything else must still never be served.
    #[test]
    fn crash_leftovers_are_cleaned_on_open() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("old", &meta("v1"), b"previous version").unwrap();
        c.put("torn", &meta("t"), &[9; 2000]).unwrap();
        let full = fs::read(entry_path(d.path(), "torn")).unwrap();
        drop(c);

        // Killed while replacing "old": half a new version in a temp file.
        let old_path = entry_path(d.path(), "old");
        let name = old_path.file_name().unwrap().to_str().unwrap().to_owned();
        let tmp = old_path.with_file_name(format!(".{name}.4242.0.tmp"));
        fs::write(&tmp, &full[..full.len() / 2]).unwrap();
        // A truncated entry in the right place, and a temp file for a key
        // that never made it.
        let torn_path = entry_path(d.path(), "torn");
        fs::write(&torn_path, &full[..full.len() - 100]).unwrap();
        let new_path = entry_path(d.path(), "new");
        fs::create_dir_all(new_path.parent().unwrap()).unwrap();
        let tmp2 = new_path.with_file_name(".x.obj.1.2.tmp");
        fs::write(&tmp2, b"partial").unwrap();
        // Not ours: left alone.
        fs::write(d.path().join("README"), b"hi").unwrap();

        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        assert!(!tmp.exists() && !tmp2.exists());
        assert!(!torn_path.exists());
        assert!(d.path().join("README").exists());
        let (m, body) = c.get::<M>("old").unwrap();
        assert_eq!((m, &body[..]), (meta("v1"), &b"previous version"[..]));
        assert!(c.get::<M>("torn").is_none());
        assert!(c.get::<M>("new").is_none());
        let size = entry_size("old", &meta("v1"), 16);
        assert_eq!(c.usage(), (size, 1));
        assert_eq!(on_disk(d.path()), (size, 1, 0));
    }

    #[test]
    fn misplaced_or_garbage_files_are_deleted_on_open() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("a", &meta("t"), b"x").unwrap();
        drop(c);
        // A valid entry under another key's name, and garbage.
        let b_path = entry_path(d.path(), "b");
        fs::create_dir_all(b_path.parent().unwrap()).unwrap();
        fs::copy(entry_path(d.path(), "a"), &b_path).unwrap();
        let g_path = entry_path(d.path(), "g");
        fs::create_dir_all(g_path.parent().unwrap()).unwrap();
        fs::write(&g_path, vec![0xff; 100]).unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        assert!(!b_path.exists() && !g_path.exists());
        assert_eq!(c.usage().1, 1);
        assert!(c.get::<M>("b").is_none());
    }

    #[test]
    fn another_keys_file_is_never_served() {
        let d = tempfile::tempdir().unwrap();
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        c.put("a", &meta("t"), b"for a").unwrap();
        c.put("b", &meta("t"), b"for b").unwrap();
        // Intact, same length, but holds key "a" (a collision, or a misplaced file).
        let b_path = entry_path(d.path(), "b");
        fs::copy(entry_path(d.path(), "a"), &b_path).unwrap();
        assert!(c.get::<M>("b").is_none());
        assert!(!b_path.exists());
        assert_eq!(get_body(&c, "a").unwrap(), b"for a");
    }

    #[test]
    fn utf8_and_very_long_keys() {
        let d = tempfile::tempdir().unwrap();
        let long = "ж".repeat(5 * 1024) + "/tail"; // > 10 KB
        let keys = [
            "/日本語/ファイル.html".to_string(),
            "/🦀/ключ?q=é&x=\u{0}".to_string(),
            "/🦀/other".to_string(),
            long.clone(),
        ];
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        for k in &keys {
            assert!(c.put(k, &meta("t"), k.as_bytes()).unwrap());
        }
        drop(c);
        let c = DiskCache::open(d.path(), 1 << 20).unwrap();
        for k in &keys {
            assert_eq!(get_body(&c, k).unwrap(), k.as_bytes());
        }
        assert_eq!(c.remove_prefix("/🦀/").unwrap(), 2);
        assert_eq!(c.remove_prefix(&long[..3000]).unwrap(), 1);
        assert_eq!(c.usage().1, 1);
    }

    #[test]
    fn concurrent_put_get() {
        #[derive(Serialize, Deserialize, Clone)]
        struct T {
            thread: u8,
            len: usize,
        }
        let d = tempfile::tempdir().unwrap();
        let max = 40_000;
        let c = Arc::new(DiskCache::open(d.path(), max).unwrap());
        let threads: Vec<_> = (0..6u8)
            .map(|t| {
                let c = Arc::clone(&c);
                std::thread::spawn(move || {
                    for i in 0..120usize {
                        let len = (i * 37 + t as usize * 11) % 1500;
                        let m = T { thread: t, len };
                        let body = vec![t; len];
                        let own = format!("/t{t}/{}", i % 10);
                        c.put(&own, &m, &body).unwrap();
                        c.put("/shared", &m, &body).unwrap();
                        if let Some((m, b)) = c.get::<T>("/shared") {
                            assert_eq!(b.len(), m.len);
                            assert!(b.iter().all(|&x| x == m.thread));
                        }
                        if let Some((m, b)) = c.get::<T>(&own) {
                            assert_eq!(m.thread, t);
                            assert_eq!(b.len(), m.len);
                            assert!(b.iter().all(|&x| x == t));
                        }
                        if i % 17 == 0 {
                            c.remove(&own).unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (bytes, objs) = c.usage();
        assert!(bytes <= max);
        assert_eq!(on_disk(d.path()), (bytes, objs, 0));
        assert!(c.evictions() > 0);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, usize),
        Get(u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..8u8, 0..400usize).prop_map(|(k, n)| Op::Put(k, n)),
            3 => (0..8u8).prop_map(Op::Get),
            1 => (0..8u8).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn byte_bound_holds_and_reads_are_never_stale(ops in prop::collection::vec(op(), 1..40)) {
            let d = tempfile::tempdir().unwrap();
            let max = 1200;
            let c = DiskCache::open(d.path(), max).unwrap();
            let mut model: HashMap<String, Vec<u8>> = HashMap::new();
            for (n, op) in ops.iter().enumerate() {
                match *op {
                    Op::Put(k, len) => {
                        let key = format!("/k{k}");
                        let body = vec![n as u8; len];
                        let stored = c.put(&key, &meta("t"), &body).unwrap();
                        prop_assert_eq!(stored, entry_size(&key, &meta("t"), len) <= max);
                        if stored {
                            model.insert(key, body);
                        } else {
                            model.remove(&key);
                        }
                    }
                    Op::Get(k) => {
                        let key = format!("/k{k}");
                        if let Some(body) = get_body(&c, &key) {
                            prop_assert_eq!(Some(&body), model.get(&key));
                        }
                    }
                    Op::Remove(k) => {
                        let key = format!("/k{k}");
                        c.remove(&key).unwrap();
                        model.remove(&key);
                    }
                }
                let (bytes, objs) = c.usage();
                prop_assert!(bytes <= max);
                let (disk_bytes, disk_objs, tmps) = on_disk(d.path());
                prop_assert_eq!((bytes, objs, 0), (disk_bytes, disk_objs, tmps));
            }
            // Whatever survived eviction is the latest version, also after a restart.
            let usage = c.usage();
            drop(c);
            let c = DiskCache::open(d.path(), max).unwrap();
            prop_assert_eq!(c.usage(), usage);
            for (key, body) in &model {
                if let Some(got) = get_body(&c, key) {
                    prop_assert_eq!(&got, body);
                }
            }
        }
    }
}
