//! Deltas of pulled objects (RFC 9842), made on the compression pool with
//! a pulled object's other encodings, off the request path.
//!
//! A pulled object whose name carries a content hash by the node's
//! fingerprint patterns (`cache_control.fingerprint_patterns`: the
//! build's `js/app.3f2a9c1b7d.js`, Vite's `assets/index-DiwrgTda.js`, …)
//! and whose type gets deltas (script, stylesheet, JSON, SVG, WASM) is
//! offered as a dictionary for the other versions of its name
//! (`Use-As-Dictionary: match="/js/app.*.js"`), unless the origin sent its
//! own field. When the node still holds the version of that name it
//! stored before (its identity body in memory, or else in the disk
//! cache), the new version gets `dcz` and `dcb` against it, kept when at
//! least 20 % smaller than its br, as the build does.
//!
//! The latest two versions of each name the node stored are remembered in
//! a bounded map (the most recent [`NAMES`] names), noted when a version
//! is stored, so the previous one is found even if the pool, busy with a
//! wave, never compressed it; one gone from memory is read back from the
//! disk cache, and one gone from both simply gives no delta. The deltas
//! and the field are written to the disk cache with the object's
//! encodings (`disk_record`), so a disk hit or a restart serves them as
//! made. Every node holding the same two versions makes the same bytes
//! (the encoders are deterministic), under the same ETags.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use actix_web::http::header::HeaderValue;

use crate::asset::deltas::{self, Deltas, Hash};
use crate::asset::{Asset, Coding, Representation};
use crate::disk_record;
use crate::fingerprint::Patterns;
use crate::http::dictionary as cdt;
use crate::lookup::{Entry, Memory, Source};
use crate::origin::disk_meta::DiskMeta;
use crate::store::disk::Part;

use super::Persist;

/// Names whose latest version is remembered.
pub const NAMES: usize = 65_536;

/// Bodies (new and old) larger than this get no delta on the pool.
pub const MAX_BODY: usize = 4 << 20;

/// The least a delta must save of the object's br to be kept.
const MIN_GAIN: f64 = 0.2;

/// zstd level of pulled deltas of bodies up to [`SMALL_BODY`] bytes (the
/// dictionary does most of the work: react-dom 18.2 → 18.3, 130 KB, in
/// 57 ms for 3,029 bytes).
const ZSTD_LEVEL: i32 = 19;
/// zstd level of larger bodies' deltas: 19 takes a pool thread ~0.4 µs a
/// byte (1.4 s for 2 MB), which a wave of large versioned files would
/// keep the pool busy with; 12 takes a tenth of that (react-dom: 12 ms,
/// 3,336 bytes).
const ZSTD_LEVEL_LARGE: i32 = 12;
/// Bodies up to this size get [`ZSTD_LEVEL`].
const SMALL_BODY: usize = 256 << 10;
/// brotli quality of pulled deltas: 6, whose match finder takes ~4 MiB
/// (9's takes ~34 MiB, for 5 % fewer bytes on jQuery 3.7.1 → 3.8.0:
/// 3,911 against 4,095; zstd 19's delta, tables capped, is 3,795 in
/// ~3 MiB). The pool's encoders' memory is part of the allowance above
/// `cache.memory_bytes`.
const BROTLI_QUALITY: u32 = 6;

/// The latest version of a name the node stored, and the one before it.
#[derive(Debug, Clone)]
struct Versions {
    latest: String,
    before: Option<String>,
}

/// The versions of each name: versions pattern → keys.
fn versions() -> &'static Mutex<lru::LruCache<String, Versions>> {
    static VERSIONS: OnceLock<Mutex<lru::LruCache<String, Versions>>> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        Mutex::new(lru::LruCache::new(
            NonZeroUsize::new(NAMES).expect("non-zero"),
        ))
    })
}

/// Records that `key` is stored (the newest version of its name, if it
/// has one by `fingerprints`), so the next version finds it even when the
/// pool never got to compress it.
pub(crate) fn note_version(key: &str, fingerprints: &Patterns) {
    let Some((pattern, _)) = pattern_of(key, fingerprints) else {
        return;
    };
    let mut all = versions().lock().unwrap_or_else(|e| e.into_inner());
    match all.get_mut(&pattern) {
        Some(v) if v.latest == key => {}
        Some(v) => v.before = Some(std::mem::replace(&mut v.latest, key.to_string())),
        None => {
            all.put(
                pattern,
                Versions {
                    latest: key.to_string(),
                    before: None,
                },
            );
        }
    }
}

