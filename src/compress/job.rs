//! One compression job: make br, zstd and gzip of an entry's identity body, then
//! swap them into memory over the same version only (and, for a pulled
//! object with a disk cache, write them beside it on disk).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;

use super::Persist;
use crate::asset::{derived_etag, Asset, Body, Coding, Representation};
use crate::disk_record;
use crate::lookup::{Entry, Memory, Source};
use crate::origin::stored::DiskMeta;
use crate::precompress::{self, Settings, Wanted};
use crate::store::memory::MemoryCache;

/// Work for the pool: the entry to compress, where it is kept, and how.
pub(super) struct Job {
    pub(super) memory: Weak<MemoryCache<Arc<Entry>>>,
    pub(super) key: String,
    pub(super) entry: Weak<Entry>,
    pub(super) settings: Arc<Settings>,
    pub(super) fingerprints: Arc<crate::fingerprint::Patterns>,
    pub(super) persist: Option<Persist>,
}

/// How the ETag of an encoding the node made is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    /// Derived from the identity representation's (`"abc"` → `"abc-br"`):
    /// a pulled object's encodings stay in its origin's validator family.
    Derived,
    /// The blake3 tag of the encoded bytes themselves, as a sibling file
    /// gets: a local file's encodings.
    Hashed,
}

/// One job: compress, then swap in over the same version only. An entry
/// evicted from memory before or while it is compressed still gets its
/// encodings written over its disk entry (the same version only), so a
/// later disk hit never compresses it again.
pub(super) fn run(job: Job) {
    let Some(memory) = job.memory.upgrade() else {
        return;
    };
    let entry = job.entry.upgrade();
    let current = |e: &Arc<Entry>| memory.get(&job.key).is_some_and(|cur| Arc::ptr_eq(&cur, e));
    match entry {
        Some(entry) if current(&entry) => in_memory(&memory, &job, entry),
        entry => {
            if let Some(p) = job.persist.as_ref().filter(|p| p.generation != 0) {
                on_disk(&memory, &job, p, entry);
            }
        }
    }
}

/// The identity body of `asset`, when held in memory.
pub(super) fn identity_body(asset: &Asset) -> Option<&Bytes> {
    asset
        .representations()
        .iter()
        .find(|r| r.coding == Coding::Identity)
        .and_then(|r| match &r.body {
            Body::Memory(b) => Some(b),
            _ => None,
        })
}

/// Every encoding of `body` worth keeping (`Coding::ENCODINGS`: br, zstd,
/// gzip, in that order), while its size once per encoding is reserved in
/// the memory bound (each is kept only smaller than the body). Each is cut
/// to its length: the encoder's spare capacity would otherwise stay
/// allocated, uncounted, as long as the encoding is kept.
fn encode(memory: &Memory, body: &[u8], settings: &Settings) -> Vec<(Coding, Bytes)> {
    let _room = memory.reserve(Coding::ENCODINGS.len() * body.len());
    let c = precompress::compress(body, settings, Wanted::ALL);
    let exact = |v: Vec<u8>| Bytes::from(v.into_boxed_slice());
    c.into_forms()
        .into_iter()
        .filter_map(|(token, b)| Some((disk_record::coding_named(token)?, exact(b))))
        .collect()
}

/// The entry is what memory holds for its key: its encodings are swapped
/// in over it (a copy of the entry, same source, same version), then a
/// pulled object's are written beside it on disk.
fn in_memory(memory: &Memory, job: &Job, entry: Arc<Entry>) {
    let Some(bytes) = identity_body(&entry.asset) else {
        return;
    };
    let made = encode(memory, bytes, &job.settings);
    if made.is_empty() {
        return;
    }
    let (asset, source) = match &entry.source {
        Source::Pulled(meta) => (
            super::deltas::attach(
                memory,
                &job.key,
                &job.fingerprints,
                job.persist.as_ref(),
                with_encodings(&entry.asset, made, Tag::Derived),
                bytes,
            ),
            Source::Pulled(meta.clone()),
        ),
        Source::Local {
            stamp,
            checked_ms,
            on_disk,
        } => (
            with_encodings(&entry.asset, made, Tag::Hashed),
            Source::Local {
                stamp: stamp.clone(),
                checked_ms: AtomicU64::new(checked_ms.load(Ordering::Relaxed)),
                on_disk: *on_disk,
            },
        ),
        Source::Variants(_) => return,
    };
    let new = Arc::new(Entry::new(asset, source));
    new.compress_queued.store(true, Ordering::Relaxed);
    if !memory.replace_if(&job.key, |cur| Arc::ptr_eq(cur, &entry), new.clone()) {
        return;
    }
    if let (Some(p), Source::Pulled(meta)) = (&job.persist, &new.source) {
        if let Some((record, parts)) = disk_record::parts_of(&new.asset, meta, &p.path, p.origin) {
            let g = disk_record::put(&p.disk, &job.key, &record, &parts, p.generation);
            new.disk_generation.store(g, Ordering::Relaxed);
        }
    }
}

