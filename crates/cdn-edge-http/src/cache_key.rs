//! The cache key of a request: the one function from what the origin is
//! asked for to the string that the memory cache, the disk cache, the
//! cluster's owner hash, purges and `Vary` markers all use.
//!
//! Not how a path is decoded and checked (`http::path`), nor which headers
//! a response varies on (`http::vary`): only how those parts are put
//! together so that no two of them can be confused.
//!
//! A key is `<path>[?<query>][SEP<variant>]`:
//!
//! - `<path>`: [`Key::cache_key`], the decoded, normalised path escaped
//!   again exactly as it is sent to the origin (`/` + it is the origin's
//!   path). It never holds `?` or a control character, and `%` only as an
//!   escape.
//! - `?<query>`: when the request had a query (an empty one too), the query
//!   as received with `%` and control characters escaped, so it never holds
//!   [`SEP`] and different queries never escape alike.
//! - `SEP<variant>`: for a response that varies (RFC 9111 §4.1), [`SEP`]
//!   and the hex blake3 of the request's secondary key
//!   (`vary::secondary_key`): a fixed 64 characters whatever the headers'
//!   size, so a marker can remember its variants in fixed room.
//!
//! Each part is one-to-one and the character that ends it cannot occur in
//! it, so the whole is one-to-one: two requests share a key exactly when
//! the origin is asked the same target (and, for a variant, they send the
//! same normalised values of the headers it varies on). `GET /app.js%3Fv=1`
//! (path `app.js%3Fv=1`) and `GET /app.js?v=1` (path `app.js`, query
//! `v=1`) never share an entry, nor `/a%2F%3Fb` and `/a/?b`.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use super::path::{self, Key, PathError};

/// The version of this key format, recorded with what is stored on disk:
/// a record written under another format is never served (format 1, before
/// this module, keyed on the decoded path and could let two targets
/// collide). Raise it whenever a key's spelling changes.
pub const FORMAT: u32 = 2;

/// Ends a URL's key where a variant's secondary key follows. A control
/// character: neither an escaped path nor an escaped query holds one.
pub const SEP: char = '\u{1}';

/// What is escaped in a query: `%` (so the escape is one-to-one) and
/// control characters (so [`SEP`] cannot be forged). Non-ASCII is escaped
/// as its UTF-8 bytes.
const QUERY_ESCAPE: &AsciiSet = &CONTROLS.add(b'%');

/// The digest of a secondary key, naming one variant of a URL.
pub type Variant = [u8; 32];

/// The key of a request for `key` with `query` (`None`: no `?` at all).
pub fn of(key: &Key, query: Option<&str>) -> String {
    let path = key.cache_key();
    match query {
        None => path.to_string(),
        Some(q) => format!("{path}?{}", utf8_percent_encode(q, QUERY_ESCAPE)),
    }
}

/// The prefix every query of the query-less key `path_key` starts with
/// (for purges: `PURGE /a.js` drops `/a.js?v=1` too).
pub fn queries_of(path_key: &str) -> String {
    format!("{path_key}?")
}

/// The variant named by a request's secondary key (`vary::secondary_key`).
pub fn variant(secondary: &[u8]) -> Variant {
    *blake3::hash(secondary).as_bytes()
}

