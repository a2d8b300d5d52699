//! Phase "store": a response the decision kept becomes an `Asset` in
//! memory (with its encodings made in the background) and a file in the
//! disk cache, written before its first client is answered; after a 304 the
//! stored body is kept under the updated headers.

use std::sync::Arc;

use std::sync::atomic::Ordering;

use super::disk as persist;
use super::Puller;
use crate::asset::{Asset, Coding};
use crate::compress::{self, Persist};
use crate::disk_record;
use crate::lookup::{keep, Entry, Memory, Served, Source};
use crate::origin::stored::{asset_of, DiskMeta, PulledMeta};

/// A stored response made into an asset, before it is kept in memory.
pub(crate) struct Built {
    /// The asset (bodies in memory).
    pub asset: Asset,
    /// Its metadata.
    pub meta: Arc<PulledMeta>,
    /// The request path.
    pub path: String,
    /// Encodings of it are wanted (text).
    pub wanted: bool,
    /// Its encodings are already made (read back from disk).
    pub made: bool,
}

/// What the disk cache holds of a version being kept in memory.
pub(super) struct OnDisk {
    /// Encodings stored beside the body (read back, never made again).
    pub encodings: Vec<(Coding, bytes::Bytes)>,
    /// The disk entry's generation; 0 when not on disk.
    pub generation: u64,
}

impl Puller {
    /// Where the compression threads write an object's encodings once made.
    pub(super) fn persist_to(&self, path: &str) -> Option<Persist> {
        self.disk.as_ref().map(|disk| Persist {
            disk: disk.clone(),
            path: path.to_string(),
            generation: 0,
            origin: self.identity,
        })
    }

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
        let mut generation = 0;
        if let Some(disk) = &self.disk {
            let record = DiskMeta::of(&meta, path, self.identity);
            generation = persist::write(disk, at, record, vec![body.clone()]).await;
        }
        self.remember(
            memory,
            at,
            path,
            body,
            meta,
            OnDisk {
                encodings: Vec::new(),
                generation,
            },
        )
    }

    /// Keeps a stored response in memory as an asset, with `encodings`
    /// already made (read back from disk), or else starts making them when
    /// it is text.
    pub(super) fn remember(
        &self,
        memory: &Memory,
        at: &str,
        path: &str,
        body: &bytes::Bytes,
        meta: PulledMeta,
        on_disk: OnDisk,
    ) -> Served {
        let generation = on_disk.generation;
        let built = self.build(path, body, meta, on_disk.encodings);
        self.hold(memory, at, built, generation)
    }

    /// The asset of a stored response (with `encodings` already made, if
    /// any) and its metadata, not yet in memory.
    pub(crate) fn build(
        &self,
        path: &str,
        body: &bytes::Bytes,
        meta: PulledMeta,
        encodings: Vec<(Coding, bytes::Bytes)>,
    ) -> Built {
        let wanted = compress::wanted(path, &meta, body.len());
        let mut asset = asset_of(body, &meta, path, &self.rules.reading, wanted);
        let made = !encodings.is_empty();
        if made {
            asset = compress::with_encodings_owned(asset, encodings, compress::Tag::Derived);
        }
        Built {
            asset,
            meta: Arc::new(meta),
            path: path.to_string(),
            wanted,
            made,
        }
    }

    /// Puts a built response in memory (`disk_generation`: its disk
    /// version, 0 if none) and starts making its encodings when wanted and
    /// not made yet.
    pub(crate) fn hold(
        &self,
        memory: &Memory,
        at: &str,
        built: Built,
        disk_generation: u64,
    ) -> Served {
        let Built {
            asset,
            meta,
            path,
            wanted,
            made,
        } = built;
        let served = keep(memory, at.to_string(), asset, Source::Pulled(meta));
        served
            .0
            .disk_generation
            .store(disk_generation, Ordering::Relaxed);
        if wanted {
            // The newest version of a hashed name, for its next version's deltas.
            self.compressor.note_version(at);
        }
        if made {
            served.0.compress_queued.store(true, Ordering::Relaxed);
        } else if wanted {
            self.compressor
                .offer(memory, at, &served.0, self.persist_to(&path));
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
        let mut asset = Asset::new(
            old.representations().to_vec(),
            fresh.content_type.clone(),
            meta.last_modified,
            None,
            fresh.extra_headers.clone(),
        )
        .with_last_modified_value(fresh.last_modified_value.clone())
        .expecting_encodings(old.expects_encodings());
        // Its deltas and dictionary field: the same bytes, the same
        // validator (a 304 confirms the stored representation).
        asset.deltas = old.deltas.clone();
        let mut generation = 0;
        if let Some(disk) = &self.disk {
            let old_generation = entry.disk_generation.load(Ordering::Relaxed);
            generation = match disk_record::parts_of(&asset, &meta, path, self.identity) {
                Some((record, parts)) => persist::write(disk, at, record, parts).await,
                // Parts left on disk: copied under the new record.
                None => {
                    persist::rewrite(disk, at, old_generation, &asset, &meta, path, self.identity)
                        .await
                }
            };
        }
        let served = keep(
            memory,
            at.to_string(),
            asset,
            Source::Pulled(Arc::new(meta)),
        );
        served
            .0
            .disk_generation
            .store(generation, Ordering::Relaxed);
        served
    }
}
