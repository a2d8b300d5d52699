//! `manifest.json`: the build's map from logical asset paths to their
//! fingerprinted files, with what templates need (the URL, SRI, the chunk
//! graph for preload tags) and what the server can use (content hashes, so
//! it need not rehash). Shared by the `build` subcommand (which writes it)
//! and the server (which reads it).
//!
//! Format 2 (written since issue 21) is a document:
//! `{"version": 2, "base_url": "https://static.example.com/", "assets": {logical: entry}}`;
//! format 1, the bare `{logical: entry}` map, is still read everywhere
//! (old builds, the build history under `.cdn-edge/manifests/`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file name of the manifest at the root of a built tree.
pub const FILE_NAME: &str = "manifest.json";

/// The format this build writes.
pub const VERSION: u32 = 2;

/// A whole manifest file, as written (format 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The format: [`VERSION`].
    pub version: u32,
    /// The asset host's base URL the `url` of every entry starts with
    /// (`--base-url`); `null` when the build had none (URLs are then
    /// absolute paths on the host serving the tree).
    pub base_url: Option<String>,
    /// The entries, by logical path.
    pub assets: Manifest,
}

impl Document {
    /// A format-2 document of `assets`, each entry's `url` made from
    /// `base_url` and its file.
    pub fn of(mut assets: Manifest, base_url: Option<String>) -> Self {
        for e in assets.values_mut() {
            e.url = url_of(base_url.as_deref(), &e.file);
        }
        Self {
            version: VERSION,
            base_url,
            assets,
        }
    }
}

/// The URL of `file` (relative to the manifest's folder): `base` + `file`,
/// or `/` + `file` without a base URL (the tree served at the host's root).
pub fn url_of(base: Option<&str>, file: &str) -> String {
    match base {
        Some(b) => format!("{}/{file}", b.trim_end_matches('/')),
        None => format!("/{file}"),
    }
}

/// One logical asset in the manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The fingerprinted path, relative to the manifest's directory.
    pub file: String,
    /// Where a page loads it from: the base URL (or `/`) + `file`.
    #[serde(default)]
    pub url: String,
    /// Whether `file` carries a content hash (served immutable). `false`
    /// for entry points kept under their own name (HTML pages), which the
    /// server serves with the revalidate policy; manifests written before
    /// this field had only fingerprinted files, hence the default.
    #[serde(default = "yes")]
    pub fingerprinted: bool,
    /// Bytes of the (identity) content.
    #[serde(default)]
    pub size: u64,
    /// The MIME type it is served with.
    #[serde(rename = "type", default)]
    pub content_type: String,
    /// blake3 of the content, 64 hex digits.
    #[serde(default)]
    pub blake3: String,
    /// Subresource Integrity value: `sha384-<base64>`.
    #[serde(default)]
    pub integrity: String,
    /// Sizes of the precompressed siblings kept, by coding (`br`, `zstd`,
    /// `gzip`).
    #[serde(default)]
    pub encodings: BTreeMap<String, u64>,
    /// blake3 of each precompressed sibling (for the server's ETags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub encodings_blake3: BTreeMap<String, String>,
    /// Keys of the entries this one imports statically (a bundler's chunk
    /// graph, Vite's `imports`; an HTML page's entry chunk).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    /// Keys of the entries this one imports with `import()`.
    #[serde(
        rename = "dynamicImports",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dynamic_imports: Vec<String>,
    /// Keys of the stylesheets this entry needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub css: Vec<String>,
    /// Keys of the other files (images, fonts) this entry uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<String>,
    /// This file compressed against earlier versions of it (RFC 9842
    /// dictionaries), one per earlier version; the files are named by
    /// [`delta_file`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<Delta>,
}

/// A file compressed against an earlier version of itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The SHA-256 of the earlier version (the dictionary), in base64: what
    /// a browser holding it sends between the colons of
    /// `Available-Dictionary`.
    pub dictionary: String,
    /// The earlier version's file, relative to the manifest's directory.
    pub from: String,
    /// Sizes of the delta files kept, by coding (`dcz`, `dcb`).
    pub encodings: BTreeMap<String, u64>,
}

