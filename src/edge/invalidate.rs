//! Unsafe methods with an origin (RFC 9111 §4.4): the request is passed
//! through with its body, and a successful answer invalidates what is
//! stored for the request's URL and for the same-origin URLs its
//! `Location` / `Content-Location` name.

use super::Edge;
use crate::http::freshness::NoStore;
use crate::http::path::Key;
use crate::lookup::{Ask, Lookup};
use crate::pull::buffer;

impl Edge {
    /// Passes a request with an unsafe method to the origin (its
    /// end-to-end headers and body) and, when it succeeds, drops what is
    /// stored for its URL and for the URLs in the response's `Location` /
    /// `Content-Location` (RFC 9111 §4.4). `None` when no origin is
    /// configured.
    pub async fn forward_unsafe(
        &self,
        key: &Key,
        target: &str,
        method: &str,
        ask: &Ask<'_>,
        body: bytes::Bytes,
    ) -> Option<Lookup> {
        let origin = self.origin.as_ref()?;
        let headers = origin.upstream_headers(ask, false, &[]);
        let started = std::time::Instant::now();
        let forwarded = origin
            .client()
            .forward(method, target, &headers, body)
            .await;
        ask.spent_upstream(started.elapsed());
        // Streamed back, counted against the memory bound like any other.
        let forwarded = forwarded.and_then(|s| {
            let held = buffer::reserve_stream(&self.memory, s.len)?;
            Ok(buffer::counted(s, held))
        });
        Some(match forwarded {
            Ok(f) => {
                if (200..400).contains(&f.status) {
                    self.purge(key).await;
                    for name in ["location", "content-location"] {
                        let Some(v) = f.headers.get(name).and_then(|v| v.to_str().ok()) else {
                            continue;
                        };
                        let host = ask.authority;
                        if let Some(k) = same_origin_key(v, origin.client().base(), host) {
                            self.purge(&k).await;
                        }
                    }
                }
                Lookup::Streamed(f, NoStore::Method)
            }
            Err(e) => Lookup::OriginFailed(e),
        })
    }
}

/// The key of a `Location` / `Content-Location` value that names this
/// origin: a path, or an absolute URL whose authority is the origin's or
/// the request's `Host` (RFC 9111 §4.4 invalidates only same-origin URLs).
fn same_origin_key(v: &str, base: &str, host: Option<&str>) -> Option<Key> {
    let rest = if v.starts_with('/') && !v.starts_with("//") {
        v
    } else {
        let after_scheme = v.split_once("://")?.1;
        let (authority, rest) = after_scheme.split_at(after_scheme.find('/')?);
        let base_authority = base.split_once("://").map_or(base, |(_, a)| a);
        let base_authority = base_authority.split('/').next().unwrap_or_default();
        let same = authority.eq_ignore_ascii_case(base_authority)
            || host.is_some_and(|h| authority.eq_ignore_ascii_case(h));
        if !same {
            return None;
        }
        rest
    };
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    crate::http::path::key(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_locations_are_invalidated_section_4_4() {
        let k = |v| same_origin_key(v, "http://127.0.0.1:9000", Some("edge.example"));
        assert_eq!(k("/a/b?x#y").unwrap().cache_key(), "a/b");
        assert_eq!(k("http://127.0.0.1:9000/c").unwrap().cache_key(), "c");
        assert_eq!(k("https://edge.example/d").unwrap().cache_key(), "d");
        assert!(k("//evil.example/x").is_none());
        assert!(k("http://other.example/x").is_none());
        assert!(k("http://edge.example").is_none());
    }
}
