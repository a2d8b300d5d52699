//! The static root's `manifest.json`, indexed by fingerprinted file: which
//! files the build declared fingerprinted (immutable policy), which are the
//! plain copies it wrote beside them and the entry points it kept under
//! their own name (`"fingerprinted": false`, HTML pages) (revalidate
//! policy, whatever their name looks like), and their content hashes (so loading them needs no
//! rehash), and the preload `Link` fields of each HTML entry point
//! (`preload`, computed here once per load of the manifest). Re-read whenever the manifest file changes, checked with one
//! `stat` on the load path only.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderValue};

use super::preload;
use crate::asset::Coding;
use crate::fingerprint::Patterns;
use crate::http::dictionary as cdt;
use crate::manifest::{self, Entry};

/// Hashes the manifest vouches for, per representation.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// Expected size in bytes.
    pub size: u64,
    /// blake3, hex.
    pub blake3: &'a str,
}

/// What the manifest says a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// A fingerprinted file (an entry's `file`).
    Fingerprinted,
    /// A plain name the build wrote beside its fingerprinted copy (an
    /// entry's logical path): its bytes change under the same name.
    Plain,
    /// Not in the manifest (or there is none).
    Unlisted,
}

/// What RFC 9842 adds to a fingerprinted file (see [`Index::dictionary`]).
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    /// `Use-As-Dictionary` for it, when it is offered as a dictionary.
    pub use_as: Option<HeaderValue>,
    /// Its deltas: the dictionary's SHA-256, then each delta file.
    pub deltas: Vec<([u8; 32], Vec<DeltaFile>)>,
}

/// A delta file: its coding, its path (relative to the root), its size.
pub type DeltaFile = (Coding, String, u64);

/// The manifest, indexed by the `file` of each entry.
#[derive(Debug, Default)]
pub struct Index {
    by_file: HashMap<String, Entry>,
    /// RFC 9842 fields and deltas of fingerprinted files, by file.
    dictionaries: HashMap<String, Dictionary>,
    /// Logical paths whose fingerprinted file has another name.
    plain: HashSet<String>,
    /// The preload `Link` fields of each HTML entry point that needs any,
    /// by file.
    preloads: HashMap<String, Arc<HeaderMap>>,
}

impl Index {
    /// Builds the index of a manifest.
    fn of(m: manifest::Manifest, patterns: &Patterns) -> Self {
        let mut index = Index::default();
        for (logical, e) in &m {
            if let Some(fields) = preload::links(&m, logical) {
                let file = e.file.trim_start_matches('/').to_string();
                index.preloads.insert(file, Arc::new(fields));
            }
        }
        // The logical names of each kept file's entry (a bundler's names
        // share one), for its dictionary below.
        let mut names: HashMap<String, Vec<String>> = HashMap::new();
        for (logical, e) in m {
            if let Err(why) = check_entry(&e) {
                tracing::warn!(entry = %logical, "manifest.json: {why}; entry skipped");
                continue;
            }
            let file = e.file.trim_start_matches('/').to_string();
            let logical = logical.trim_start_matches('/');
            if logical != file {
                index.plain.insert(logical.to_string());
            }
            if !e.fingerprinted {
                // An entry point kept under its own name (an HTML page):
                // its bytes change under that name.
                index.plain.insert(file);
                continue;
            }
            let of_file = names.entry(file.clone()).or_default();
            if index.by_file.get(&file).is_some_and(|kept| *kept != e) {
                of_file.clear();
            }
            of_file.push(logical.to_string());
            index.by_file.insert(file, e);
        }
        let files: std::collections::BTreeSet<String> =
            index.by_file.keys().map(|f| format!("/{f}")).collect();
        for (file, e) in &index.by_file {
            // A bundler's other names for the file (its logical path is its
            // hashed name) never hide what that name found.
            let d = names.get(file).into_iter().flatten().fold(
                None,
                |found: Option<Dictionary>, logical| match found {
                    Some(d) if d.use_as.is_some() => Some(d),
                    found => dictionary(&files, file, logical, e, patterns).or(found),
                },
            );
            if let Some(d) = d {
                index.dictionaries.insert(file.clone(), d);
            }
        }
        index
    }

    /// What RFC 9842 adds to the fingerprinted file `rel`, if anything.
    pub fn dictionary(&self, rel: &str) -> Option<&Dictionary> {
        self.dictionaries.get(rel)
    }