/// The versions pattern of a pulled object's key and the name it stands
/// for (the key without its hash and the separator before it: the `id`),
/// when the key is a plain path (no query, not a variant) whose last
/// segment carries a content hash by the node's fingerprint patterns
/// (`js/app.3f2a9c1b7d.js` → `/js/app.*.js`, `js/app.js`;
/// `assets/index-DiwrgTda.js` → `/assets/index-*.js`,
/// `assets/index.js`), of a type that gets deltas.
pub(crate) fn pattern_of(key: &str, fingerprints: &Patterns) -> Option<(String, String)> {
    if key.contains(['?', crate::http::cache_key::SEP]) || !crate::build::is_delta_type(key) {
        return None;
    }
    let name = key.rsplit('/').next()?;
    let span = fingerprints.hash_span(name)?;
    let dir_len = key.len() - name.len();
    let pattern = cdt::pattern_around(
        &format!("/{key}"),
        span.start + dir_len + 1..span.end + dir_len + 1,
    )?;
    let before = &name[..span.start];
    let before = before
        .strip_suffix(['.', '-', '_'])
        .filter(|_| name[span.end..].starts_with('.'))
        .unwrap_or(before);
    let id = format!("{}{before}{}", &key[..dir_len], &name[span.end..]);
    Some((pattern, id))
}

/// The version stored before `key` (of versions pattern `pattern`), when
/// `key` is still its name's newest: a newer one makes `key` no
/// dictionary's target any more.
fn previous_of(key: &str, pattern: &str) -> Option<String> {
    let mut all = versions().lock().unwrap_or_else(|e| e.into_inner());
    let v = all.get(pattern)?;
    if v.latest == key {
        v.before.clone()
    } else {
        None
    }
}

/// `asset` (a pulled object just given its encodings, `made`, kept under
/// `key`) with its dictionary field and, when memory or the disk cache
/// still holds the previous version of its name (see [`note_version`]),
/// its deltas against it.
pub(super) fn attach(
    memory: &Memory,
    key: &str,
    fingerprints: &Patterns,
    persist: Option<&Persist>,
    asset: Asset,
    body: &Bytes,
) -> Asset {
    let Some((pattern, id)) = pattern_of(key, fingerprints) else {
        return asset;
    };
    let origin_said = asset
        .extra_headers
        .iter()
        .any(|(n, _)| n.as_str().eq_ignore_ascii_case("use-as-dictionary"));
    let content_type = asset.content_type.to_str().unwrap_or_default();
    let use_as = (!origin_said)
        .then(|| dictionary_field(&pattern, &id, content_type))
        .and_then(|v| HeaderValue::from_str(&v).ok());
    let reps = asset.representations();
    let Some(identity) = reps.iter().find(|r| r.coding == Coding::Identity) else {
        return asset;
    };
    let br = reps.iter().find(|r| r.coding == Coding::Br).map(|r| r.len);
    let mut by_dictionary = Vec::new();
    if let Some((hash, made)) = against_previous(memory, key, &pattern, persist, body, br) {
        let reps = made
            .into_iter()
            .map(|(coding, b)| {
                let etag = deltas::etag(&identity.etag, coding, &hash);
                Representation::with_etag(coding, b, etag)
            })
            .collect();
        by_dictionary.push((hash, reps));
    }
    asset.with_deltas(Deltas::new(use_as, by_dictionary))
}

/// The parts and record of a pulled object whose encodings were made
/// after it left memory (`job::on_disk`) with its dictionary field and
/// deltas added, as [`attach`] gives an object in memory (the read path
/// derives their ETags as it does).
pub(super) fn add_on_disk(
    memory: &Memory,
    key: &str,
    fingerprints: &Patterns,
    p: &Persist,
    record: &mut DiskMeta,
    parts: &mut Vec<Bytes>,
) {
    let Some((pattern, id)) = pattern_of(key, fingerprints) else {
        return;
    };
    if !record.headers.contains_key("use-as-dictionary") {
        let content_type = record.headers.get("content-type");
        let content_type = content_type.and_then(|v| v.to_str().ok());
        record.use_as_dictionary = Some(dictionary_field(
            &pattern,
            &id,
            content_type.unwrap_or_default(),
        ));
    }
    let Some(body) = parts.first().cloned() else {
        return;
    };
    let br = (record.encodings.iter().zip(&parts[1..]))
        .find(|(name, _)| name.as_str() == Coding::Br.token())
        .map(|(_, b)| b.len() as u64);
    if let Some((hash, made)) = against_previous(memory, key, &pattern, Some(p), &body, br) {
        for (coding, b) in made {
            record
                .encodings
                .push(disk_record::delta_name(coding, &hash));
            parts.push(b);
        }
    }
}