impl Delta {
    /// The delta against the dictionary of SHA-256 `hash`, the file `from`.
    pub fn new(hash: &[u8; 32], from: &str, encodings: BTreeMap<String, u64>) -> Self {
        use base64::Engine;
        Self {
            dictionary: base64::engine::general_purpose::STANDARD.encode(hash),
            from: from.to_string(),
            encodings,
        }
    }

    /// The dictionary's SHA-256, `None` if `dictionary` is not 32 bytes of base64.
    pub fn hash(&self) -> Option<[u8; 32]> {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD
            .decode(&self.dictionary)
            .ok()?;
        b.try_into().ok()
    }
}

/// The path (relative to the manifest's directory) of `file`'s delta in
/// `coding` (`dcz`, `dcb`) against the dictionary of SHA-256 `hash`:
/// `js/app.0123456789.js.<16 hex digits of hash>.dcz`.
pub fn delta_file(file: &str, hash: &[u8; 32], coding: &str) -> String {
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{file}.{hex}.{coding}")
}

fn yes() -> bool {
    true
}

/// The whole manifest, keyed by logical path (sorted, so output is stable).
pub type Manifest = BTreeMap<String, Entry>;

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but could not be read.
    #[error("{path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("{path}: not a valid manifest")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

/// Reads `dir/manifest.json`; `Ok(None)` when there is none.
pub fn read(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
    read_file(&dir.join(FILE_NAME))
}

/// Reads a manifest file; `Ok(None)` when it does not exist.
pub fn read_file(path: &Path) -> Result<Option<Manifest>, ManifestError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ManifestError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse(&text)
        .map(|d| Some(d.assets))
        .map_err(|source| ManifestError::Parse {
            path: path.display().to_string(),
            source,
        })
}

/// A manifest file's bytes read as a document: format 2 as written, format
/// 1 (a bare map) as a document without a base URL.
pub fn parse(text: &[u8]) -> Result<Document, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(text)?;
    // Format 2 has a numeric `version`; in format 1 every value is an entry
    // (an object), so a logical path named "version" cannot be mistaken.
    if value
        .get("version")
        .is_some_and(serde_json::Value::is_number)
    {
        return serde_json::from_value(value);
    }
    let assets: Manifest = serde_json::from_value(value)?;
    Ok(Document {
        version: 1,
        base_url: None,
        assets,
    })
}

/// The manifest's bytes as written: pretty JSON, keys sorted, trailing newline.
pub fn to_bytes(d: &Document) -> Vec<u8> {
    // Cannot fail: string keys and plain fields, written into memory.
    let mut out = serde_json::to_vec_pretty(d).expect("a manifest always serialises");
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_2_is_written_and_format_1_still_read() {
        let mut m = Manifest::new();
        let e: Entry = serde_json::from_str(r#"{"file": "css/app.0f4a5c3e85.css"}"#).unwrap();
        m.insert("css/app.css".into(), e);
        let d = Document::of(m.clone(), Some("https://static.example.com/".into()));
        assert_eq!(
            d.assets["css/app.css"].url,
            "https://static.example.com/css/app.0f4a5c3e85.css"
        );
        let back = parse(&to_bytes(&d)).unwrap();
        assert_eq!(back, d);
        assert_eq!(
            Document::of(m.clone(), None).assets["css/app.css"].url,
            "/css/app.0f4a5c3e85.css"
        );
        // A format-1 file (a bare map), even one with a path named "version".
        let mut v1 = m.clone();
        v1.insert("version".into(), m["css/app.css"].clone());
        let old = parse(&serde_json::to_vec(&v1).unwrap()).unwrap();
        assert_eq!((old.version, old.assets.len()), (1, 2));
        assert!(parse(b"[1]").is_err());
    }
}
