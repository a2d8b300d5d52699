//! What the operator's rules say of one pulled object, resolved once when
//! it is stored (or read back from disk) and kept with its metadata: this
//! node's lifetime for it and how that meets the origin's (`edge_ttl`,
//! `edge_ttl_mode`), the operator's stale-if-error window, what clients
//! are told instead of the origin's `Cache-Control`, and the headers added.
//! The precedence it feeds is `http::freshness::lifetime`'s; how a path's
//! rules are found is `crate::rule_set`'s.

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::http::freshness::Operator;

/// The operator's word on one pulled object (empty: the origin's rules).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Say {
    /// This node's lifetime and its stale-if-error window.
    pub operator: Operator,
    /// Cache-Control toward clients, replacing the origin's (a rule's).
    pub cache_control: Option<HeaderValue>,
    /// Cache-Control toward clients when the origin sent none: the
    /// immutable policy of a fingerprinted name.
    pub fingerprinted: Option<HeaderValue>,
    /// Headers added toward clients, replacing the origin's of the name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Store a response with `Set-Cookie` (a rule's; else the node's).
    pub store_set_cookie: Option<bool>,
}

impl Say {
    /// Heap bytes held, for the memory bound.
    pub fn heap_bytes(&self) -> usize {
        let value = |v: &Option<HeaderValue>| v.as_ref().map_or(0, |v| 32 + v.len());
        value(&self.cache_control)
            + value(&self.fingerprinted)
            + (self.headers.iter())
                .map(|(n, v)| 64 + n.as_str().len() + v.len())
                .sum::<usize>()
    }

    /// The headers clients get in place of `origin`'s (the stored
    /// end-to-end fields, less those the node computes): the rule's
    /// Cache-Control instead of the origin's, else the fingerprint policy
    /// where the origin sent none; then each added header instead of the
    /// origin's of that name.
    pub fn apply(&self, origin: &mut Vec<(HeaderName, HeaderValue)>) {
        let cc = actix_web::http::header::CACHE_CONTROL;
        let said_cc = origin.iter().any(|(n, _)| *n == cc);
        let replacement = match (&self.cache_control, &self.fingerprinted) {
            (Some(v), _) => Some(v),
            (None, Some(v)) if !said_cc => Some(v),
            _ => None,
        };
        if let Some(v) = replacement {
            origin.retain(|(n, _)| *n != cc);
            origin.push((cc, v.clone()));
        }
        for (name, value) in &self.headers {
            origin.retain(|(n, _)| n != name);
            origin.push((name.clone(), value.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &'static str)]) -> Vec<(HeaderName, HeaderValue)> {
        (pairs.iter())
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn a_rule_replaces_toward_clients_and_a_fingerprint_fills_a_gap() {
        let imm = HeaderValue::from_static("public, max-age=31536000, immutable");
        let fp = Say {
            fingerprinted: Some(imm.clone()),
            ..Say::default()
        };
        let mut none = h(&[("x-a", "1")]);
        fp.apply(&mut none);
        assert_eq!(
            none,
            h(&[
                ("x-a", "1"),
                ("cache-control", "public, max-age=31536000, immutable")
            ])
        );
        let mut said = h(&[("cache-control", "no-cache")]);
        fp.apply(&mut said);
        assert_eq!(
            said,
            h(&[("cache-control", "no-cache")]),
            "the origin's word stands"
        );
        let rule = Say {
            cache_control: Some(HeaderValue::from_static("max-age=60")),
            fingerprinted: Some(imm),
            headers: h(&[("x-a", "2")]),
            ..Say::default()
        };
        let mut both = h(&[("cache-control", "no-cache"), ("x-a", "1"), ("x-a", "1b")]);
        rule.apply(&mut both);
        assert_eq!(both, h(&[("cache-control", "max-age=60"), ("x-a", "2")]));
    }
}
