//! What a disk hit would decode again, decoded once per disk version: the
//! record's metadata (`PulledMeta`) and the asset's headers and ETags
//! (an asset whose bodies are empty), keyed by the memory key and the disk
//! entry's generation. A later disk hit of the same version only slices the
//! parts it read into a copy of the template, instead of parsing the JSON
//! record and rebuilding header maps, metadata and asset (half of a text
//! disk hit's cost before this).
//!
//! A generation names one file version for the life of the process (a put
//! of the key makes a new one), so a template is never applied to another
//! version; templates of versions no longer on disk are simply never asked
//! for again and age out. Bounded by count ([`CAPACITY`]); no bodies are
//! held, only headers (about 2 KB each).

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;

use crate::asset::{Asset, Body, Coding};
use crate::origin::stored::PulledMeta;

/// Templates kept (least recently used dropped first): at ~2 KB each, at
/// most ~8 MiB, inside the memory bound's fixed allowance.
pub(super) const CAPACITY: usize = 4096;

/// One disk version, decoded.
pub(crate) struct Template {
    /// Its metadata, shared with every entry built from it.
    pub meta: Arc<PulledMeta>,
    /// Its asset with empty bodies.
    pub asset: Asset,
    /// The coding of each stored part, in order (identity first).
    pub parts: Vec<Coding>,
    /// The request path (content-type guess, where encodings are written).
    pub path: String,
    /// Encodings of it are wanted (text).
    pub wanted: bool,
    /// Its encodings are stored with it.
    pub made: bool,
}

impl Template {
    /// The asset of this version over `bodies`, its parts as read from the
    /// disk (in memory, or left on disk); `None` if they do not match the
    /// template's parts.
    pub fn asset_over(&self, bodies: Vec<Body>) -> Option<Asset> {
        if bodies.len() != self.parts.len() {
            return None;
        }
        let mut bodies: Vec<Option<Body>> = bodies.into_iter().map(Some).collect();
        self.asset.with_stored_bodies(|coding| {
            let i = self.parts.iter().position(|c| *c == coding)?;
            bodies.get_mut(i)?.take()
        })
    }
}

/// The templates of recently read disk versions.
pub(crate) struct Templates {
    map: Mutex<LruCache<String, (u64, Arc<Template>)>>,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            map: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

impl Templates {
    /// The template of generation `generation` of `key`, if kept.
    pub fn get(&self, key: &str, generation: u64) -> Option<Arc<Template>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            Some((g, t)) if *g == generation => Some(t.clone()),
            _ => None,
        }
    }

    /// Keeps `template` for generation `generation` of `key` (0: not on
    /// disk, nothing kept).
    pub fn put(&self, key: &str, generation: u64, template: Template) {
        if generation == 0 {
            return;
        }
        let old = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(key.to_string(), (generation, Arc::new(template)));
        drop(old); // outside the lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::Representation;
    use actix_web::http::header::HeaderValue;
    use bytes::Bytes;

    fn template() -> Template {
        let reps = vec![
            Representation::new(Coding::Identity, Bytes::from_static(b"body")),
            Representation::new(Coding::Br, Bytes::from_static(b"br")),
        ];
        let asset = Asset::new(
            reps,
            HeaderValue::from_static("text/css"),
            None,
            None,
            vec![],
        );
        let meta = crate::origin::stored::PulledMeta::of(
            &crate::origin::client::Fetched {
                status: 200,
                headers: Default::default(),
                body: Bytes::new(),
                request_time: std::time::UNIX_EPOCH,
                response_time: std::time::UNIX_EPOCH,
            },
            &Default::default(),
            vec![],
        );
        Template {
            meta: Arc::new(meta),
            asset: asset.with_bodies(|_| Some(Bytes::new())).unwrap(),
            parts: vec![Coding::Identity, Coding::Br],
            path: "a.css".into(),
            wanted: true,
            made: true,
        }
    }

    #[test]
    fn bodies_go_to_their_codings_and_etags_stay() {
        let t = template();
        assert!(t.asset.representations().iter().all(|r| r.len == 0));
        let parts = || {
            vec![
                Body::Memory(Bytes::from_static(b"BODY")),
                Body::Memory(Bytes::from_static(b"BR")),
            ]
        };
        let a = t.asset_over(parts()).unwrap();
        let body = |c| match &a
            .representations()
            .iter()
            .find(|r| r.coding == c)
            .unwrap()
            .body
        {
            crate::asset::Body::Memory(b) => b.clone(),
            _ => panic!("in memory"),
        };
        assert_eq!(body(Coding::Identity), "BODY");
        assert_eq!(body(Coding::Br), "BR");
        // The ETags are the template's (of the version it was made from).
        let etags: Vec<_> = a.representations().iter().map(|r| r.etag.clone()).collect();
        let t_etags: Vec<_> = t
            .asset
            .representations()
            .iter()
            .map(|r| r.etag.clone())
            .collect();
        assert_eq!(etags, t_etags);
        assert!(
            t.asset_over(parts()[..1].to_vec()).is_none(),
            "parts missing"
        );
    }

    #[test]
    fn keyed_by_generation() {
        let ts = Templates::default();
        ts.put("k", 0, template());
        assert!(ts.get("k", 0).is_none(), "not on disk: not kept");
        ts.put("k", 7, template());
        assert!(ts.get("k", 7).is_some());
        assert!(ts.get("k", 8).is_none(), "another version");
        assert!(ts.get("j", 7).is_none());
    }
}
