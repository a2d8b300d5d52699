//! Responses that vary on request headers (RFC 9111 §4.1): each is stored
//! under a variant key made of the URL's key and the digest of the
//! normalised raw values of the headers its `Vary` names
//! (`http::cache_key`, `http::vary`), and the URL's own key holds a
//! [`Marker`] that says which headers those are. A lookup that finds a
//! marker computes the request's variant key and looks that up.
//!
//! A URL keeps at most `cache.max_variants` of them: the marker remembers
//! the variants it admitted (their digests, in room fixed when it is made),
//! and past the limit a new variant is admitted only once one of those no
//! longer counts: evicted from memory, or expired beyond what may still be
//! served stale (such a copy is dropped from memory then). The cap bounds
//! what one URL holds; it never shuts a URL out of the cache for longer
//! than its variants stay fresh. A purge, or a change of the `Vary` list,
//! starts a new marker. Markers live in memory only: after a restart the
//! first request for such a URL goes to the origin, and its variants are
//! then found on disk again (variants read back from disk are not counted
//! until the origin's answer for them is stored again).

use std::sync::Arc;

use actix_web::http::header::{HeaderMap, HeaderValue};

use super::Puller;
use crate::asset::{self, Asset};
use crate::http::cache_control::CacheControl;
use crate::http::cache_key::{self, Variant};
use crate::http::freshness::{NoStore, Verdict};
use crate::http::vary::{self, Vary};
use crate::lookup::{Entry, Marker, Memory, Source};

/// The variant a request with `headers` selects among responses varying
/// on `names`: the digest of the raw values it sends (`vary::secondary_key`).
pub fn variant(names: &[String], headers: &HeaderMap) -> Variant {
    let v = Vary {
        star: false,
        names: names.to_vec(),
    };
    let secondary = vary::secondary_key(&v, |name| {
        headers.get_all(name).map(HeaderValue::as_bytes).collect()
    });
    cache_key::variant(&secondary)
}

/// The memory (and disk) key of the variant of `primary` that a request
/// with `headers` selects among responses varying on `names`.
pub fn key(primary: &str, names: &[String], headers: &HeaderMap) -> String {
    cache_key::variant_key(primary, &variant(names, headers))
}

impl Puller {
    /// Room for the variant of `primary` (varying on `names`) that a
    /// request with `headers` selects: its marker made (or replaced, when
    /// the names changed) if need be, and the variant admitted, or
    /// `TooManyVariants`.
    pub(super) fn admit_variant(
        &self,
        memory: &Memory,
        primary: &str,
        names: &[String],
        headers: &HeaderMap,
    ) -> Result<(), NoStore> {
        let v = variant(names, headers);
        let marker = self.marker(memory, primary, names);
        let Source::Variants(m) = &marker.source else {
            return Err(NoStore::TooManyVariants);
        };
        let counts = |x: &Variant| self.variant_counts(memory, &cache_key::variant_key(primary, x));
        if m.claim(&v, counts) {
            return Ok(());
        }
        // Held already (read back from disk): refreshing it takes no room.
        if memory.get(&cache_key::variant_key(primary, &v)).is_some() {
            return Ok(());
        }
        Err(NoStore::TooManyVariants)
    }

    /// Whether the variant stored under `at` still takes a place: held in
    /// memory and fresh, or stale but still servable (stale-while-
    /// revalidate, stale-if-error). A copy past that is dropped from
    /// memory (the disk keeps it for revalidation).
    fn variant_counts(&self, memory: &Memory, at: &str) -> bool {
        let Some(entry) = memory.get(at) else {
            return false;
        };
        let servable = match &entry.source {
            Source::Pulled(meta) => matches!(
                self.verdict(meta, &CacheControl::default(), self.clock.now()),
                Verdict::Fresh
                    | Verdict::Stale {
                        may_serve_while_revalidating: true,
                        ..
                    }
                    | Verdict::Stale {
                        may_serve_on_error: true,
                        ..
                    }
            ),
            _ => false,
        };
        if !servable {
            memory.remove(at);
        }
        servable
    }

    /// The marker at `primary` for responses varying on `names`, made (or
    /// replaced, when the names changed) if need be.
    fn marker(&self, memory: &Memory, primary: &str, names: &[String]) -> Arc<Entry> {
        if let Some(e) = memory.get(primary) {
            if matches!(&e.source, Source::Variants(m) if m.names == names) {
                return e;
            }
        }
        let empty = Asset::new(
            vec![asset::Representation::new(
                asset::Coding::Identity,
                bytes::Bytes::new(),
            )],
            HeaderValue::from_static("application/octet-stream"),
            None,
            None,
            Vec::new(),
        );
        let marker = Marker::new(names.to_vec(), self.rules.max_variants);
        let entry = Arc::new(Entry::new(empty, Source::Variants(marker)));
        memory.insert(primary.to_string(), entry.clone());
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::header_map as h;
    use actix_web::http::header::HeaderName;

    #[test]
    fn keys_follow_the_named_headers_only() {
        let names = vec!["accept-language".to_string()];
        let en = key(
            "a.css",
            &names,
            &h(&[("accept-language", "en"), ("x", "1")]),
        );
        let en2 = key(
            "a.css",
            &names,
            &h(&[("accept-language", "en"), ("x", "2")]),
        );
        let de = key("a.css", &names, &h(&[("accept-language", "de")]));
        let none = key("a.css", &names, &h(&[]));
        assert_eq!(en, en2);
        assert_ne!(en, de);
        assert_ne!(en, none);
        assert!(en.starts_with(&cache_key::variants_of("a.css")));
    }

    /// Issue 18 item 5: a value that is not text is not "absent".
    #[test]
    fn a_value_that_is_not_text_is_its_own_variant() {
        let names = vec!["accept-language".to_string()];
        let mut evil = HeaderMap::new();
        evil.insert(
            HeaderName::from_static("accept-language"),
            HeaderValue::from_bytes(b"evil\xff").unwrap(),
        );
        let none = key("a.css", &names, &h(&[]));
        assert_ne!(key("a.css", &names, &evil), none);
        assert_ne!(
            key("a.css", &names, &evil),
            key("a.css", &names, &h(&[("accept-language", "evil")]))
        );
    }

    #[test]
    fn claims_stop_at_the_limit_while_every_variant_counts() {
        let m = Marker::new(vec!["origin".into()], 2);
        let (a, b, c) = ([1; 32], [2; 32], [3; 32]);
        assert!(m.claim(&a, |_| true) && m.claim(&b, |_| true));
        assert!(!m.claim(&c, |_| true));
        assert!(m.claim(&a, |_| false), "admitted already");
    }

    /// Issue 18 item 6: variants gone (evicted, expired) free their room.
    #[test]
    fn variants_that_no_longer_count_free_their_room() {
        let m = Marker::new(vec!["origin".into()], 2);
        let (a, b, c, d) = ([1; 32], [2; 32], [3; 32], [4; 32]);
        assert!(m.claim(&a, |_| true) && m.claim(&b, |_| true));
        assert!(m.claim(&c, |x| *x != a), "a is gone: c takes its place");
        assert!(!m.claim(&d, |_| true));
        assert!(m.claim(&d, |x| *x == b), "c is gone");
        assert!(!m.claim(&a, |_| true), "a was forgotten");
        assert_eq!(m.heap_bytes(), 32 + 6 + 2 * 32);
    }

    #[test]
    fn no_room_admits_nothing() {
        let m = Marker::new(vec!["origin".into()], 0);
        assert!(!m.claim(&[1; 32], |_| false));
    }
}
