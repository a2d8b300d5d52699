//! `manifest.json`: the build's map from logical asset paths to their
//! fingerprinted files. Shared by the `build` subcommand (which writes it)
//! and the server (which reads it to know which files are fingerprinted).

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
}

/// The whole manifest, keyed by logical path (sorted, so output is stable).
pub type Manifest = BTreeMap<String, Entry>;

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file exists but could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("{path}: not a valid manifest: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

/// Reads `dir/manifest.json`; `Ok(None)` when there is none.
pub fn read(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
    let path = dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
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
