//! The disk cache's behaviour with its index complete: round trips, parts,
//! eviction, restarts; and the helpers of the other test modules. (Bad
//! files and concurrency are in `tests_faults`, the rebuild itself in
//! `tests_rebuild`.)

use super::format::{charged, entry_path, id_of, TMP_SUFFIX};
use super::head::Shape;
use super::*;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fs;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub(super) struct M {
    pub content_type: String,
    etag: Option<String>,
    status: u16,
}

pub(super) fn meta(ct: &str) -> M {
    M {
        content_type: ct.into(),
        etag: Some("\"v1\"".into()),
        status: 200,
    }
}

/// File length of an entry with this key, meta and part lengths.
pub(super) fn entry_len(key: &str, m: &M, parts: &[usize]) -> u64 {
    let meta = serde_json::to_vec(m).unwrap().len();
    Shape {
        key_len: key.len() as u32,
        meta_len: meta as u32,
        shift: super::chunks::SHIFT,
        parts: parts.iter().map(|p| *p as u64).collect(),
    }
    .file_len()
    .unwrap()
}

/// What one body of `len` bytes is charged.
pub(super) fn entry_size(key: &str, m: &M, len: usize) -> u64 {
    charged(entry_len(key, m, &[len]))
}

pub(super) fn path(dir: &Path, key: &str) -> PathBuf {
    entry_path(dir, id_of(key))
}

/// (bytes charged, count) of `.obj` files, and count of `.tmp` files, on disk.
pub(super) fn on_disk(dir: &Path) -> (u64, u64, u64) {
    let (mut bytes, mut objs, mut tmps) = (0, 0, 0);
    for fan in fs::read_dir(dir).unwrap() {
        let fan = fan.unwrap();
        if fan.file_name().len() != 3 || !fan.file_type().unwrap().is_dir() {
            continue;
        }
        for e in fs::read_dir(fan.path()).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if name.ends_with(".obj") {
                bytes += charged(e.metadata().unwrap().len());
                objs += 1;
            } else if name.ends_with(TMP_SUFFIX) {
                tmps += 1;
            }
        }
    }
    (bytes, objs, tmps)
}

/// Opens `dir` and waits for the rebuild (bounded).
pub(super) fn open(dir: &Path, max: u64) -> DiskCache {
    let c = DiskCache::open(dir, max).unwrap();
    assert!(
        c.wait_ready(Duration::from_secs(30)),
        "rebuild did not finish"
    );
    c
}

pub(super) fn get_body(c: &DiskCache, key: &str) -> Option<Vec<u8>> {
    c.get::<M>(key).map(|(_, p)| p[0].to_vec())
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<DiskCache>();
}

#[test]
fn put_get_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    assert!(c.put("/a.css", &meta("text/css"), &[b"body{}"]).unwrap());
    let (m, parts) = c.get::<M>("/a.css").unwrap();
    assert_eq!(m, meta("text/css"));
    assert_eq!(parts, vec![Bytes::from_static(b"body{}")]);
    assert!(c.get::<M>("/missing").is_none());
    let size = entry_size("/a.css", &m, 6);
    assert_eq!(size, 4096);
    assert_eq!(c.usage(), (size, 1));
    assert_eq!(on_disk(d.path()), (size, 1, 0));
    // One level of fan-out: dir/abc/<32 hex>.obj
    let p = path(d.path(), "/a.css");
    assert_eq!(p.parent().unwrap().parent().unwrap(), d.path());
    assert_eq!(p.file_name().unwrap().len(), 32 + 4);
}

#[test]
fn several_parts_round_trip_in_order() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    let (body, br, gz) = (vec![1u8; 5000], vec![2u8; 300], Vec::new());
    assert!(c.put("k", &meta("t"), &[&body, &br, &gz]).unwrap());
    let (_, parts) = c.get::<M>("k").unwrap();
    assert_eq!(
        parts,
        vec![Bytes::from(body), Bytes::from(br), Bytes::new()]
    );
    assert_eq!(
        c.usage().0,
        charged(entry_len("k", &meta("t"), &[5000, 300, 0]))
    );
    assert!(c.put("none", &meta("t"), &[]).unwrap());
    assert!(c.get::<M>("none").unwrap().1.is_empty());
    let many = vec![&b"x"[..]; super::head::MAX_PARTS + 1];
    let e = c.put("many", &meta("t"), &many).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains(".obj"), "{e}");
}

#[test]
fn empty_body_and_empty_key() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    assert!(c.put("", &meta("x"), &[b""]).unwrap());
    assert_eq!(get_body(&c, "").unwrap(), b"");
}

#[test]
fn replace() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &meta("a"), &[b"first version"]).unwrap();
    c.put("k", &meta("bb"), &[b"second"]).unwrap();
    let (m, parts) = c.get::<M>("k").unwrap();
    assert_eq!(
        (m.content_type.as_str(), &parts[0][..]),
        ("bb", &b"second"[..])
    );
    let size = entry_size("k", &meta("bb"), 6);
    assert_eq!(c.usage(), (size, 1));
    assert_eq!(on_disk(d.path()), (size, 1, 0));
}

