//! `manifest.json`: the build's map from logical asset paths to their
//! fingerprinted files, with what templates need (SRI) and what the server
//! can use (content hashes, so it need not rehash). Shared by the `build`
//! subcommand (which writes it) and the server (which reads it).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file name of the manifest at the root of a built tree.
pub const FILE_NAME: &str = "manifest.json";

/// One logical asset in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The fingerprinted path, relative to the manifest's directory.
    pub file: String,
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
    /// Sizes of the precompressed siblings kept (`br`, `gzip`).
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
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| ManifestError::Parse {
            path: path.display().to_string(),
            source,
        })
}

/// The manifest's bytes as written: pretty JSON, keys sorted, trailing newline.
pub fn to_bytes(m: &Manifest) -> Vec<u8> {
    // Cannot fail: string keys and plain fields, written into memory.
    let mut out = serde_json::to_vec_pretty(m).expect("a manifest always serialises");
    out.push(b'\n');
    out
}
