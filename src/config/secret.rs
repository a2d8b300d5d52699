//! A shared secret given as `token` or as `token_file` in a table
//! (`[purge]`, `[cluster]`): never both; a file's contents count without
//! the whitespace around them (a Kubernetes Secret ends in a newline).
//! What makes a good token is the table's own rule.

use std::path::Path;

use super::error::{invalid, ConfigError};

/// A secret as read.
pub(super) struct Secret {
    /// The token.
    pub value: String,
    /// It came from `token_file` (so errors may show the path, never the
    /// token itself).
    pub from_file: bool,
}

/// The secret of `table` (`token`, else the contents of `file`); `None`
/// when neither is set.
pub(super) fn read(
    origin: &str,
    table: &str,
    token: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    let file_key = format!("{table}.token_file");
    match (token, file) {
        (None, None) => Ok(None),
        (Some(token), None) => Ok(Some(Secret {
            value: token.to_string(),
            from_file: false,
        })),
        (Some(_), Some(file)) => Err(invalid(
            origin,
            &file_key,
            &file,
            &format!("not with {table}.token: set one of them"),
        )),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).map_err(|e| {
                invalid(origin, &file_key, &file, &format!("a readable file ({e})"))
            })?;
            Ok(Some(Secret {
                value: text.trim().to_string(),
                from_file: true,
            }))
        }
    }
}