#[test]
fn put_over_writes_only_over_the_version_read() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    let g1 = c.put_versioned("k", &meta("a"), &[b"v1"]).unwrap().unwrap();
    let (_, _, read) = c.get_versioned::<M>("k").unwrap();
    assert_eq!(read, g1);
    // Encodings of v1, written over v1: taken, with a new generation.
    let g2 = c
        .put_over("k", g1, &meta("a+br"), &[b"v1", b"br"])
        .unwrap()
        .unwrap();
    assert_ne!(g2, g1);
    // A newer version came in: work done on v1 must not replace it.
    let g3 = c.put_versioned("k", &meta("b"), &[b"v2"]).unwrap().unwrap();
    assert_eq!(
        c.put_over("k", g2, &meta("a+br"), &[b"v1", b"br"]).unwrap(),
        None
    );
    assert_eq!(get_body(&c, "k").unwrap(), b"v2");
    // Nor resurrect a removed one.
    c.remove("k").unwrap();
    assert_eq!(c.put_over("k", g3, &meta("b"), &[b"v2"]).unwrap(), None);
    assert!(c.get::<M>("k").is_none());
    assert_eq!(on_disk(d.path()).2, 0, "no temp file left behind");
}

#[test]
fn remove() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &meta("a"), &[b"x"]).unwrap();
    c.put("other", &meta("a"), &[b"y"]).unwrap();
    assert!(c.remove("k").unwrap(), "it was there");
    assert!(!c.remove("k").unwrap(), "not twice");
    assert!(!c.remove("never-there").unwrap());
    assert!(c.get::<M>("k").is_none());
    assert_eq!(get_body(&c, "other").unwrap(), b"y");
    assert_eq!(c.usage().1, 1);
    assert_eq!(on_disk(d.path()).1, 1);
}

#[test]
fn remove_prefix_is_exact() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    for k in ["/a/x", "/a/y/z", "/a/", "/ab", "/a", "/b/a/x"] {
        c.put(k, &meta("t"), &[k.as_bytes()]).unwrap();
    }
    assert_eq!(c.remove_prefix("/a/").unwrap(), 3);
    for k in ["/a/x", "/a/y/z", "/a/"] {
        assert!(c.get::<M>(k).is_none(), "{k}");
    }
    for k in ["/ab", "/a", "/b/a/x"] {
        assert_eq!(get_body(&c, k).unwrap(), k.as_bytes());
    }
    assert_eq!(c.remove_prefix("/nothing").unwrap(), 0);
    assert_eq!(c.usage().1, 3);
    assert_eq!(on_disk(d.path()).1, 3);
}

#[test]
fn evicts_least_recently_used() {
    let d = tempfile::tempdir().unwrap();
    let one = entry_size("a", &meta("t"), 100);
    let c = open(d.path(), 3 * one);
    for k in ["a", "b", "c"] {
        c.put(k, &meta("t"), &[&[0; 100]]).unwrap();
    }
    assert!(c.get::<M>("a").is_some()); // b is now the least recent
    c.put("d", &meta("t"), &[&[0; 100]]).unwrap();
    assert!(c.get::<M>("b").is_none());
    for k in ["a", "c", "d"] {
        assert!(c.get::<M>(k).is_some(), "{k}");
    }
    assert_eq!(c.evictions(), 1);
    assert_eq!(c.usage(), (3 * one, 3));
    assert_eq!(on_disk(d.path()), (3 * one, 3, 0));
}

#[test]
fn the_bound_counts_whole_blocks_honestly() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    for i in 0..200usize {
        let body = vec![7u8; 1000 + i * 17];
        c.put(&format!("/o/{i}"), &meta("t"), &[&body]).unwrap();
    }
    // What the files occupy (st_blocks) is at most what is counted.
    let mut occupied = 0;
    for fan in fs::read_dir(d.path()).unwrap() {
        for f in fs::read_dir(fan.unwrap().path()).unwrap() {
            occupied += f.unwrap().metadata().unwrap().blocks() * 512;
        }
    }
    let (counted, n) = c.usage();
    assert_eq!(n, 200);
    assert!(occupied <= counted, "{occupied} > {counted}");
}

#[test]
fn larger_than_bound_is_not_stored_and_drops_old_version() {
    let d = tempfile::tempdir().unwrap();
    let max = 3 * format::BLOCK;
    let c = open(d.path(), max);
    assert!(c.put("small", &meta("t"), &[&[1; 10]]).unwrap());
    assert!(!c.put("big", &meta("t"), &[&[0; 13000]]).unwrap());
    assert!(c.get::<M>("big").is_none());
    assert!(!c.put("small", &meta("t"), &[&[2; 13000]]).unwrap());
    assert!(c.get::<M>("small").is_none());
    assert_eq!(c.usage(), (0, 0));
    assert_eq!(on_disk(d.path()), (0, 0, 0));
    // Exactly the bound fits; a byte more does not.
    // (Less the hash of its one chunk.)
    let exact = (max - entry_len("k", &meta("t"), &[0])) as usize - 32;
    assert_eq!(entry_len("k", &meta("t"), &[exact]), max);
    assert!(!c.put("k", &meta("t"), &[&vec![0; exact + 1]]).unwrap());
    assert!(c.put("k", &meta("t"), &[&vec![0; exact]]).unwrap());
    assert_eq!(c.usage(), (max, 1));
}

