//! What the operator's `[[rules]]` say of one path: every matching rule in
//! order, a later rule's key replacing an earlier one's (`glob` over the
//! path relative to the root, the same for a local file and a pulled
//! object). Resolved once when an object enters the node (a local file
//! when it is loaded, a pulled object when it is stored or read back from
//! disk), and per request only for what decides the key (`query`) or the
//! answer to a path that exists nowhere (`fallback`, `error_pages`).

use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};

use crate::config::{Rule, TtlMode};
use crate::fingerprint::Patterns;
use crate::http::freshness::Operator;
use crate::http::query;
use crate::origin::say::Say;

/// How long this node keeps a pulled fingerprinted name by default: a
/// year, as clients are told.
pub const FINGERPRINT_TTL: u64 = 31_536_000;

/// What the rules say of one path; `None` where no matching rule sets it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Said {
    /// The indices of the matching rules, in order (for `check --explain`).
    pub matched: Vec<usize>,
    /// Cache-Control toward clients.
    pub cache_control: Option<HeaderValue>,
    /// Headers added to responses (a later rule's value of a name wins).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// This node's lifetime for a pulled object.
    pub edge_ttl: Option<Duration>,
    /// How `edge_ttl` combines with the origin's freshness.
    pub edge_ttl_mode: TtlMode,
    /// The operator's stale-if-error window.
    pub stale_if_error: Option<Duration>,
    /// The document for pages that exist nowhere.
    pub fallback: Option<String>,
    /// Error pages by status.
    pub error_pages: Vec<(u16, String)>,
    /// The query policy (`Keep` where unset).
    pub query: query::Policy,
    /// Store responses with `Set-Cookie`.
    pub store_set_cookie: Option<bool>,
}

impl Said {
    /// Whether no rule says anything of the path.
    pub fn is_empty(&self) -> bool {
        self.matched.is_empty()
    }
}

/// The rules of a configuration with the fingerprint policy, as the pull
/// engine applies them to the objects it stores.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// `[[rules]]`, compiled, in order.
    pub rules: Vec<Rule>,
    /// `cache_control.fingerprint_patterns`.
    pub fingerprints: Patterns,
    /// `cache_control.immutable`: what clients are told of a fingerprinted
    /// name the origin said nothing of.
    pub immutable: Option<HeaderValue>,
}

impl RuleSet {
    /// What the rules say of `path`.
    pub fn said(&self, path: &str) -> Said {
        said(&self.rules, path)
    }

    /// Whether `path`'s file name is a fingerprinted one.
    pub fn fingerprinted(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.fingerprints.matches(name)
    }

    /// The operator's word on a pulled object at `path`: its rules, and
    /// for a fingerprinted name the immutable policy toward clients (where
    /// the origin sent no Cache-Control) and a year's lifetime here (where
    /// the origin gave no freshness and no rule an `edge_ttl`).
    pub fn say(&self, path: &str) -> Say {
        let s = self.said(path);
        let fingerprinted = self.fingerprinted(path);
        let ttl = match s.edge_ttl {
            Some(t) => Some(t.as_secs()),
            None => fingerprinted.then_some(FINGERPRINT_TTL),
        };
        Say {
            operator: Operator {
                ttl,
                override_ttl: s.edge_ttl.is_some() && s.edge_ttl_mode == TtlMode::Override,
                stale_if_error: s.stale_if_error.map(|d| d.as_secs()),
            },
            cache_control: s.cache_control,
            fingerprinted: self.immutable.clone().filter(|_| fingerprinted),
            headers: s.headers,
            store_set_cookie: s.store_set_cookie,
        }
    }
}

/// What `rules` say of `path` (relative to the root, no leading `/`).
pub fn said(rules: &[Rule], path: &str) -> Said {
    let mut s = Said::default();
    for (i, rule) in rules.iter().enumerate() {
        if !rule.glob.is_match(path) {
            continue;
        }
        s.matched.push(i);
        if let Some(cc) = &rule.cache_control {
            s.cache_control = Some(cc.clone());
        }
        for (n, v) in &rule.headers {
            s.headers.retain(|(en, _)| en != n);
            s.headers.push((n.clone(), v.clone()));
        }
        if rule.edge_ttl.is_some() {
            s.edge_ttl = rule.edge_ttl;
        }
        if let Some(m) = rule.edge_ttl_mode {
            s.edge_ttl_mode = m;
        }
        if rule.stale_if_error.is_some() {
            s.stale_if_error = rule.stale_if_error;
        }
        if rule.fallback.is_some() {
            s.fallback.clone_from(&rule.fallback);
        }
        for (status, page) in &rule.error_pages {
            s.error_pages.retain(|(st, _)| st != status);
            s.error_pages.push((*status, page.clone()));
        }
        if let Some(q) = &rule.query {
            s.query = q.clone();
        }
        if rule.store_set_cookie.is_some() {
            s.store_set_cookie = rule.store_set_cookie;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuleConfig;

    fn rules(text: &str) -> Vec<Rule> {
        #[derive(serde::Deserialize)]
        struct R {
            rules: Vec<RuleConfig>,
        }
        let r: R = toml::from_str(text).unwrap();
        crate::config::compile_rules(&r.rules).unwrap()
    }

    #[test]
    fn later_rules_replace_earlier_ones_key_by_key() {
        let r = rules(concat!(
            "[[rules]]\nglob = \"*\"\nedge_ttl = \"1h\"\nstale_if_error = \"1d\"\n",
            "headers = { X-A = \"1\", X-B = \"1\" }\nerror_pages = { 404 = \"/404.html\" }\n",
            "[[rules]]\nglob = \"assets/*\"\nedge_ttl = \"1d\"\nedge_ttl_mode = \"override\"\n",
            "headers = { X-A = \"2\" }\nquery = \"ignore\"\n",
        ));
        let s = said(&r, "assets/app.js");
        assert_eq!(s.matched, vec![0, 1]);
        assert_eq!(s.edge_ttl, Some(Duration::from_secs(86400)));
        assert_eq!(s.edge_ttl_mode, TtlMode::Override);
        assert_eq!(s.stale_if_error, Some(Duration::from_secs(86400)));
        assert_eq!(s.query, query::Policy::Ignore);
        let shown: Vec<_> = s
            .headers
            .iter()
            .map(|(n, v)| format!("{n}={v:?}"))
            .collect();
        assert_eq!(shown, ["x-b=\"1\"", "x-a=\"2\""]);
        let s = said(&r, "index.html");
        assert_eq!(s.matched, vec![0]);
        assert_eq!(s.edge_ttl_mode, TtlMode::Default);
        assert_eq!(s.query, query::Policy::Keep);
        assert_eq!(s.error_pages, vec![(404, "/404.html".to_string())]);
        assert!(said(&[], "x").is_empty());
    }
}