/// The entry left memory (or no request holds it any more): its
/// encodings are made from the body (the entry's, else, when it is gone or
/// its body is streamed from disk, read back whole from disk) and written
/// over its disk entry, if that still holds the same version.
fn on_disk(memory: &Memory, job: &Job, p: &Persist, entry: Option<Arc<Entry>>) {
    let key = job.key.as_str();
    let held = match &entry {
        Some(e) => {
            let Source::Pulled(meta) = &e.source else {
                return;
            };
            match disk_record::parts_of(&e.asset, meta, &p.path, p.origin) {
                Some((record, parts)) if record.encodings.is_empty() => {
                    Some((record, parts[0].clone()))
                }
                Some(_) => return,
                // Its body is left on disk (streamed): read back below.
                None => None,
            }
        }
        None => None,
    };
    let from_disk = held.is_none();
    let (record, body) = match held {
        Some(held) => held,
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
    let _body = memory.reserve(if from_disk { body.len() } else { 0 });
    let made = encode(memory, &body, &job.settings);
    if made.is_empty() {
        return;
    }
    let mut record = record;
    let mut parts = vec![body];
    for (coding, b) in made {
        record
            .encodings
            .push(disk_record::coding_name(coding).to_string());
        parts.push(b);
    }
    super::deltas::add_on_disk(memory, key, &job.fingerprints, p, &mut record, &mut parts);
    disk_record::put(&p.disk, key, &record, &parts, p.generation);
}

/// `asset` (identity only) with `encodings` of its body added, each under
/// an ETag formed as `tag` says.
pub(crate) fn with_encodings(asset: &Asset, encodings: Vec<(Coding, Bytes)>, tag: Tag) -> Asset {
    with_encodings_owned(asset.clone(), encodings, tag)
}

/// [`with_encodings`] of an asset the caller no longer needs: its headers
/// move instead of being copied (a disk hit builds one per request).
pub(crate) fn with_encodings_owned(
    asset: Asset,
    encodings: Vec<(Coding, Bytes)>,
    tag: Tag,
) -> Asset {
    let reps = asset.representations();
    let Some(identity) = reps.iter().find(|r| r.coding == Coding::Identity).cloned() else {
        return asset;
    };
    let mut all = Vec::with_capacity(1 + encodings.len());
    all.extend(encodings.into_iter().map(|(c, b)| match tag {
        Tag::Derived => Representation::with_etag(c, b, derived_etag(&identity.etag, c)),
        Tag::Hashed => Representation::new(c, b),
    }));
    all.push(identity);
    let (last_modified, fallback) = (asset.last_modified, asset.modified_fallback);
    Asset::new(
        all,
        asset.content_type,
        last_modified,
        asset.cache_control,
        asset.extra_headers,
    )
    .with_last_modified_value(asset.last_modified_value)
    .with_modified_fallback(fallback)
    .expecting_encodings(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::client::Fetched;
    use crate::origin::stored::{asset_of, PulledMeta, Reading};
    use crate::store::disk::DiskCache;
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
        put_at(disk, KEY, body)
    }

    fn put_at(disk: &DiskCache, key: &str, body: &Bytes) -> u64 {
        let (asset, meta) = stored(body);
        let (record, parts) = disk_record::parts_of(&asset, &meta, "/a.css", 1).unwrap();
        disk_record::put(disk, key, &record, &parts, 0)
    }

    /// A job for an entry of `body` that memory no longer holds (evicted
    /// before its turn), whose disk entry was `generation`.
    fn job_for_evicted(
        memory: &Memory,
        disk: &Arc<DiskCache>,
        body: &Bytes,
        generation: u64,
    ) -> Job {
        job_for_evicted_at(memory, disk, KEY, body, generation)
    }

    fn job_for_evicted_at(
        memory: &Memory,
        disk: &Arc<DiskCache>,
        key: &str,
        body: &Bytes,
        generation: u64,
    ) -> Job {
        let (asset, meta) = stored(body);
        let entry = Arc::new(Entry::new(asset, Source::Pulled(Arc::new(meta))));
        Job {
            memory: Arc::downgrade(memory),
            key: key.into(),
            entry: Arc::downgrade(&entry),
            settings: Arc::default(),
            fingerprints: Arc::default(),
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
        run(job_for_evicted(&memory, &disk, &v1, generation));
        let (record, parts) = disk.get::<DiskMeta>(KEY).unwrap();
        assert_eq!(record.encodings, ["br", "zstd", "gzip"]);
        assert_eq!(parts[0], v1);
        let mut unbr = Vec::new();
        brotli::BrotliDecompress(&mut &parts[1][..], &mut unbr).unwrap();
        assert_eq!(unbr, v1);
        assert_eq!(zstd::decode_all(&parts[2][..]).unwrap(), v1);
    }

    /// A version of a hashed name evicted before its turn gets its deltas
    /// against the version before it (read back from disk) and the
    /// node's dictionary field, written with its encodings.
    #[test]
    fn an_evicted_version_gets_its_deltas_on_disk() {
        let (_dir, disk, memory) = setup();
        let (k1, k2) = ("css/a.0123456789.css", "css/a.abcdef0123.css");
        let text = |v: usize| -> Bytes {
            let lines = (0..400).map(|i| {
                let px = if i == 200 { v } else { i * 7 % 13 };
                format!(".c{i} {{ margin: {px}px; }}\n")
            });
            Bytes::from(lines.collect::<String>())
        };
        let (v1, v2) = (text(1), text(2));
        let fp = crate::fingerprint::Patterns::default();
        put_at(&disk, k1, &v1);
        super::super::deltas::note_version(k1, &fp);
        let generation = put_at(&disk, k2, &v2);
        super::super::deltas::note_version(k2, &fp);
        run(job_for_evicted_at(&memory, &disk, k2, &v2, generation));
        let (record, parts) = disk.get::<DiskMeta>(k2).unwrap();
        assert_eq!(record.encodings[..3], ["br", "zstd", "gzip"]);
        let hex: String = crate::delta::hash(&v1)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            record.encodings[3..],
            [format!("dcz:{hex}"), format!("dcb:{hex}")]
        );
        assert_eq!(
            record.use_as_dictionary.as_deref(),
            Some("match=\"/css/a.*.css\", match-dest=(\"style\"), id=\"css/a.css\"")
        );
        let mut d = zstd::bulk::Decompressor::with_dictionary(&v1).unwrap();
        let decoded = d.decompress(&parts[4][40..], v2.len()).unwrap();
        assert_eq!(decoded, v2);
        assert!(parts[4].len() < parts[1].len() / 2, "smaller than br");
    }

    #[test]
    fn encodings_of_an_old_version_never_replace_a_newer_one() {
        let (_dir, disk, memory) = setup();
        let (v1, v2) = (body("v1"), body("v2"));
        let old = put(&disk, &v1);
        put(&disk, &v2);
        run(job_for_evicted(&memory, &disk, &v1, old));
        let (record, parts) = disk.get::<DiskMeta>(KEY).unwrap();
        assert!(record.encodings.is_empty());
        assert_eq!(parts, [v2]);
    }

    /// A local entry of `text` at KEY, loaded from a root like a request
    /// would, with its job.
    fn local_entry(root: &std::path::Path, text: &Bytes, memory: &Memory) -> (Arc<Entry>, Job) {
        use crate::store::local::{Found, LocalStore};
        use actix_web::http::header::HeaderValue;
        std::fs::write(root.join(KEY), text).unwrap();
        let policy = crate::store::policy::Policy::new(
            HeaderValue::from_static("imm"),
            HeaderValue::from_static("rev"),
            crate::fingerprint::Patterns::default(),
            vec![],
        );
        let store = LocalStore::open(root, policy, 1 << 20).unwrap();
        let Found::Asset(asset, stamp) = store.load(KEY, false).unwrap() else {
            panic!("loads")
        };
        let source = Source::Local {
            stamp,
            checked_ms: AtomicU64::new(0),
            on_disk: false,
        };
        let entry = Arc::new(Entry::new(asset.expecting_encodings(true), source));
        let job = Job {
            memory: Arc::downgrade(memory),
            key: KEY.into(),
            entry: Arc::downgrade(&entry),
            settings: Arc::new(Settings {
                brotli_quality: 5,
                ..Settings::default()
            }),
            fingerprints: Arc::default(),
            persist: None,
        };
        (entry, job)
    }

    #[test]
    fn a_local_file_gets_encodings_tagged_by_their_own_bytes() {
        let (dir, memory) = (tempfile::tempdir().unwrap(), setup().2);
        let v1 = body("v1");
        let (entry, job) = local_entry(dir.path(), &v1, &memory);
        memory.insert(KEY.into(), entry.clone());
        let before = memory.usage().0;
        run(job);
        let now = memory.get(KEY).unwrap();
        assert!(!Arc::ptr_eq(&now, &entry), "swapped in");
        assert!(matches!(now.source, Source::Local { .. }));
        let reps = now.asset.representations();
        assert_eq!(reps.len(), 4);
        let made: usize = reps[..3].iter().map(|r| r.memory_bytes()).sum();
        assert!(
            memory.usage().0 >= before + made,
            "counted: {before} + {made} > {:?}",
            memory.usage()
        );
        for r in &reps[..3] {
            let Body::Memory(b) = &r.body else { panic!() };
            assert_eq!(r.etag, Representation::new(r.coding, b.clone()).etag);
            assert_ne!(r.etag, reps[3].etag);
        }
    }

    #[test]
    fn encodings_of_a_local_file_replaced_meanwhile_are_dropped() {
        let (dir, memory) = (tempfile::tempdir().unwrap(), setup().2);
        let (old, job) = local_entry(dir.path(), &body("v1"), &memory);
        memory.insert(KEY.into(), old);
        // The file changed and its new version was loaded before the job ran.
        let (new, _) = local_entry(dir.path(), &body("v2"), &memory);
        memory.insert(KEY.into(), new.clone());
        run(job);
        let now = memory.get(KEY).unwrap();
        assert!(Arc::ptr_eq(&now, &new));
        assert_eq!(now.asset.representations().len(), 1);
    }
}
