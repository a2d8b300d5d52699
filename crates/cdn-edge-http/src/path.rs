//! From a request target's path to a store key: percent-decode once,
//! normalise slashes, and refuse anything that could leave the root.
//!
//! The key is the `/`-separated path relative to the root, without a leading
//! slash (`css/app.css`; the root itself is the empty key). This module
//! decides only what the key is; whether a file exists, and whether a symlink
//! leads out of the root, is the store's business.
//!
//! A key has two spellings: the decoded path (`a b.css`), which names a
//! file under the root, and the escaped path (`a%20b.css`), which is what
//! the origin is asked for and what caches are keyed on (`cache_key`; see
//! `http::cache_key`). The escaped one never holds `?`, `%` other than as
//! an escape, or a control character, so nothing appended to it can be
//! mistaken for part of it.

use percent_encoding::percent_decode_str;

/// A normalised request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Decoded segments joined by `/`, no leading slash; ends with `/` when
    /// a directory was asked for (`docs/`), so that file and directory
    /// requests are told apart wherever the key is used.
    full: String,
    /// `full` with [`PATH_ESCAPE`] applied, when that differs from `full`
    /// (most paths need no escape: no second allocation for them).
    escaped: Option<Box<str>>,
    /// The request path ended with `/` (a directory was asked for).
    pub trailing_slash: bool,
}

impl Key {
    /// Decoded segments joined by `/`, no leading or trailing slash.
    pub fn path(&self) -> &str {
        if self.trailing_slash {
            &self.full[..self.full.len() - 1]
        } else {
            &self.full
        }
    }

    /// The path as caches key it: the escaped path without its leading
    /// slash (`a%20b%3F.css`, `docs/` for a directory request), so exactly
    /// [`Key::url_path`] without the `/`. Two keys have the same
    /// `cache_key` iff they have the same decoded path (the escape is
    /// one-to-one: `%` itself is escaped).
    pub fn cache_key(&self) -> &str {
        self.escaped.as_deref().unwrap_or(&self.full)
    }

    /// The key written back as a URL path (`/a%20b/`), percent-encoding
    /// what a path may not hold; built from the normalised key, never the
    /// raw request, so `//host` cannot appear. This is what the origin is
    /// asked for.
    pub fn url_path(&self) -> String {
        format!("/{}", self.cache_key())
    }
}

/// Characters escaped when a key is written back into a URL path (and into
/// a cache key): everything a path segment may not hold as it is, `%` (so
/// the escape is one-to-one) and `?` (so a query cannot be forged).
/// Non-ASCII is always escaped as its UTF-8 bytes.
const PATH_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Not an origin-form path (does not start with `/`).
    #[error("path must start with /")]
    NotAbsolute,
    /// Percent-decoding did not give UTF-8.
    #[error("path is not valid UTF-8 once decoded")]
    BadEncoding,
    /// A `.` or `..` segment, in any encoding.
    #[error("path contains a dot segment")]
    DotSegment,
    /// A NUL byte, backslash or other control character.
    #[error("path contains a forbidden character")]
    ForbiddenChar,
    /// A segment starting with `.`: dotfiles are never served.
    #[error("hidden file")]
    Hidden,
}

impl PathError {
    /// Whether the client should get 404 (hidden files exist as far as the
    /// client knows nothing) rather than 400.
    pub fn is_not_found(self) -> bool {
        self == PathError::Hidden
    }
}

/// Turns a raw request path (without query) into a key.
///
/// Decoding happens exactly once, so `%252e%252e` stays the literal name
/// `%2e%2e`. Encoded slashes (`%2f`) split segments like real ones, so they
/// cannot smuggle a `..` past the check.
pub fn key(raw: &str) -> Result<Key, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| PathError::BadEncoding)?;
    if decoded.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(PathError::ForbiddenChar);
    }
    let mut path = String::with_capacity(decoded.len());
    let mut hidden = false;
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." {
            return Err(PathError::DotSegment);
        }
        hidden |= seg.starts_with('.');
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(seg);
    }
    if hidden {
        return Err(PathError::Hidden);
    }
    let trailing_slash = decoded.ends_with('/') && !path.is_empty();
    if trailing_slash {
        path.push('/');
    }
    let escaped = match percent_encoding::utf8_percent_encode(&path, PATH_ESCAPE).into() {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(e) => Some(e.into_boxed_str()),
    };
    Ok(Key {
        full: path,
        escaped,
        trailing_slash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_paths() {
        assert_eq!(
            key("/").unwrap(),
            Key {
                full: String::new(),
                escaped: None,
                trailing_slash: false
            }
        );
        assert_eq!(key("/app.css").unwrap().path(), "app.css");
        assert_eq!(key("//css///app.css").unwrap().path(), "css/app.css");
        assert_eq!(key("/a%20b.css").unwrap().path(), "a b.css");
        assert!(key("/docs/").unwrap().trailing_slash);
        assert_eq!(key("/docs/").unwrap().url_path(), "/docs/");
        assert_eq!(key("//a%20b?.css").unwrap().url_path(), "/a%20b%3F.css");
        assert_eq!(key("/%252e%252e/x").unwrap().path(), "%2e%2e/x");
    }

    #[test]
    fn traversal_in_every_spelling() {
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc",
            "/a/%2e%2e%2f%2e%2e%2fetc",
            "/a/./b",
            "/..",
            "/.%2e/x",
        ] {
            assert_eq!(key(bad), Err(PathError::DotSegment), "{bad}");
        }
        for bad in ["/..\\etc", "/%5c..%5cetc", "/a%00.css", "/a\u{7f}"] {
            assert_eq!(key(bad), Err(PathError::ForbiddenChar), "{bad}");
        }
        assert_eq!(key("/%c0%ae%c0%ae/etc"), Err(PathError::BadEncoding));
        assert_eq!(key("etc/passwd"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn dotfiles_are_hidden() {
        assert_eq!(key("/.env"), Err(PathError::Hidden));
        assert_eq!(key("/.git/config"), Err(PathError::Hidden));
        assert_eq!(key("/a/%2egit/config"), Err(PathError::Hidden));
    }

    proptest! {
        #[test]
        fn keys_never_escape_or_hide(raw in "/[a-z./%25cef0-9\\\\]{0,30}") {
            if let Ok(k) = key(&raw) {
                prop_assert!(!k.path().starts_with('/'));
                for seg in k.path().split('/') {
                    prop_assert!(seg != ".." && seg != "." && !seg.starts_with('.'));
                    prop_assert!(!seg.contains('\\') && !seg.contains('\0'));
                }
            }
        }
    }
}
