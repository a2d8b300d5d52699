//! The encodings the node makes of pulled text: br and gzip, made on a
//! bounded pool of its own after the first client was answered with
//! identity, and swapped in only over the version they were made from. Each gets an ETag
//! derived from the identity representation's (the origin's own, when it
//! sent one), so every representation keeps a distinct validator.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use super::{persist, Entry, Memory, Source};
use crate::asset::{derived_etag, Asset, Body, Coding, Representation};
use crate::origin::pull::{DiskMeta, PulledMeta};
use crate::precompress::{self, Settings};
use crate::store::disk::DiskCache;
use crate::store::memory::MemoryCache;

/// Bodies shorter than this are not compressed: the saving is a few bytes,
/// and each encoding costs a `Vary: Accept-Encoding` and a second copy.
pub const MIN_BYTES: usize = 256;

/// Whether the node should make encodings of a pulled 200 of `len` bytes:
/// text by its path's extension or by its Content-Type, at least
/// [`MIN_BYTES`], sent in identity, and not marked `no-transform` (RFC 9111
/// §5.2.2.6: compression is a transformation).
pub fn wanted(path: &str, meta: &PulledMeta, len: usize) -> bool {
    let content_type = meta
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if meta.status != 200 || len < MIN_BYTES || meta.headers.contains_key("content-encoding") {
        return false;
    }
    let no_transform = meta
        .headers
        .get_all("cache-control")
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
        });
    if no_transform || meta.headers.contains_key("content-range") {
        return false;
    }
    precompress::is_compressible(path)
        || content_type.starts_with("text/")
        || ["javascript", "json", "xml", "svg"]
            .iter()
            .any(|t| content_type.contains(t))
}

/// Makes br and gzip representations of stored pulled assets on a small
/// pool of its own threads, fed by a bounded queue, so a wave of cold misses
/// can neither spawn a thread per object nor pile up work without end.
///
/// The queue holds weak references: an entry evicted (or replaced) before
/// its turn is skipped, and queued work keeps no memory alive. When the
/// queue is full the object stays identity, and the next hit on it offers
/// it again. The two encodings being made count against the memory bound
/// (a [`MemoryCache::reserve`] of twice the body) until they are swapped in,
/// and are swapped in only over the version they were made from. The
/// encoder's own working memory (a few MiB per worker at quality 5) is part
/// of the allowance above `cache.memory_bytes`.
pub struct Compressor {
    tx: SyncSender<Job>,
    /// Keys queued or being worked on: a key is never queued twice, even
    /// when each disk hit on it makes a new entry.
    queued: Arc<Mutex<HashSet<String>>>,
}

struct Job {
    memory: Weak<MemoryCache<Arc<Entry>>>,
    key: String,
    entry: Weak<Entry>,
    persist: Option<Persist>,
}

/// Where an object's encodings go once made, beside it in the disk cache,
/// so a disk hit, a reload after eviction or a restart never makes them
/// again.
pub struct Persist {
    /// The disk cache.
    pub disk: Arc<DiskCache>,
    /// The object's request path (kept in its record).
    pub path: String,
    /// Generation of the disk entry holding the version being compressed
    /// (0: unknown); its encodings are written over that entry only.
    pub generation: u64,
    /// The origin the object came from, named in its record.
    pub origin: u64,
}

