//! Walking the source tree: every regular file under SRC, as a logical path
//! (relative, `/`-separated), skipping dotfiles and dot-directories. Names
//! must be UTF-8 (they become URLs). Symlinked files are read; symlinked
//! directories are not descended into (no loops, nothing outside SRC).

use std::path::{Path, PathBuf};

use super::BuildError;

/// One source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to SRC, `/`-separated (`css/app.css`).
    pub logical: String,
    /// Where it is on disk.
    pub path: PathBuf,
}

/// All files under `src`, sorted by logical path.
pub fn walk(src: &Path) -> Result<Vec<SourceFile>, BuildError> {
    let mut out = Vec::new();
    visit(src, "", &mut out)?;
    out.sort_by(|a, b| a.logical.cmp(&b.logical));
    Ok(out)
}

fn visit(dir: &Path, prefix: &str, out: &mut Vec<SourceFile>) -> Result<(), BuildError> {
    let io = |e: std::io::Error| BuildError::Read {
        path: dir.display().to_string(),
        source: e,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(BuildError::NotUtf8 {
                path: entry.path().display().to_string(),
            });
        };
        if name.starts_with('.') {
            continue;
        }
        let logical = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry.file_type().map_err(io)?;
        let path = entry.path();
        if file_type.is_dir() {
            visit(&path, &logical, out)?;
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            out.push(SourceFile { logical, path });
        }
    }
    Ok(())
}
