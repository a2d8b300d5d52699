//! The static root's `manifest.json`, indexed by fingerprinted file: which
//! files the build declared fingerprinted (immutable policy) and their
//! content hashes (so loading them needs no rehash). Re-read whenever the
//! manifest file changes, checked with one `stat` on the load path only.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::manifest::{self, Entry};

/// Hashes the manifest vouches for, per representation.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    /// Expected size in bytes.
    pub size: u64,
    /// blake3, hex.
    pub blake3: &'a str,
}

/// The manifest, indexed by the `file` of each entry.
#[derive(Debug, Default)]
pub struct Index {
    by_file: HashMap<String, Entry>,
}

impl Index {
    /// Whether `rel` (a path relative to the root) is a fingerprinted file
    /// the manifest lists.
    pub fn lists(&self, rel: &str) -> bool {
        self.by_file.contains_key(rel)
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
        (blake3.len() == 64).then_some(Known { size, blake3 })
    }
}

/// A manifest file's size and mtime: when either changes, it is re-read.
type FileStamp = (u64, Option<SystemTime>);

/// The current index, reloaded when `manifest.json` changes.
#[derive(Debug)]
pub struct ManifestIndex {
    root: PathBuf,
    current: Mutex<(Option<FileStamp>, Arc<Index>)>,
}

impl ManifestIndex {
    /// An index over `root/manifest.json` (read on first use).
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
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
                Ok(m) => Index {
                    by_file: m
                        .unwrap_or_default()
                        .into_values()
                        .map(|e| (e.file.trim_start_matches('/').to_string(), e))
                        .collect(),
                },
                Err(e) => {
                    tracing::warn!("{e}; serving without it");
                    Index::default()
                }
            };
            *cur = (stamp, Arc::new(index));
        }
        cur.1.clone()
    }
}
