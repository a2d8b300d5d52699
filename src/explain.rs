//! `cdn-edge check --explain PATH`: what the node does for a request
//! path, and why — which rules match, what clients are told, how long this
//! node keeps a pulled object (in the documented precedence: rule
//! override, then CDN-Cache-Control, then Cache-Control / Expires, then
//! rule default, then heuristic), stale-on-error, the query policy, the fallback and error
//! pages. With `--origin-header` lines, the lifetime is computed for that
//! origin answer exactly as the pull engine computes it.

use std::fmt::Write as _;
use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Config, Rule};
use crate::http::freshness::{self, Basis};
use crate::http::query;
use crate::origin::client::Fetched;
use crate::origin::stored::PulledMeta;
use crate::rule_set::{Said, FINGERPRINT_TTL};

/// Why an explanation cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The path is not a request path.
    #[error("--explain {0:?}: {1}")]
    Path(String, String),
    /// An `--origin-header` is not `Name: value`.
    #[error(
        "--origin-header {0:?}: write it as \"Name: value\" (e.g. \"Cache-Control: max-age=60\")"
    )]
    Header(String),
    /// The configuration's rules could not be built.
    #[error("{0}")]
    Config(String),
}

/// The explanation of `path` under `config`, as lines of text; `origin`:
/// the origin's answer to assume (`Name: value` lines; none: say what each
/// kind of answer would get).
pub fn explain(config: &Config, path: &str, origin: &[String]) -> Result<String, ExplainError> {
    let key = crate::http::path::key(path.split('?').next().unwrap_or(path))
        .map_err(|e| ExplainError::Path(path.into(), e.to_string()))?;
    let rel = key.path();
    let rules = config
        .rules()
        .map_err(|e| ExplainError::Config(e.to_string()))
        .and_then(|compiled| {
            crate::server::live::rules(config, compiled)
                .map_err(|e| ExplainError::Config(e.to_string()))
        })?;
    let set = &rules.operator;
    let said = set.said(rel);
    let mut out = String::new();
    let o = &mut out;
    let _ = writeln!(o, "{path}");
    // Which rules.
    if said.matched.is_empty() {
        let _ = writeln!(o, "  rules: none match {rel:?}");
    } else {
        let list: Vec<String> = (said.matched.iter())
            .map(|i| format!("rules[{i}] (glob {:?})", config.rules[*i].glob))
            .collect();
        let _ = writeln!(
            o,
            "  rules: {} (later ones win, key by key)",
            list.join(", ")
        );
    }
    let by = |f: &dyn Fn(&Rule) -> bool| last_setter(&set.rules, &said, f);
    // Local or pulled.
    let local = config
        .server
        .root
        .as_ref()
        .map(|r| r.join(rel))
        .filter(|p| p.is_file());
    match (&local, &config.origin.url) {
        (Some(p), _) => {
            let _ = writeln!(
                o,
                "  source: the local file {} (served from the root)",
                p.display()
            );
        }
        (None, Some(url)) => {
            let _ = writeln!(o, "  source: not in the root: pulled from the origin {url}");
        }
        (None, None) => {
            let _ = writeln!(o, "  source: not in the root, and no origin: 404");
        }
    }
    // Toward clients.
    let fingerprinted = set.fingerprinted(rel);
    let cc = match (&said.cache_control, local.is_some(), fingerprinted) {
        (Some(v), _, _) => format!(
            "{v:?}, from rules[{}]",
            by(&|r| r.cache_control.is_some()).unwrap_or(0)
        ),
        (None, true, true) => format!(
            "{:?} (cache_control.immutable: a fingerprinted name)",
            config.cache_control.immutable
        ),
        (None, true, false) => format!(
            "{:?} (cache_control.revalidate; a manifest listing may make it immutable)",
            config.cache_control.revalidate
        ),
        (None, false, true) => format!(
            "the origin's; where it sends none, {:?} (a fingerprinted name)",
            config.cache_control.immutable
        ),
        (None, false, false) => "the origin's, as it sent it".into(),
    };
    let _ = writeln!(o, "  Cache-Control to clients: {cc}");
    for (n, v) in &said.headers {
        let i = by(&|r| r.headers.iter().any(|(rn, _)| rn == n)).unwrap_or(0);
        let _ = writeln!(
            o,
            "  header added: {n}: {} (rules[{i}])",
            v.to_str().unwrap_or("?")
        );
    }
    if local.is_none() && config.origin.url.is_some() {
        kept_here(o, config, &rules, rel, &said, fingerprinted, origin, &by)?;
    }
    // Query, fallback, error pages.
    let from = |what: String| {
        let i = by(&|r| r.query.is_some()).unwrap_or(0);
        format!("{what} (rules[{i}]; the origin is asked with the same query)")
    };
    let q = match &said.query {
        query::Policy::Keep => "keep (each query is its own object)".to_string(),
        query::Policy::Ignore => from("ignore: every query of the path is one object".into()),
        query::Policy::Sort => from("sort: parameters in name order".into()),
        query::Policy::Allow(n) => from(format!("allow: only {n:?} kept")),
        query::Policy::Deny(n) => from(format!("deny: {n:?} dropped")),
    };
    let _ = writeln!(o, "  query: {q}");
    if let Some(f) = &said.fallback {
        let i = by(&|r| r.fallback.is_some()).unwrap_or(0);
        let _ = writeln!(o, "  fallback: {f} (rules[{i}]) for a page that exists nowhere (no extension, or Accept prefers text/html)");
    }
    for (status, page) in &said.error_pages {
        let i = by(&|r| r.error_pages.iter().any(|(s, _)| s == status)).unwrap_or(0);
        let _ = writeln!(o, "  error page: {status} -> {page} (rules[{i}])");
    }
    Ok(out)
}

