//! Phase "store": a response the decision kept becomes an `Asset` in
//! memory (with its encodings made in the background) and a file in the
//! disk cache, written before its first client is answered; after a 304 the
//! stored body is kept under the updated headers.

use std::sync::Arc;

use super::persist::{self, identity_body};
use super::pull::Origin;
use super::{compress, store, Entry, Memory, Served, Source};
use crate::asset::Asset;
use crate::origin::pull::{asset_of, DiskMeta, PulledMeta};

impl Origin {
    /// Phase "store": writes the response to disk (before the first client
    /// has it, so a restart keeps it), then keeps it in memory.
    pub(super) async fn store(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        body: &bytes::Bytes,
        meta: PulledMeta,
    ) -> Served {
        if let Some(disk) = &self.disk {
            let record = DiskMeta::of(&meta, path);
            persist::write(disk, at, record, body.clone()).await;
        }
        self.remember(memory, at, path, body, meta)
    }

    /// Keeps a stored response in memory as an asset, and starts making
    /// its encodings when it is text.
    pub(super) fn remember(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        body: &bytes::Bytes,
        meta: PulledMeta,
    ) -> Served {
        let ct = meta
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let encodings = compress::wanted(path, &meta, ct, body.len());
        let asset = asset_of(body, &meta, path, &self.rules.reading, encodings);
        let served = store(
            memory,
            at.to_string(),
            asset,
            Source::Pulled(Box::new(meta)),
        );
        if encodings {
            self.compressor.offer(memory, at, &served.0);
        }
        served
    }

    /// Phase "store" after a 304: the stored body (and the encodings made
    /// of it) with the updated headers.
    pub(super) async fn refresh(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        entry: &Arc<Entry>,
        meta: PulledMeta,
    ) -> Served {
        let old = &entry.asset;
        let fresh = asset_of(
            &bytes::Bytes::new(),
            &meta,
            path,
            &self.rules.reading,
            false,
        );
        let asset = Asset::new(
            old.representations().to_vec(),
            fresh.content_type.clone(),
            meta.last_modified,
            None,
            fresh.extra_headers.clone(),
        )
        .with_last_modified_value(fresh.last_modified_value.clone())
        .expecting_encodings(old.expects_encodings());
        if let (Some(disk), Some(body)) = (&self.disk, identity_body(&asset)) {
            persist::write(disk, at, DiskMeta::of(&meta, path), body).await;
        }
        store(
            memory,
            at.to_string(),
            asset,
            Source::Pulled(Box::new(meta)),
        )
    }
}