    /// What the manifest says of `rel` (a path relative to the root).
    pub fn listing(&self, rel: &str) -> Listing {
        if self.by_file.contains_key(rel) {
            Listing::Fingerprinted
        } else if self.plain.contains(rel) {
            Listing::Plain
        } else {
            Listing::Unlisted
        }
    }

    /// The preload `Link` fields of the HTML entry point at `rel`, if it
    /// needs any (see [`preload`]).
    pub fn preload(&self, rel: &str) -> Option<&Arc<HeaderMap>> {
        self.preloads.get(rel)
    }

    /// What the manifest says of `rel`'s representation in `encoding`
    /// (`None` for identity, else `"br"` / `"gzip"`).
    pub fn known(&self, rel: &str, encoding: Option<&str>) -> Option<Known<'_>> {
        let e = self.by_file.get(rel)?;
        let (size, blake3) = match encoding {
            None => (e.size, e.blake3.as_str()),
            Some(enc) => (
                *e.encodings.get(enc)?,
                e.encodings_blake3.get(enc)?.as_str(),
            ),
        };
        // Anything but 64 hex digits is not a hash the build wrote (a
        // hand-edited or damaged manifest): the file is hashed instead.
        let hex = blake3.len() == 64 && blake3.bytes().all(|b| b.is_ascii_hexdigit());
        hex.then_some(Known { size, blake3 })
    }
}

/// The RFC 9842 part of the fingerprinted file `file` (entry `e` of
/// `logical`), if it has one: a `Use-As-Dictionary` when it is a script,
/// stylesheet, JSON, SVG or WASM file whose name is its logical name with
/// the hash inserted (the match pattern covers that name's every version,
/// and is left out when it would also cover another file of the manifest:
/// a client must never be told to use one file as the dictionary of
/// another's), and its deltas.
fn dictionary(
    files: &std::collections::BTreeSet<String>,
    file: &str,
    logical: &str,
    e: &Entry,
    patterns: &Patterns,
) -> Option<Dictionary> {
    let mut d = Dictionary::default();
    if let Some(pattern) = versions_pattern(file, logical, patterns) {
        let prefix = pattern.split('*').next().unwrap_or("").replace('\\', "");
        let own = format!("/{file}");
        let alone = files
            .range(prefix.clone()..)
            .take_while(|f| f.starts_with(&prefix))
            .all(|f| *f == own || !cdt::pattern_matches(&pattern, f));
        let value = cdt::use_as_dictionary(&pattern, cdt::destination(&e.content_type), logical);
        d.use_as = alone.then(|| HeaderValue::from_str(&value).ok()).flatten();
    }
    for delta in &e.deltas {
        let Some(hash) = delta.hash() else { continue };
        let reps: Vec<_> = Coding::DELTAS
            .iter()
            .filter_map(|c| {
                let size = *delta.encodings.get(c.token())?;
                Some((*c, manifest::delta_file(file, &hash, c.token()), size))
            })
            .collect();
        if !reps.is_empty() {
            d.deltas.push((hash, reps));
        }
    }
    (d.use_as.is_some() || !d.deltas.is_empty()).then_some(d)
}

/// The match pattern of the versions of `file` (the entry of `logical`),
/// when the type gets deltas: where its name is the last segment of
/// `logical` with a content hash inserted (`js/app.js`,
/// `js/app.3f2a9c1b7d.js` → `/js/app.*.js`), or, for a name a bundler
/// hashed (kept as its own logical path), where the fingerprint patterns
/// find the hash (`assets/index-DiwrgTda.js` → `/assets/index-*.js`).
fn versions_pattern(file: &str, logical: &str, patterns: &Patterns) -> Option<String> {
    if !crate::build::is_delta_type(logical) {
        return None;
    }
    let (dir, name) = file.rsplit_once('/').unwrap_or(("", file));
    if logical == file {
        let span = patterns.hash_span(name)?;
        let at = file.len() - name.len() + 1;
        return cdt::pattern_around(&format!("/{file}"), span.start + at..span.end + at);
    }
    let (ldir, lname) = logical.rsplit_once('/').unwrap_or(("", logical));
    if dir != ldir {
        return None;
    }
    let (stem, ext) = match lname.rfind('.') {
        Some(dot) if dot > 0 => (&lname[..dot], &lname[dot..]),
        _ => (lname, ""),
    };
    let hash = name
        .strip_prefix(stem)?
        .strip_prefix('.')?
        .strip_suffix(ext)?;
    if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    cdt::versions_pattern(&format!("/{file}"), hash)
}

