//! Fuzz target of the entry file format (see `crate::fuzz`): whatever
//! bytes a cache directory holds (a torn write, another program's file, a
//! flipped bit), reading them is a clean refusal or a good entry, never a
//! panic; and the record inside, however damaged, decodes or is refused.
//!
//! `src/store/disk/mod.rs` includes this file with `#[path]` as its child
//! `store::disk::fuzz`, so it reaches the format's private parser.

use bytes::Bytes;
use proptest::prelude::*;

use super::head;
use super::read::{self, whole};
use crate::fuzz::{bytes, every_seed};
use crate::origin::stored::{DiskMeta, PulledMeta, Reading};

const KEY: &str = "/css/app.css";

/// A well-formed entry of `KEY` with this record and parts, in chunks of
/// 4 KiB (so that small parts make several).
fn entry(meta: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    head::entry_file(KEY, meta, parts, 12)
}

/// Both ways of reading: whole, and head first (parts larger than a chunk
/// left in the file).
fn check_entry(file: &[u8]) {
    if let Ok(good) = whole(Bytes::copy_from_slice(file), KEY) {
        assert_eq!(good.len, file.len() as u64);
        check_record(&good.meta);
    }
    if let Ok(Ok(good)) = read::read(&file, file.len() as u64, KEY, 0) {
        assert_eq!(good.len, file.len() as u64);
        check_record(&good.meta);
    }
}

/// The record as a disk hit reads it, then the metadata built from it.
fn check_record(json: &[u8]) {
    if let Ok(mut record) = serde_json::from_slice::<DiskMeta>(json) {
        let mut fetched = record.fetched(Bytes::from_static(b"body"));
        let reading = Reading {
            targeted: vec!["CDN-Cache-Control".into()],
            strip: vec!["CDN-Cache-Control".into()],
            tags: vec!["Surrogate-Key".into(), "Cache-Tag".into()],
        };
        let _ = PulledMeta::taken_from(&mut fetched, &reading, vec!["accept-encoding".into()]);
    }
}

#[test]
fn fuzz_disk_entry_seeds() {
    every_seed("disk_record", |b| {
        check_record(b);
        check_entry(&entry(b, &[b"body", b"br"]));
        check_entry(&entry(b, &[&[7u8; 9000], b"br"]));
    });
}

proptest! {
    #![proptest_config(crate::fuzz::config("disk"))]

    #[test]
    fn fuzz_disk_entry(file in bytes("disk_record")) {
        check_entry(&file);
        check_record(&file);
    }

    /// A good entry with bytes changed: refused or read, never a panic.
    #[test]
    fn fuzz_disk_entry_damaged(
        record in bytes("disk_record"),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<Option<usize>>(),
    ) {
        let mut file = entry(&record, &[&body, b"br", &[9u8; 5000]]);
        check_entry(&file);
        for (at, byte) in edits {
            let i = at % file.len();
            file[i] = byte;
        }
        if let Some(c) = cut {
            file.truncate(c % (file.len() + 1));
        }
        check_entry(&file);
    }
}
