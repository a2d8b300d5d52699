//! Bad files (corrupt, truncated, another key's, undecodable metadata) are
//! missed and deleted, never served; concurrent use and random operation
//! sequences keep the byte bound and never read a stale version.

use super::format;
use super::head::{self, FIXED_LEN, HASH_LEN};
use super::tests::{entry_size, get_body, meta, on_disk, open, path, M};
use super::*;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::fs::File;

#[test]
fn a_flipped_byte_in_any_part_is_a_miss() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &meta("t"), &[b"body", b"second-part"]).unwrap();
    let p = path(d.path(), "k");
    let mut bytes = fs::read(&p).unwrap();
    let at = bytes.len() - 3; // inside the second part
    bytes[at] ^= 1;
    fs::write(&p, &bytes).unwrap();
    assert!(c.get::<M>("k").is_none());
    assert!(!p.exists());
    assert_eq!(c.usage(), (0, 0));
}

#[test]
fn corrupt_body_byte_is_a_miss_and_deletes_the_entry() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &meta("t"), &[&[b'x'; 1000]]).unwrap();
    c.put("keep", &meta("t"), &[b"fine"]).unwrap();
    let p = path(d.path(), "k");
    let mut bytes = fs::read(&p).unwrap();
    let at = bytes.len() - 500; // inside the body
    bytes[at] ^= 0x01;
    fs::write(&p, &bytes).unwrap();
    assert!(c.get::<M>("k").is_none());
    assert!(!p.exists());
    assert_eq!(c.usage(), (entry_size("keep", &meta("t"), 4), 1));
    assert_eq!(get_body(&c, "keep").unwrap(), b"fine");
}

#[test]
fn corrupt_head_meta_table_or_head_hash_is_a_miss() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    // Offsets from the start: in the part count, in a part length, in the
    // meta; from the end (the head ends 4 bytes before it, at the body): in
    // the chunk table, in the head's own hash.
    let meta_at = head::key_at(1) + "meta".len() + 3;
    for (k, from_start, at) in [
        ("count", true, 20),
        ("plen", true, FIXED_LEN + 1),
        ("meta", true, meta_at),
        ("table", false, 4 + HASH_LEN + 1),
        ("hash", false, 4 + 1),
    ] {
        c.put(k, &meta("text/plain"), &[b"body"]).unwrap();
        let p = path(d.path(), k);
        let mut bytes = fs::read(&p).unwrap();
        let at = if from_start { at } else { bytes.len() - at };
        bytes[at] ^= 0x20;
        fs::write(&p, &bytes).unwrap();
        assert!(c.get::<M>(k).is_none(), "{k}");
        assert!(!p.exists(), "{k}");
    }
    assert_eq!(c.usage(), (0, 0));
}

#[test]
fn truncated_file_is_a_miss_and_deleted() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &meta("t"), &[&[3; 4096]]).unwrap();
    let p = path(d.path(), "k");
    let len = fs::metadata(&p).unwrap().len();
    let f = File::options().write(true).open(&p).unwrap();
    f.set_len(len / 2).unwrap();
    assert!(c.get::<M>("k").is_none());
    assert!(!p.exists());
    assert_eq!(c.usage(), (0, 0));
}

#[test]
fn wrong_meta_type_is_a_miss() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("k", &"just a string".to_string(), &[b"x"]).unwrap();
    assert!(c.get::<M>("k").is_none());
    assert_eq!(c.usage(), (0, 0));
}

#[test]
fn another_keys_file_is_never_served() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    c.put("a", &meta("t"), &[b"for a"]).unwrap();
    c.put("b", &meta("t"), &[b"for b"]).unwrap();
    // Intact, same length, but holds key "a" (a collision, or a misplaced file).
    let b_path = path(d.path(), "b");
    fs::copy(path(d.path(), "a"), &b_path).unwrap();
    assert!(c.get::<M>("b").is_none());
    assert!(!b_path.exists());
    assert_eq!(get_body(&c, "a").unwrap(), b"for a");
}

