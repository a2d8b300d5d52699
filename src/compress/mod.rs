//! The encodings the node makes itself: br, zstd and gzip of pulled text,
//! and of local text files that have no `.br` / `.zst` / `.gz` siblings. They are made on
//! the process's one pool of background threads (`pool`) after the first
//! client was answered with identity, and swapped into the memory entry
//! only over the version they were made from (`job`).
//!
//! Validators: an encoding made of a pulled object gets an ETag derived
//! from the identity representation's (the origin's own, when it sent one);
//! one made of a local file gets the blake3 tag of its own bytes, like a
//! sibling file. Either way every representation keeps a distinct strong
//! validator.
//!
//! A pulled object whose name carries a content hash also gets its
//! dictionary field and deltas against its name's previous version
//! (`deltas`, RFC 9842).
//!
//! Not here: choosing a representation for a request (`http::accept_encoding`),
//! and the build CLI's q11 siblings on disk (`build`, `precompress`).

mod deltas;
mod job;
mod pool;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::asset::{Asset, Body, Coding};
use crate::lookup::{Entry, Memory};
use crate::origin::stored::PulledMeta;
use crate::precompress::{self, Settings};
use crate::store::disk::DiskCache;

pub(crate) use job::{with_encodings_owned, Tag};

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
    texty(path, content_type)
}

/// Whether the node should make encodings of a local file loaded as
/// `asset` from `path`: text by the same rule as pulled text, at least
/// [`MIN_BYTES`], held in memory (not streamed from disk), and without
/// `.br` / `.zst` / `.gz` siblings (those, the build CLI's, are served
/// instead).
pub fn wanted_local(path: &str, asset: &Asset) -> bool {
    let [identity] = asset.representations() else {
        return false;
    };
    let in_memory = matches!(&identity.body, Body::Memory(b) if b.len() >= MIN_BYTES);
    in_memory
        && identity.coding == Coding::Identity
        && texty(path, asset.content_type.to_str().unwrap_or_default())
}

/// Text, by the file name's extension or by the Content-Type.
fn texty(path: &str, content_type: &str) -> bool {
    precompress::is_compressible(path)
        || content_type.starts_with("text/")
        || ["javascript", "json", "xml", "svg"]
            .iter()
            .any(|t| content_type.contains(t))
}

/// A handle on the process's compression pool with the settings to
/// compress with. Cheap to clone; every handle of a process (the origin's
/// and the static root's, and those of a config built again) shares one
/// pool, so the threads and the queue bound exist once per process.
///
/// The pool's queue holds weak references: an entry evicted (or replaced)
/// before its turn is skipped, and queued work keeps no memory alive. When
/// the queue is full the object stays identity, and the next hit on it
/// offers it again. The three encodings being made count against the
/// memory bound (a `MemoryCache::reserve` of three times the body) until
/// they are swapped in, and are swapped in only over the version they were
/// made from. The encoders' own working memory (a few MiB per worker at
/// brotli quality 5 and zstd's low levels; zstd's window is at most the
/// body's size) is part of the allowance above `cache.memory_bytes`.
#[derive(Clone)]
pub struct Compressor {
    pool: &'static pool::Pool,
    settings: Arc<Settings>,
    fingerprints: Arc<crate::fingerprint::Patterns>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
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
    /// A handle compressing with `settings` on the process's pool. The
    /// first call starts the pool with `workers` threads (at least one)
    /// and a queue of `queue` slots; later calls share it as it is.
    pub fn new(workers: usize, queue: usize, settings: Settings) -> std::io::Result<Self> {
        Ok(Self {
            pool: pool::get_or_start(workers, queue)?,
            settings: Arc::new(settings),
            fingerprints: Arc::default(),
        })
    }

    /// The same handle, finding the content hash in a pulled object's
    /// name by `fingerprints` (`cache_control.fingerprint_patterns`) for
    /// its deltas.
    pub fn with_fingerprints(self, fingerprints: crate::fingerprint::Patterns) -> Self {
        Self {
            fingerprints: Arc::new(fingerprints),
            ..self
        }
    }

    /// Records that `key` is stored (the newest version of its name, when
    /// its name carries a content hash), so its next version's deltas are
    /// made against it.
    pub(crate) fn note_version(&self, key: &str) {
        deltas::note_version(key, &self.fingerprints);
    }

    /// Queues making the encodings of `entry`, stored in `memory` under
    /// `key`; false when it was not queued (the queue is full, or another
    /// entry of the key is queued and nothing carries its encodings over
    /// to this one): it is offered again on a later hit.
    pub(crate) fn offer(
        &self,
        memory: &Memory,
        key: &str,
        entry: &Arc<Entry>,
        persist: Option<Persist>,
    ) -> bool {
        if entry.compress_queued.swap(true, Ordering::Relaxed) {
            return true;
        }
        let persist = persist.map(|p| Persist {
            generation: entry.disk_generation.load(Ordering::Relaxed),
            ..p
        });
        let queued = self.pool.submit(job::Job {
            memory: Arc::downgrade(memory),
            key: key.to_string(),
            entry: Arc::downgrade(entry),
            settings: self.settings.clone(),
            fingerprints: self.fingerprints.clone(),
            persist,
        });
        match queued {
            pool::Submitted::Queued => true,
            // Its encodings reach the disk, where the next read of this
            // key finds them.
            pool::Submitted::KeyBusy { persisted: true } => true,
            pool::Submitted::KeyBusy { persisted: false } | pool::Submitted::Full => {
                entry.compress_queued.store(false, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Whether `entry` still waits for encodings the node wants to make.
pub(crate) fn pending(entry: &Entry) -> bool {
    entry.asset.expects_encodings()
        && entry.asset.representations().len() == 1
        && !entry.compress_queued.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;
    use bytes::Bytes;

    fn local(name: &str, body: &[u8], siblings: bool) -> Asset {
        let mut reps = vec![crate::asset::Representation::new(
            Coding::Identity,
            Bytes::copy_from_slice(body),
        )];
        if siblings {
            reps.push(crate::asset::Representation::new(
                Coding::Gzip,
                Bytes::from_static(b"gz"),
            ));
        }
        Asset::new(
            reps,
            crate::asset::content_type(name),
            None,
            Some(HeaderValue::from_static("no-cache")),
            vec![],
        )
    }

    #[test]
    fn local_files_wanted_are_text_in_memory_without_siblings_and_not_tiny() {
        let text = "body { color: red }\n".repeat(20);
        assert!(wanted_local(
            "a.css",
            &local("a.css", text.as_bytes(), false)
        ));
        // By Content-Type when the extension says nothing (a directory's index).
        assert!(wanted_local(
            "docs/",
            &local("index.html", text.as_bytes(), false)
        ));
        assert!(!wanted_local(
            "a.css",
            &local("a.css", text.as_bytes(), true)
        ));
        assert!(!wanted_local("a.css", &local("a.css", b"tiny{}", false)));
        assert!(!wanted_local(
            "a.png",
            &local("a.png", text.as_bytes(), false)
        ));
        let on_disk = Asset::new(
            vec![crate::asset::Representation::on_disk(
                Coding::Identity,
                "/x/big.css".into(),
                None,
                1 << 30,
                "00",
            )],
            crate::asset::content_type("big.css"),
            None,
            None,
            vec![],
        );
        assert!(!wanted_local("big.css", &on_disk));
    }
}
