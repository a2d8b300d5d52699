//! The encodings the node makes of pulled text: br and gzip, made on a
//! bounded pool of its own after the first client was answered with
//! identity, and swapped in only over the version they were made from. Each gets an ETag
//! derived from the identity representation's (the origin's own, when it
//! sent one), so every representation keeps a distinct validator.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

use super::{persist, Entry, Memory, Source};
use crate::asset::{derived_etag, Asset, Body, Coding, Representation};
use crate::origin::pull::PulledMeta;
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
}

impl Compressor {
    /// A pool of `workers` threads (at least one) taking jobs from a queue
    /// of `queue` slots, compressing with `settings`.
    pub fn new(workers: usize, queue: usize, settings: Settings) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let settings = Arc::new(settings);
        for i in 0..workers.max(1) {
            let (rx, settings) = (rx.clone(), settings.clone());
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
                        run(job, &settings);
                    }
                })?;
        }
        Ok(Self { tx })
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
        let job = Job {
            memory: Arc::downgrade(memory),
            key: key.to_string(),
            entry: Arc::downgrade(entry),
            persist,
        };
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(_) => {
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

/// One job: compress, then swap in over the same version only.
fn run(job: Job, settings: &Settings) {
    let (Some(memory), Some(entry)) = (job.memory.upgrade(), job.entry.upgrade()) else {
        return;
    };
    // Evicted or replaced while queued: nothing to do.
    if !memory
        .get(&job.key)
        .is_some_and(|cur| Arc::ptr_eq(&cur, &entry))
    {
        return;
    }
    let Some(identity) = entry
        .asset
        .representations()
        .iter()
        .find(|r| r.coding == Coding::Identity)
    else {
        return;
    };
    let Body::Memory(bytes) = &identity.body else {
        return;
    };
    let _room = memory.reserve(2 * bytes.len());
    let c = precompress::compress(bytes, settings, true, true);
    if c.br.is_none() && c.gzip.is_none() {
        return;
    }
    let mut made = Vec::new();
    made.extend(c.br.map(|b| (Coding::Br, Bytes::from(b))));
    made.extend(c.gzip.map(|g| (Coding::Gzip, Bytes::from(g))));
    let asset = with_encodings(&entry.asset, made);
    let Source::Pulled(meta) = &entry.source else {
        return;
    };
    let new = Arc::new(Entry::new(asset, Source::Pulled(meta.clone())));
    new.compress_queued.store(true, Ordering::Relaxed);
    if memory.replace_if(&job.key, |cur| Arc::ptr_eq(cur, &entry), new.clone()) {
        if let Some(p) = &job.persist {
            if let Some((record, parts)) = persist::parts_of(&new.asset, meta, &p.path) {
                persist::put(&p.disk, &job.key, &record, &parts);
            }
        }
    }
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