/// Finds the last matching rule that sets a key.
type Setter<'a> = dyn Fn(&dyn Fn(&Rule) -> bool) -> Option<usize> + 'a;

/// The lines on how long this node keeps a pulled object.
#[allow(clippy::too_many_arguments)]
fn kept_here(
    o: &mut String,
    config: &Config,
    rules: &crate::pull::Rules,
    rel: &str,
    said: &Said,
    fingerprinted: bool,
    origin: &[String],
    by: &Setter<'_>,
) -> Result<(), ExplainError> {
    let ttl_from = match (said.edge_ttl, fingerprinted) {
        (Some(t), _) => {
            let i = by(&|r| r.edge_ttl.is_some()).unwrap_or(0);
            let mode = match said.edge_ttl_mode {
                crate::config::TtlMode::Override => "override: it wins over whatever the origin says (no-store and private still hold)",
                crate::config::TtlMode::Default => "default: only when the origin gives no CDN-Cache-Control / Cache-Control max-age or s-maxage / Expires",
            };
            format!("edge_ttl {} (rules[{i}], {mode})", crate::config::units::show_duration(t))
        }
        (None, true) => format!("{FINGERPRINT_TTL} s (a fingerprinted name, when the origin gives no freshness)"),
        (None, false) => "none: the origin's freshness, else the heuristic (10% of Date - Last-Modified, at most cache.heuristic_max)".into(),
    };
    let _ = writeln!(o, "  kept here: {ttl_from}");
    if !origin.is_empty() {
        let mut h = HeaderMap::new();
        for line in origin {
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| ExplainError::Header(line.clone()))?;
            let n = HeaderName::from_bytes(n.trim().as_bytes())
                .map_err(|_| ExplainError::Header(line.clone()))?;
            let v =
                HeaderValue::from_str(v.trim()).map_err(|_| ExplainError::Header(line.clone()))?;
            h.append(n, v);
        }
        let now = SystemTime::now();
        let status = 200;
        let f = Fetched {
            status,
            headers: h,
            body: bytes::Bytes::new(),
            request_time: now,
            response_time: now,
        };
        let meta = PulledMeta::of(&f, &rules.reading, Vec::new())
            .said(std::sync::Arc::new(rules.operator.say(rel)));
        let (secs, basis) = freshness::lifetime_and_basis(&meta.stored(), &rules.policy);
        let targeted = rules.reading.read(&f.headers).1;
        let why = match basis {
            Basis::Override => "the rule's overriding edge_ttl",
            Basis::SMaxAge | Basis::MaxAge if targeted => {
                "the origin's targeted field (CDN-Cache-Control)"
            }
            Basis::SMaxAge => "the origin's s-maxage",
            Basis::MaxAge => "the origin's max-age",
            Basis::Expires => "the origin's Expires - Date",
            Basis::OperatorDefault => "the rule's default edge_ttl (the origin gave no freshness)",
            Basis::Negative => "cache.negative_ttl",
            Basis::Heuristic => "the heuristic (Last-Modified)",
            Basis::NodeDefault => "cache.default_ttl",
            Basis::Nothing => "nothing: revalidated on every request",
        };
        let no_cache = meta.cache_control.no_cache && basis != Basis::Override;
        let _ = writeln!(
            o,
            "  for this origin answer: fresh here for {secs} s, from {why}{}",
            if no_cache {
                " (but no-cache: revalidated on every request)"
            } else {
                ""
            }
        );
    }
    let sie = match said.stale_if_error {
        Some(w) => format!(
            "{} past freshness when the origin errors, times out or answers 5xx, even for no-cache / must-revalidate (rules[{}])",
            crate::config::units::show_duration(w),
            by(&|r| r.stale_if_error.is_some()).unwrap_or(0)
        ),
        None => format!(
            "the origin's stale-if-error, else cache.stale_if_error ({}), never for no-cache / must-revalidate",
            crate::config::units::show_duration(config.cache.stale_if_error)
        ),
    };
    let _ = writeln!(o, "  stale on origin trouble: {sie}");
    let cookie = match said.store_set_cookie {
        Some(b) => format!(
            "{b} (rules[{}])",
            by(&|r| r.store_set_cookie.is_some()).unwrap_or(0)
        ),
        None => format!("{} (cache.store_set_cookie)", config.cache.store_set_cookie),
    };
    let _ = writeln!(o, "  responses with Set-Cookie stored: {cookie}");
    Ok(())
}

/// The index of the last matching rule for which `sets` holds.
fn last_setter(rules: &[Rule], said: &Said, sets: &dyn Fn(&Rule) -> bool) -> Option<usize> {
    said.matched
        .iter()
        .rev()
        .copied()
        .find(|i| rules.get(*i).is_some_and(sets))
}
