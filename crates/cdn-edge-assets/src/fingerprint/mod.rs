//! Fingerprinted file names: `app.css` → `app.3f2a9c1b7d.css` as `build`
//! makes them, and telling whether a name already carries such a hash.
//! The server recognises these names and bundlers' ones by the patterns of
//! [`patterns`], whose defaults include the rule below, so every name
//! `build` writes is served as immutable.

pub mod patterns;

pub use patterns::Patterns;

/// Whether a file name carries a hash as `build` writes them (so `build`
/// keeps the name): a dot-separated part other than the first and the last
/// made of 8 or more hex digits (`app.3f2a9c1b.css`,
/// `vendor.0123456789abcdef.min.js`). The first default pattern.
pub fn is_fingerprinted(file_name: &str) -> bool {
    hex_hash(file_name).is_some()
}

/// The hash of a name [`is_fingerprinted`] recognises: its first
/// dot-separated part, not the first nor the last, of 8 or more hex digits.
pub fn hex_hash(file_name: &str) -> Option<&str> {
    let parts: Vec<&str> = file_name.split('.').collect();
    parts
        .get(1..parts.len().saturating_sub(1))?
        .iter()
        .find(|p| p.len() >= 8 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        .copied()
}

/// The fingerprinted form of `file_name` for a content hash `hash` (hex):
/// the hash goes before the last extension (`jquery.min.js` →
/// `jquery.min.<hash>.js`), or after the name when there is none
/// (`LICENSE` → `LICENSE.<hash>`). A name that already carries a hash is
/// returned unchanged. Dotfiles are never fingerprinted (nor served).
pub fn fingerprinted_name(file_name: &str, hash: &str) -> String {
    if is_fingerprinted(file_name) {
        return file_name.to_string();
    }
    match file_name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}.{hash}{}", &file_name[..dot], &file_name[dot..]),
        _ => format!("{file_name}.{hash}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn detects_hashes() {
        assert!(is_fingerprinted("app.3f2a9c1b.css"));
        assert!(is_fingerprinted("app.3F2A9C1B7D.css"));
        assert!(is_fingerprinted("vendor.0123456789.min.js"));
        assert!(!is_fingerprinted("app.css"));
        assert!(!is_fingerprinted("app.3f2a9c1.css"));
        assert!(!is_fingerprinted("3f2a9c1b00.css"));
        assert!(!is_fingerprinted("app.css.3f2a9c1b00"));
        assert!(!is_fingerprinted("app.zzzzzzzzzz.css"));
    }

    #[test]
    fn names() {
        assert_eq!(
            fingerprinted_name("app.css", "0123456789"),
            "app.0123456789.css"
        );
        assert_eq!(
            fingerprinted_name("jquery.min.js", "0123456789"),
            "jquery.min.0123456789.js"
        );
        assert_eq!(
            fingerprinted_name("LICENSE", "0123456789"),
            "LICENSE.0123456789"
        );
        assert_eq!(
            fingerprinted_name("vendor.abcdef0123.js", "0123456789"),
            "vendor.abcdef0123.js"
        );
        assert_eq!(
            fingerprinted_name("app.js.map", "0123456789"),
            "app.js.0123456789.map"
        );
    }

    proptest! {
        #[test]
        fn a_fingerprinted_name_is_recognised(stem in "[a-z][a-z._-]{0,12}", ext in "[a-z0-9]{1,5}", hash in "[0-9a-f]{8,64}") {
            let name = format!("{stem}.{ext}");
            let fp = fingerprinted_name(&name, &hash);
            prop_assert!(is_fingerprinted(&fp));
            prop_assert_eq!(fingerprinted_name(&fp, &hash), fp.clone());
        }
    }
}