#[test]
fn reopen_restores_everything() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    for i in 0..50 {
        let body = vec![i as u8; i * 7];
        let key = format!("/k/{i}");
        c.put(&key, &meta(&format!("t{i}")), &[&body, b"br"])
            .unwrap();
    }
    let usage = c.usage();
    drop(c);
    let c = open(d.path(), 1 << 20);
    assert_eq!(c.usage(), usage);
    assert_eq!(c.evictions(), 0);
    for i in 0..50 {
        let (m, parts) = c.get::<M>(&format!("/k/{i}")).unwrap();
        assert_eq!(m, meta(&format!("t{i}")));
        assert_eq!(parts[0].to_vec(), vec![i as u8; i * 7]);
        assert_eq!(&parts[1][..], b"br");
    }
}

/// Sets the mtime of `key`'s file to `secs` after an hour ago.
pub(super) fn set_age(dir: &Path, key: &str, secs: u64) {
    let base = SystemTime::now() - Duration::from_secs(3600);
    let f = File::options().write(true).open(path(dir, key)).unwrap();
    f.set_modified(base + Duration::from_secs(secs)).unwrap();
}

#[test]
fn reopen_orders_recency_by_mtime_and_evicts_to_bound() {
    let d = tempfile::tempdir().unwrap();
    let one = entry_size("a", &meta("t"), 10);
    let c = open(d.path(), 10 * one);
    for k in ["a", "b", "c"] {
        c.put(k, &meta("t"), &[&[7; 10]]).unwrap();
    }
    drop(c);
    // Written a, b, c; used since (per mtime): c long ago, then a, then b.
    for (k, secs) in [("c", 0), ("a", 10), ("b", 20)] {
        set_age(d.path(), k, secs);
    }
    let c = open(d.path(), 2 * one);
    assert_eq!(c.evictions(), 1);
    assert_eq!(c.usage(), (2 * one, 2));
    assert!(c.get::<M>("c").is_none());
    assert!(!path(d.path(), "c").exists());
    // a is least recent now: a new entry evicts it, not b.
    c.put("d", &meta("t"), &[&[7; 10]]).unwrap();
    assert!(c.get::<M>("a").is_none());
    assert!(c.get::<M>("b").is_some());
    assert!(c.get::<M>("d").is_some());
}

#[test]
fn get_refreshes_a_stale_mtime() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &meta("t"), &[b"x"]).unwrap();
    set_age(d.path(), "k", 0);
    let old = fs::metadata(path(d.path(), "k"))
        .unwrap()
        .modified()
        .unwrap();
    c.get::<M>("k").unwrap();
    let mtime = fs::metadata(path(d.path(), "k"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(mtime > old + Duration::from_secs(1800));
}

#[test]
fn get_cached_reads_without_waiting_and_checks_every_read() {
    let d = tempfile::tempdir().unwrap();
    {
        let c = open(d.path(), 1 << 20);
        let g = c
            .put_versioned("k", &meta("a"), &[b"body"])
            .unwrap()
            .unwrap();
        let (m, parts, read) = c.get_cached::<M>("k").expect("in the caches").unwrap();
        assert_eq!((m, &parts[0][..], read), (meta("a"), &b"body"[..], g));
        assert!(c
            .get_cached::<M>("absent")
            .expect("index complete")
            .is_none());
    }
    // Another process's file (after a restart): damaged, so the hash is
    // checked, the fast path declines and the blocking path drops it.
    let file = path(d.path(), "k");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() - 1; // the body's last byte
    bytes[at] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let c = open(d.path(), 1 << 20);
    assert!(c.get_cached::<M>("k").is_none());
    assert!(c.get::<M>("k").is_none());
    assert!(!file.exists());
}

/// A file this very cache wrote and read back good is checked again on
/// every read: bytes changed in place behind its back (same length, same
/// descriptor kept open) are never handed out, and the entry is dropped
/// and counted under `hash`.
#[test]
fn a_file_changed_after_a_good_read_is_never_read_again() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    let body = vec![7u8; 20_000];
    c.put("k", &meta("a"), &[&body]).unwrap();
    let (_, parts, _) = c.get_cached::<M>("k").expect("cached").unwrap();
    assert_eq!(parts[0], body);
    let file = path(d.path(), "k");
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, b"TAMPERED-17-BYTES", 10_000).unwrap();
    assert!(c.get_cached::<M>("k").is_none(), "the fast path declines");
    assert!(c.get::<M>("k").is_none(), "the blocking path drops it");
    assert!(!file.exists());
    assert_eq!(c.usage().1, 0);
    let bad = c.bad_entries();
    assert_eq!(bad.iter().map(|(_, n)| n).sum::<u64>(), 1);
    assert_eq!(bad.iter().find(|(r, _)| *r == "hash").unwrap().1, 1);
}
