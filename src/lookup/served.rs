//! A handle on an asset being served, and what the response takes from
//! its stored metadata (status, fields left out of cache answers, age).

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use super::{Entry, Source};
use crate::asset::Asset;
use crate::http::freshness;

/// A handle on an asset being served: keeps it alive for the response.
#[derive(Debug, Clone)]
pub struct Served(pub(crate) Arc<Entry>);

impl Deref for Served {
    type Target = Asset;
    fn deref(&self) -> &Asset {
        &self.0.asset
    }
}

impl Served {
    /// The status to answer with: 200 for assets, the origin's status for
    /// other stored responses (404, 410, 301, ...).
    pub fn status(&self) -> u16 {
        match &self.0.source {
            Source::Pulled(meta) => meta.status,
            _ => 200,
        }
    }

    /// For a pulled object, the fields its `no-cache="…"` names: left out
    /// of answers from the cache (RFC 9111 §5.2.2.4), but part of the answer
    /// to the request that fetched or revalidated it.
    pub fn fetched_only_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        match &self.0.source {
            Source::Pulled(meta) => meta
                .headers
                .iter()
                .filter(|(n, _)| {
                    meta.cache_control
                        .no_cache_fields
                        .iter()
                        .any(|f| f == n.as_str())
                })
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Makes a pulled object's answer to a peer of the cluster carry what
    /// the origin said, not what this node tells clients: the peer stores
    /// it and judges its freshness itself, by the same rules. The fields
    /// the operator's rules replaced (`Cache-Control`, added headers) and
    /// this node's own targeted fields (`strip`, RFC 9213: the peer is
    /// this node's tier) are put back as stored; the fields a
    /// `no-cache="…"` names stay out (RFC 9111 §5.2.2.4).
    pub fn as_stored_for_peer(&self, h: &mut HeaderMap, strip: &[String]) {
        let Source::Pulled(meta) = &self.0.source else {
            return;
        };
        let ruled = meta.status < 400
            && (meta.say.cache_control.is_some() || meta.say.fingerprinted.is_some());
        let names = (ruled.then_some("cache-control").into_iter())
            .chain(meta.say.headers.iter().map(|(n, _)| n.as_str()))
            .chain(strip.iter().map(String::as_str));
        let names: Vec<HeaderName> = names
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .filter(|n| {
                !meta
                    .cache_control
                    .no_cache_fields
                    .iter()
                    .any(|f| f == n.as_str())
            })
            .collect();
        for name in &names {
            h.remove(name);
        }
        for name in &names {
            for v in meta.headers.get_all(name) {
                h.append(name.clone(), v.clone());
            }
        }
    }

    /// Whether this version was stored when it was fetched or revalidated:
    /// the memory cache took it or the disk cache wrote it. An object too
    /// big for memory whose disk write failed was stored nowhere, and its
    /// `Cache-Status` must not say `stored` (RFC 9211 §2.5).
    pub fn stored(&self) -> bool {
        self.0.in_memory.load(Ordering::Relaxed)
            || self.0.disk_generation.load(Ordering::Relaxed) != 0
    }

    /// For a pulled object, its current age in seconds (RFC 9111 §4.2.3),
    /// sent as `Age`.
    pub fn age(&self, now: SystemTime) -> Option<u64> {
        match &self.0.source {
            Source::Pulled(meta) => Some(freshness::current_age(&meta.stored(), now)),
            _ => None,
        }
    }
}