/// Each kind of bad entry is counted under its reason, also a file of
/// another format version whose head's blake3 is right (an entry of a
/// later version seen by an older node): refused by its header and
/// deleted. A file of an older version of this node's is deleted too, and
/// not counted: nothing is wrong with it, it is only not read.
#[test]
fn bad_entries_are_counted_by_reason() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 20);
    for k in ["version", "old", "hash", "length", "key", "oth", "record"] {
        c.put(k, &meta("t"), &[b"body"]).unwrap();
    }
    let edit = |k: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let p = path(d.path(), k);
        let mut bytes = fs::read(&p).unwrap();
        f(&mut bytes);
        fs::write(&p, &bytes).unwrap();
    };
    // Another version, its head's hash right (the head ends before the
    // 4-byte body).
    let version = |v: u32| {
        move |b: &mut Vec<u8>| {
            b[8..12].copy_from_slice(&v.to_le_bytes());
            let end = b.len() - 4 - HASH_LEN;
            let hash = blake3::hash(&b[..end]);
            b[end..end + HASH_LEN].copy_from_slice(hash.as_bytes());
        }
    };
    edit("version", &version(head::VERSION + 1));
    // An older version of this node's: not bad, dropped quietly.
    edit("old", &version(2));
    edit("hash", &|b| {
        let at = b.len() - 2;
        b[at] ^= 1;
    });
    edit("length", &|b| b.truncate(b.len() - 1));
    // Same length, another key (a collision, or a misplaced file).
    fs::copy(path(d.path(), "oth"), path(d.path(), "key")).unwrap();
    c.put("record", &"not the metadata type".to_string(), &[b"x"])
        .unwrap();
    for k in ["version", "old", "hash", "length", "key", "record"] {
        assert!(c.get::<M>(k).is_none(), "{k}");
        assert!(!path(d.path(), k).exists(), "{k}");
    }
    let counts: Vec<(&str, u64)> = c.bad_entries().to_vec();
    assert_eq!(
        counts,
        [
            ("length", 1),
            ("header", 1),
            ("hash", 1),
            ("key", 1),
            ("record", 1)
        ]
    );
    assert_eq!(get_body(&c, "oth").unwrap(), b"body");
}

#[test]
fn utf8_and_very_long_keys() {
    let d = tempfile::tempdir().unwrap();
    let long = "ж".repeat(5 * 1024) + "/tail"; // > 10 KB
    let keys = [
        "/日本語/ファイル.html".to_string(),
        "/🦀/ключ?q=é&x=\u{0}".to_string(),
        "/🦀/other".to_string(),
        long.clone(),
    ];
    let c = open(d.path(), 1 << 20);
    for k in &keys {
        assert!(c.put(k, &meta("t"), &[k.as_bytes()]).unwrap());
    }
    drop(c);
    let c = open(d.path(), 1 << 20);
    // Keys not read yet after a restart: read from the files for the purge.
    assert_eq!(c.remove_prefix("/🦀/").unwrap(), 2);
    for k in &keys[..1] {
        assert_eq!(get_body(&c, k).unwrap(), k.as_bytes());
    }
    assert_eq!(c.remove_prefix(&long[..3000]).unwrap(), 1);
    assert_eq!(c.usage().1, 1);
}