/// The key of variant `v` of the URL keyed `primary`.
pub fn variant_key(primary: &str, v: &Variant) -> String {
    let mut k = variants_of(primary);
    for b in v {
        k.push(char::from(HEX[usize::from(b >> 4)]));
        k.push(char::from(HEX[usize::from(b & 15)]));
    }
    k
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The prefix every variant key of `primary` starts with (for purges).
pub fn variants_of(primary: &str) -> String {
    let mut k = String::with_capacity(primary.len() + 1 + 64);
    k.push_str(primary);
    k.push(SEP);
    k
}

/// The key prefix a purge prefix (`/img/`, `/a%20b/`, `/a b/`) matches:
/// decoded, checked and escaped as a request path is, so every spelling of
/// a path matches the same objects. The root (`/`) matches everything.
pub fn prefix(raw: &str) -> Result<String, PathError> {
    Ok(path::key(raw)?.cache_key().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The key of a raw request target (`/p?q`), as the handler makes it.
    fn key_of(target: &str) -> Option<String> {
        let (p, q) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        Some(of(&path::key(p).ok()?, q))
    }

    /// What the origin is asked for that target.
    fn asked(target: &str) -> Option<String> {
        let (p, q) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let mut t = path::key(p).ok()?.url_path();
        if let Some(q) = q {
            t.push('?');
            t.push_str(q);
        }
        Some(t)
    }

    #[test]
    fn an_encoded_question_mark_is_not_a_query() {
        let pairs = [
            ("/app.js%3Fv=123", "/app.js?v=123"),
            ("/app.js%3fv=123", "/app.js?v=123"),
            ("/a%2F%3Fb", "/a/?b"),
            ("/a%2f%3f", "/a/?"),
            ("/a%3F", "/a?"),
            ("/a", "/a?"),
            ("/a%253F", "/a%3F"),
            ("/a?b%01", "/a?b\u{1}"),
        ];
        for (one, other) in pairs {
            assert_ne!(key_of(one), key_of(other), "{one} vs {other}");
        }
        assert_eq!(key_of("/app.js%3Fv=123").unwrap(), "app.js%3Fv=123");
        assert_eq!(key_of("/app.js?v=123").unwrap(), "app.js?v=123");
        assert_eq!(key_of("/a?b%20c").unwrap(), "a?b%2520c");
        // Spellings the node normalises to one origin target share a key.
        assert_eq!(key_of("//a/%62"), key_of("/a/b"));
        assert_eq!(key_of("/a%20b"), key_of("/a b"));
    }

    #[test]
    fn variants_and_queries_have_their_own_prefixes() {
        let p = key_of("/a.css").unwrap();
        let v = variant_key(&p, &variant(b"x"));
        assert!(v.starts_with(&variants_of(&p)));
        assert!(!v.starts_with(&queries_of(&p)));
        assert_eq!(v.len(), p.len() + 1 + 64);
        assert_ne!(v, variant_key(&p, &variant(b"y")));
        let q = key_of("/a.css?x").unwrap();
        assert!(q.starts_with(&queries_of(&p)));
        assert!(!q.starts_with(&variants_of(&p)));
        // Another path never falls under these prefixes.
        let other = key_of("/a.css%3Fx").unwrap();
        assert!(!other.starts_with(&queries_of(&p)) && !other.starts_with(&variants_of(&p)));
    }

    #[test]
    fn purge_prefixes_match_every_spelling() {
        assert_eq!(prefix("/a%20b/").unwrap(), prefix("/a b/").unwrap());
        assert_eq!(prefix("/a%20b/").unwrap(), "a%20b/");
        assert!(key_of("/a%20b/x.css")
            .unwrap()
            .starts_with(&prefix("/a b/").unwrap()));
        assert_eq!(prefix("/").unwrap(), "");
        assert_eq!(prefix("//img//").unwrap(), "img/");
        assert_eq!(prefix("/../x"), Err(PathError::DotSegment));
        assert_eq!(prefix("img/"), Err(PathError::NotAbsolute));
    }

    /// Raw targets built from the characters that matter: escapes of `?`,
    /// `/` and `%`, raw `?` and `/`, control and non-ASCII characters.
    fn targets() -> impl Strategy<Value = String> {
        "/(a|b|/|\\?|%3F|%3f|%2F|%25|%|%01|\u{1}|é|%C3%A9|=|#|%23){0,8}"
    }

    proptest! {
        /// Two raw targets share a key only when the origin is asked the
        /// very same target for both (and then they always do).
        #[test]
        fn keys_are_one_to_one_with_what_the_origin_is_asked(a in targets(), b in targets()) {
            if let (Some(ka), Some(kb)) = (key_of(&a), key_of(&b)) {
                let (ta, tb) = (asked(&a).unwrap(), asked(&b).unwrap());
                prop_assert_eq!(ka == kb, ta == tb, "{:?} {:?} -> {:?} {:?}", a, b, ta, tb);
                prop_assert!(!ka.contains(SEP));
            }
        }

        /// A variant key is never a URL's key, and names one URL and one
        /// secondary key.
        #[test]
        fn variant_keys_name_one_url_and_one_variant(
            a in targets(), b in targets(), sa in any::<Vec<u8>>(), sb in any::<Vec<u8>>(),
        ) {
            if let (Some(ka), Some(kb)) = (key_of(&a), key_of(&b)) {
                let (va, vb) = (variant_key(&ka, &variant(&sa)), variant_key(&kb, &variant(&sb)));
                prop_assert_ne!(&va, &kb);
                prop_assert_eq!(va == vb, ka == kb && sa == sb);
            }
        }
    }
}