impl Compressor {
    /// A pool of `workers` threads (at least one) taking jobs from a queue
    /// of `queue` slots, compressing with `settings`.
    pub fn new(workers: usize, queue: usize, settings: Settings) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let settings = Arc::new(settings);
        let queued: Arc<Mutex<HashSet<String>>> = Arc::default();
        for i in 0..workers.max(1) {
            let (rx, settings, done) = (rx.clone(), settings.clone(), queued.clone());
            std::thread::Builder::new()
                .name(format!("cdn-edge-compress-{i}"))
                .spawn(move || {
                    background_priority();
                    loop {
                        // Only this pool's threads wait on the lock; never a worker.
                        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        let key = job.key.clone();
                        run(job, &settings);
                        lock(&done).remove(&key);
                    }
                })?;
        }
        Ok(Self { tx, queued })
    }

    /// Queues making the encodings of `entry`, stored under `key`; false
    /// when the queue is full (it is offered again on a later hit). An
    /// entry already queued is not queued twice.
    pub(super) fn offer(
        &self,
        memory: &Memory,
        key: &str,
        entry: &Arc<Entry>,
        persist: Option<Persist>,
    ) -> bool {
        if entry.compress_queued.swap(true, Ordering::Relaxed) {
            return true;
        }
        if !lock(&self.queued).insert(key.to_string()) {
            // Another entry of the key is queued: its encodings reach the
            // disk, where the next read of this key finds them.
            return true;
        }
        let persist = persist.map(|p| Persist {
            generation: entry.disk_generation.load(Ordering::Relaxed),
            ..p
        });
        let job = Job {
            memory: Arc::downgrade(memory),
            key: key.to_string(),
            entry: Arc::downgrade(entry),
            persist,
        };
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(_) => {
                lock(&self.queued).remove(key);
                entry.compress_queued.store(false, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Lowers the calling thread's scheduling priority (nice 10): encodings are
/// background work, and on a busy node requests must win the cores. Linux
/// applies `setpriority` to one thread when given its thread id; elsewhere
/// this does nothing.
fn background_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; no memory
    // is passed, and a failure (e.g. not permitted) only leaves the priority
    // as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Whether `entry` still waits for encodings the node wants to make.
pub(super) fn pending(entry: &Entry) -> bool {
    entry.asset.expects_encodings()
        && entry.asset.representations().len() == 1
        && !entry.compress_queued.load(Ordering::Relaxed)
}

/// The key set's lock; a panic elsewhere must not stop compression.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One job: compress, then swap in over the same version only. An entry
/// evicted from memory before or while it is compressed still gets its
/// encodings written over its disk entry (the same version only), so a
/// later disk hit never compresses it again.
fn run(job: Job, settings: &Settings) {
    let Some(memory) = job.memory.upgrade() else {
        return;
    };
    let entry = job.entry.upgrade();
    let current = |e: &Arc<Entry>| memory.get(&job.key).is_some_and(|cur| Arc::ptr_eq(&cur, e));
    match entry {
        Some(entry) if current(&entry) => in_memory(&memory, &job, entry, settings),
        entry => {
            if let Some(p) = job.persist.as_ref().filter(|p| p.generation != 0) {
                on_disk(&memory, &job.key, p, entry, settings);
            }
        }
    }
}

/// The identity body of `asset`, when held in memory.
fn identity_body(asset: &Asset) -> Option<&Bytes> {
    asset
        .representations()
        .iter()
        .find(|r| r.coding == Coding::Identity)
        .and_then(|r| match &r.body {
            Body::Memory(b) => Some(b),
            _ => None,
        })
}

/// br and gzip of `body` (those worth keeping), while twice its size is
/// reserved in the memory bound.
fn encode(memory: &Memory, body: &[u8], settings: &Settings) -> Vec<(Coding, Bytes)> {
    let _room = memory.reserve(2 * body.len());
    let c = precompress::compress(body, settings, true, true);
    let mut made = Vec::new();
    made.extend(c.br.map(|b| (Coding::Br, Bytes::from(b))));
    made.extend(c.gzip.map(|g| (Coding::Gzip, Bytes::from(g))));
    made
}

/// The entry is what memory holds for its key: its encodings are swapped
/// in, then written beside it on disk.
fn in_memory(memory: &Memory, job: &Job, entry: Arc<Entry>, settings: &Settings) {
    let Some(bytes) = identity_body(&entry.asset) else {
        return;
    };
    let made = encode(memory, bytes, settings);
    if made.is_empty() {
        return;
    }
    let asset = with_encodings(&entry.asset, made);
    let Source::Pulled(meta) = &entry.source else {
        return;
    };
    let new = Arc::new(Entry::new(asset, Source::Pulled(meta.clone())));
    new.compress_queued.store(true, Ordering::Relaxed);
    if memory.replace_if(&job.key, |cur| Arc::ptr_eq(cur, &entry), new.clone()) {
        if let Some(p) = &job.persist {
            if let Some((record, parts)) = persist::parts_of(&new.asset, meta, &p.path, p.origin) {
                let g = persist::put(&p.disk, &job.key, &record, &parts, p.generation);
                new.disk_generation.store(g, Ordering::Relaxed);
            }
        }
    }
}

/// The entry left memory (or no request holds it any more): its
/// encodings are made from the body (the entry's, else read back from
/// disk) and written over its disk entry, if that still holds the same
/// version.
fn on_disk(
    memory: &Memory,
    key: &str,
    p: &Persist,
    entry: Option<Arc<Entry>>,
    settings: &Settings,
) {
    let (record, body) = match &entry {
        Some(e) => {
            let Source::Pulled(meta) = &e.source else {
                return;
            };
            match persist::parts_of(&e.asset, meta, &p.path, p.origin) {
                Some((record, parts)) if record.encodings.is_empty() => (record, parts[0].clone()),
                _ => return,
            }
        }
        None => {
            let Some((record, mut parts, generation)) = p.disk.get_versioned::<DiskMeta>(key)
            else {
                return;
            };
            if generation != p.generation || !record.encodings.is_empty() || parts.is_empty() {
                return;
            }
            (record, parts.swap_remove(0))
        }
    };
    // The body read back counts too while it is held.
    let _body = memory.reserve(if entry.is_none() { body.len() } else { 0 });
    let made = encode(memory, &body, settings);
    if made.is_empty() {
        return;
    }
    let mut record = record;
    let mut parts = vec![body];
    for (coding, b) in made {
        record
            .encodings
            .push(persist::coding_name(coding).to_string());
        parts.push(b);
    }
    persist::put(&p.disk, key, &record, &parts, p.generation);
}

/// `asset` (identity only) with `encodings` of its body added, each under
/// an ETag derived from the identity representation's.
pub(super) fn with_encodings(asset: &Asset, encodings: Vec<(Coding, Bytes)>) -> Asset {
    let reps = asset.representations();
    let Some(identity) = reps.iter().find(|r| r.coding == Coding::Identity) else {
        return asset.clone();
    };
    let mut all = vec![identity.clone()];
    all.extend(
        encodings
            .into_iter()
            .map(|(c, b)| Representation::with_etag(c, b, derived_etag(&identity.etag, c))),
    );
    Asset::new(
        all,
        asset.content_type.clone(),
        asset.last_modified,
        asset.cache_control.clone(),
        asset.extra_headers.clone(),
    )
    .with_last_modified_value(asset.last_modified_value.clone())
    .with_modified_fallback(asset.modified_fallback)
    .expecting_encodings(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::client::Fetched;
    use crate::origin::pull::{asset_of, Reading};
    use std::time::{Duration, UNIX_EPOCH};

    const KEY: &str = "a.css";

    fn body(version: &str) -> Bytes {
        Bytes::from(format!(".{version} {{ color: red; margin: 0 auto; }}\n").repeat(64))
    }

    /// What the store phase keeps of a pulled text response.
    fn stored(body: &Bytes) -> (Asset, PulledMeta) {
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let f = Fetched {
            status: 200,
            headers: crate::test_support::header_map(&[
                ("content-type", "text/css"),
                ("cache-control", "max-age=60"),
            ]),
            body: body.clone(),
            request_time: t,
            response_time: t,
        };
        let meta = PulledMeta::of(&f, &Reading::default(), Vec::new());
        let asset = asset_of(body, &meta, "/a.css", &Reading::default(), true);
        (asset, meta)
    }

    fn put(disk: &DiskCache, body: &Bytes) -> u64 {
        let (asset, meta) = stored(body);
        let (record, parts) = persist::parts_of(&asset, &meta, "/a.css", 1).unwrap();
        persist::put(disk, KEY, &record, &parts, 0)
    }

    /// A job for an entry of `body` that memory no longer holds (evicted
    /// before its turn), whose disk entry was `generation`.
    fn job_for_evicted(
        memory: &Memory,
        disk: &Arc<DiskCache>,
        body: &Bytes,
        generation: u64,
    ) -> Job {
        let (asset, meta) = stored(body);
        let entry = Arc::new(Entry::new(asset, Source::Pulled(Box::new(meta))));
        Job {
            memory: Arc::downgrade(memory),
            key: KEY.into(),
            entry: Arc::downgrade(&entry),
            persist: Some(Persist {
                disk: disk.clone(),
                path: "/a.css".into(),
                generation,
                origin: 1,
            }),
        }
        // `entry` dropped here: no request holds it any more.
    }

    fn setup() -> (tempfile::TempDir, Arc<DiskCache>, Memory) {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(DiskCache::open(dir.path(), 1 << 20).unwrap());
        assert!(disk.wait_ready(Duration::from_secs(30)));
        (dir, disk, Arc::new(MemoryCache::new(1 << 20, 1 << 16)))
    }

    #[test]
    fn an_entry_evicted_before_its_turn_gets_its_encodings_on_disk() {
        let (_dir, disk, memory) = setup();
        let v1 = body("v1");
        let generation = put(&disk, &v1);
        run(
            job_for_evicted(&memory, &disk, &v1, generation),
            &Settings::default(),
        );
        let (record, parts) = disk.get::<DiskMeta>(KEY).unwrap();
        assert_eq!(record.encodings, ["br", "gzip"]);
        assert_eq!(parts[0], v1);
        let mut unbr = Vec::new();
        brotli::BrotliDecompress(&mut &parts[1][..], &mut unbr).unwrap();
        assert_eq!(unbr, v1);
    }

    #[test]
    fn encodings_of_an_old_version_never_replace_a_newer_one() {
        let (_dir, disk, memory) = setup();
        let (v1, v2) = (body("v1"), body("v2"));
        let old = put(&disk, &v1);
        put(&disk, &v2);
        run(
            job_for_evicted(&memory, &disk, &v1, old),
            &Settings::default(),
        );
        let (record, parts) = disk.get::<DiskMeta>(KEY).unwrap();
        assert!(record.encodings.is_empty());
        assert_eq!(parts, [v2]);
    }
}