/// The node's `Use-As-Dictionary` for an object whose name has the
/// versions pattern `pattern` and stands for `id` (see [`pattern_of`]),
/// of type `content_type`. Not sent when the origin sent its own (which
/// is passed on alone; deltas are still made).
fn dictionary_field(pattern: &str, id: &str, content_type: &str) -> String {
    cdt::use_as_dictionary(pattern, cdt::destination(content_type), id)
}

/// The deltas of `body` (the newest version of `key`'s name, whose
/// versions pattern is `pattern`; `br`: the length of its br, if made)
/// against the version before it, when memory or else the disk cache
/// holds that one: its dictionary hash and each delta worth keeping.
fn against_previous(
    memory: &Memory,
    key: &str,
    pattern: &str,
    persist: Option<&Persist>,
    body: &Bytes,
    br: Option<u64>,
) -> Option<(Hash, Vec<(Coding, Bytes)>)> {
    if body.len() > MAX_BODY {
        return None;
    }
    let previous = previous_of(key, pattern)?;
    let held = memory.get(&previous).and_then(|e| identity_of_pulled(&e));
    let old = held.or_else(|| persist.and_then(|p| identity_on_disk(p, &previous)))?;
    // The encoders' output and working memory, while they run.
    let _room = memory.reserve(2 * (body.len() + old.len()));
    let made = made_against(body, &old, br.unwrap_or(body.len() as u64));
    (!made.is_empty()).then(|| (crate::delta::hash(&old), made))
}

/// The identity body of the version stored under `key` in the disk cache
/// (a wave larger than memory has let it go there): read whole and
/// verified, when it is a 200 in identity from the same origin, at most
/// [`MAX_BODY`]. Blocking: the pool's threads may wait on the disk.
fn identity_on_disk(p: &Persist, key: &str) -> Option<Bytes> {
    let whole_up_to = 4 * MAX_BODY as u64;
    let (record, parts, _) = p.disk.get_parts::<DiskMeta>(key, whole_up_to)?;
    let identity = record.status == 200
        && record.servable_for(p.origin)
        && !record.headers.contains_key("content-encoding");
    match parts.into_iter().next() {
        Some(Part::Whole(b)) if identity && b.len() <= MAX_BODY => Some(b),
        _ => None,
    }
}

/// The identity body of a pulled entry held in memory.
fn identity_of_pulled(e: &Arc<Entry>) -> Option<Bytes> {
    if !matches!(e.source, Source::Pulled(_)) {
        return None;
    }
    super::job::identity_body(&e.asset).cloned()
}

/// The deltas of `body` against `old` worth keeping beside a br of
/// `reference` bytes (its identity's length when it has none).
fn made_against(body: &[u8], old: &[u8], reference: u64) -> Vec<(Coding, Bytes)> {
    if body.len() > MAX_BODY || old.len() > MAX_BODY {
        return Vec::new();
    }
    let most = (reference as f64 * (1.0 - MIN_GAIN)) as usize;
    let mut out = Vec::new();
    for coding in Coding::DELTAS {
        let made = match coding {
            Coding::Dcz if body.len() <= SMALL_BODY => crate::delta::dcz(body, old, ZSTD_LEVEL),
            Coding::Dcz => crate::delta::dcz(body, old, ZSTD_LEVEL_LARGE),
            _ => crate::delta::dcb(body, old, BROTLI_QUALITY),
        };
        let Ok(b) = made else { continue };
        if b.len() <= most {
            out.push((coding, Bytes::from(b)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hashed_names_of_delta_types_have_a_pattern() {
        let fp = Patterns::default();
        let p = |k: &str| pattern_of(k, &fp).map(|(p, id)| format!("{p} {id}"));
        assert_eq!(
            p("js/app.3f2a9c1b7d.js").as_deref(),
            Some("/js/app.*.js js/app.js")
        );
        assert_eq!(
            p("app.min.0123abcd.css").as_deref(),
            Some("/app.min.*.css app.min.css")
        );
        assert_eq!(
            p("assets/index-DiwrgTda.js").as_deref(),
            Some("/assets/index-*.js assets/index.js")
        );
        assert_eq!(
            p("_app/immutable/app.CZ0Nq5sJ.js").as_deref(),
            Some("/_app/immutable/app.*.js _app/immutable/app.js")
        );
        assert_eq!(
            p("chunk-5JZG2WQ4.js").as_deref(),
            Some("/chunk-*.js chunk.js")
        );
        for no in [
            "js/app.js",
            "js/app.3f2a9c1b7d.png",
            "js/app.3f2a9c1b7d.js?v=1",
            "js/app-settings.js",
            "js/3f2a9c1b7d.js",
            "js/app.3f2a9c1.js",
        ] {
            assert_eq!(pattern_of(no, &fp), None, "{no}");
        }
    }
}