/// Whether an entry's hashes are what the build writes (64 hex digits, or
/// none): a hand-edited or damaged entry is skipped, never trusted.
fn check_entry(e: &Entry) -> Result<(), BadHash> {
    let is_hash = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
    if !e.blake3.is_empty() && !is_hash(&e.blake3) {
        return Err(BadHash {
            field: "blake3".into(),
            value: e.blake3.clone(),
        });
    }
    match e.encodings_blake3.iter().find(|(_, h)| !is_hash(h)) {
        Some((enc, h)) => Err(BadHash {
            field: format!("encodings_blake3.{enc}"),
            value: h.clone(),
        }),
        None => Ok(()),
    }
}

/// A manifest entry's hash that is not what the build writes.
#[derive(Debug, thiserror::Error)]
#[error("{field} {value:?} is not 64 hex digits")]
struct BadHash {
    /// Which field (`blake3`, `encodings_blake3.br`).
    field: String,
    /// What it says.
    value: String,
}

/// A manifest file's size and mtime: when either changes, it is re-read.
type FileStamp = (u64, Option<SystemTime>);

/// The current index, reloaded when `manifest.json` changes.
#[derive(Debug)]
pub struct ManifestIndex {
    root: PathBuf,
    /// Where bundlers put the hash in a name (for dictionary patterns).
    patterns: Patterns,
    current: Mutex<(Option<FileStamp>, Arc<Index>)>,
}

impl ManifestIndex {
    /// An index over `root/manifest.json` (read on first use); `patterns`
    /// find the hash in a bundler's names.
    pub fn new(root: &Path, patterns: Patterns) -> Self {
        Self {
            root: root.to_path_buf(),
            patterns,
            current: Mutex::new((None, Arc::new(Index::default()))),
        }
    }

    /// The index as of now: one `stat`, and a re-read if the file changed.
    /// An unreadable or invalid manifest is logged and treated as absent.
    pub fn get(&self) -> Arc<Index> {
        let path = self.root.join(manifest::FILE_NAME);
        let stamp = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.0 != stamp {
            let index = match manifest::read_file(&path) {
                Ok(m) => Index::of(m.unwrap_or_default(), &self.patterns),
                Err(e) => {
                    tracing::warn!("{}; serving without it", crate::error_chain::chain(&e));
                    Index::default()
                }
            };
            *cur = (stamp, Arc::new(index));
        }
        cur.1.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(blake3: &str) -> Entry {
        Entry {
            file: "a.css".into(),
            size: 6,
            content_type: "text/css".into(),
            blake3: blake3.into(),
            fingerprinted: true,
            ..Default::default()
        }
    }

    #[test]
    fn malformed_hashes_skip_the_entry() {
        let good = "ab".repeat(32);
        // 64 bytes, not hex: multi-byte characters, a control character, letters past f.
        for bad in [
            "é".repeat(32),
            "\u{1}".repeat(64),
            "g".repeat(64),
            "a".repeat(63),
        ] {
            let mut m = manifest::Manifest::new();
            m.insert("/a.css".into(), entry(&bad));
            let mut ok = entry(&good);
            ok.file = "b.3f2a9c1b.css".into();
            ok.encodings.insert("br".into(), 3);
            ok.encodings_blake3.insert("br".into(), good.clone());
            m.insert("/b.css".into(), ok);
            let mut bad_br = entry(&good);
            bad_br.file = "c.css".into();
            bad_br.encodings.insert("br".into(), 3);
            bad_br.encodings_blake3.insert("br".into(), bad.clone());
            m.insert("/c.css".into(), bad_br);
            let ix = Index::of(m, &Patterns::default());
            assert_eq!(ix.listing("a.css"), Listing::Unlisted, "{bad:?}");
            assert!(ix.known("a.css", None).is_none());
            assert_eq!(ix.listing("c.css"), Listing::Unlisted);
            assert_eq!(ix.listing("b.3f2a9c1b.css"), Listing::Fingerprinted);
            assert_eq!(ix.known("b.3f2a9c1b.css", Some("br")).unwrap().blake3, good);
        }
    }
}