#[test]
fn concurrent_put_get() {
    #[derive(Serialize, Deserialize, Clone)]
    struct T {
        thread: u8,
        len: usize,
    }
    let d = tempfile::tempdir().unwrap();
    let max = 10 * format::BLOCK;
    let c = Arc::new(open(d.path(), max));
    let threads: Vec<_> = (0..6u8)
        .map(|t| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                for i in 0..120usize {
                    let len = (i * 37 + t as usize * 11) % 1500;
                    let m = T { thread: t, len };
                    let body = vec![t; len];
                    let own = format!("/t{t}/{}", i % 10);
                    c.put(&own, &m, &[&body]).unwrap();
                    c.put("/shared", &m, &[&body]).unwrap();
                    if let Some((m, p)) = c.get::<T>("/shared") {
                        assert_eq!(p[0].len(), m.len);
                        assert!(p[0].iter().all(|&x| x == m.thread));
                    }
                    if let Some((m, p)) = c.get::<T>(&own) {
                        assert_eq!(m.thread, t);
                        assert_eq!(p[0].len(), m.len);
                        assert!(p[0].iter().all(|&x| x == t));
                    }
                    if i % 17 == 0 {
                        c.remove(&own).unwrap();
                    }
                    if i % 40 == 0 {
                        c.remove_prefix(&format!("/t{t}/1")).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (bytes, objs) = c.usage();
    assert!(bytes <= max);
    assert_eq!(on_disk(d.path()), (bytes, objs, 0));
    assert!(c.evictions() > 0);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, usize),
    Get(u8),
    Remove(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..8u8, 0..10_000usize).prop_map(|(k, n)| Op::Put(k, n)),
        3 => (0..8u8).prop_map(Op::Get),
        1 => (0..8u8).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn byte_bound_holds_and_reads_are_never_stale(ops in prop::collection::vec(op(), 1..40)) {
        let d = tempfile::tempdir().unwrap();
        let max = 5 * format::BLOCK;
        let c = open(d.path(), max);
        let mut model: HashMap<String, Vec<u8>> = HashMap::new();
        for (n, op) in ops.iter().enumerate() {
            match *op {
                Op::Put(k, len) => {
                    let key = format!("/k{k}");
                    let body = vec![n as u8; len];
                    let stored = c.put(&key, &meta("t"), &[&body]).unwrap();
                    prop_assert_eq!(stored, entry_size(&key, &meta("t"), len) <= max);
                    if stored {
                        model.insert(key, body);
                    } else {
                        model.remove(&key);
                    }
                }
                Op::Get(k) => {
                    let key = format!("/k{k}");
                    if let Some(body) = get_body(&c, &key) {
                        prop_assert_eq!(Some(&body), model.get(&key));
                    }
                }
                Op::Remove(k) => {
                    let key = format!("/k{k}");
                    c.remove(&key).unwrap();
                    model.remove(&key);
                }
            }
            let (bytes, objs) = c.usage();
            prop_assert!(bytes <= max);
            prop_assert_eq!((bytes, objs, 0), on_disk(d.path()));
        }
        // Whatever survived eviction is the latest version, also after a restart.
        let usage = c.usage();
        drop(c);
        let c = open(d.path(), max);
        prop_assert_eq!(c.usage(), usage);
        for (key, body) in &model {
            if let Some(got) = get_body(&c, key) {
                prop_assert_eq!(&got, body);
            }
        }
    }
}

#[test]
fn concurrent_use_while_rebuilding_keeps_index_and_disk_in_step() {
    let d = tempfile::tempdir().unwrap();
    let n = 3000usize;
    {
        let c = open(d.path(), 1 << 30);
        for i in 0..n {
            c.put(&format!("/{}/{i}", i % 10), &meta("old"), &[b"old"])
                .unwrap();
        }
    }
    let c = Arc::new(DiskCache::open(d.path(), 1 << 30).unwrap());
    let threads: Vec<_> = (0..4usize)
        .map(|t| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                if t == 3 {
                    return c.remove_prefix("/7/").unwrap();
                }
                for i in (t..n).step_by(3) {
                    let key = format!("/{}/{i}", i % 10);
                    match i % 4 {
                        0 => {
                            c.remove(&key).unwrap();
                        }
                        1 => assert!(c.put(&key, &meta("new"), &[b"new"]).unwrap()),
                        _ => {
                            if let Some((m, p)) = c.get::<M>(&key) {
                                assert_eq!(
                                    m,
                                    meta(if &p[0][..] == b"new" { "new" } else { "old" })
                                );
                            }
                        }
                    }
                }
                0
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(c.wait_ready(Duration::from_secs(30)));
    for i in 0..n {
        let key = format!("/{}/{i}", i % 10);
        let got = c.get::<M>(&key).map(|(m, _)| m.content_type);
        let want = match i % 4 {
            0 => None,
            _ if i % 10 == 7 => got.clone().filter(|g| g == "new"), // purged, unless put again after
            1 => Some("new".to_string()),
            _ => Some("old".to_string()),
        };
        assert_eq!(got, want, "{key}");
    }
    let (bytes, objs) = c.usage();
    assert_eq!(on_disk(d.path()), (bytes, objs, 0));
}
