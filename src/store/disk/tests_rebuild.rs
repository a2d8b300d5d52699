//! The background rebuild, driven step by step (`open_paused`): what works
//! before it ends, and that nothing removed while it runs comes back.

use super::format::{entry_path, id_of};
use super::scan::Rebuild;
use super::tests::{entry_size, get_body, meta, on_disk, open, path, set_age, M};
use super::*;
use std::fs;

/// A directory holding `keys` (body = key), written by a cache since dropped.
fn filled(keys: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    for k in keys {
        c.put(k, &meta("t"), &[k.as_bytes()]).unwrap();
    }
    d
}

/// Scans every directory and ends the rebuild; the key pass and the old
/// layout's removal are left to `r.after`.
fn rebuild(c: &DiskCache, r: &mut Rebuild) {
    while r.step(&c.shared) {}
    r.finish(&c.shared);
    assert!(c.ready());
}

fn run_to_end(c: &DiskCache, mut r: Rebuild) {
    rebuild(c, &mut r);
    r.after(&c.shared);
}

#[test]
fn open_returns_before_the_index_and_gets_read_files_directly() {
    let d = filled(&["/a", "/b", "/c"]);
    let (c, r) = DiskCache::open_paused(d.path(), 1 << 24).unwrap();
    assert!(!c.ready());
    assert_eq!(c.usage(), (0, 0));
    assert_eq!(get_body(&c, "/b").unwrap(), b"/b");
    assert!(c.get::<M>("/nope").is_none());
    assert_eq!(c.usage(), (entry_size("/b", &meta("t"), 2), 1));
    run_to_end(&c, r);
    assert_eq!(c.usage().1, 3);
    assert_eq!(on_disk(d.path()), (c.usage().0, 3, 0));
    assert_eq!(get_body(&c, "/a").unwrap(), b"/a");
    assert!(c.get::<M>("/nope").is_none());
}

#[test]
fn removed_or_replaced_while_rebuilding_never_comes_back() {
    let d = filled(&["/gone", "/new", "/keep"]);
    let stale = fs::read(path(d.path(), "/gone")).unwrap();
    let (c, r) = DiskCache::open_paused(d.path(), 1 << 24).unwrap();
    c.remove("/gone").unwrap();
    assert!(c.put("/new", &meta("t"), &[b"v2"]).unwrap());
    // As if the rebuild had listed the file before the remove unlinked it.
    fs::write(path(d.path(), "/gone"), &stale).unwrap();
    assert!(
        c.get::<M>("/gone").is_none(),
        "tombstone, not a direct read"
    );
    run_to_end(&c, r);
    assert!(c.get::<M>("/gone").is_none());
    assert_eq!(get_body(&c, "/new").unwrap(), b"v2");
    let expect = entry_size("/new", &meta("t"), 2) + entry_size("/keep", &meta("t"), 5);
    assert_eq!(c.usage(), (expect, 2), "replaced entry counted once");
}

#[test]
fn a_purge_while_rebuilding_reaches_files_not_indexed_yet() {
    let keys = ["/p/1", "/p/2", "/p/3", "/q/1", "/pp"];
    let d = filled(&keys);
    let (c, mut r) = DiskCache::open_paused(d.path(), 1 << 24).unwrap();
    assert_eq!(get_body(&c, "/p/1").unwrap(), b"/p/1"); // indexed, key known
    r.step(&c.shared); // some directory, maybe one of them
    assert!(c.remove_prefix("/p/").unwrap() >= 1);
    assert!(c.get::<M>("/p/2").is_none(), "purged, even if not indexed");
    assert!(!path(d.path(), "/p/2").exists());
    // Put again after the purge: that version is kept.
    c.put("/p/3", &meta("t"), &[b"new"]).unwrap();
    run_to_end(&c, r);
    assert!(!path(d.path(), "/p/1").exists());
    assert_eq!(get_body(&c, "/p/3").unwrap(), b"new");
    assert_eq!(get_body(&c, "/q/1").unwrap(), b"/q/1");
    assert_eq!(get_body(&c, "/pp").unwrap(), b"/pp");
    assert_eq!(c.usage().1, 3);
    drop(c);
    let c = open(d.path(), 1 << 24);
    assert_eq!(c.usage().1, 3);
    assert!(c.get::<M>("/p/2").is_none());
}

#[test]
fn eviction_while_rebuilding_sees_indexed_entries_and_the_end_enforces_the_bound() {
    let d = filled(&["/old", "/mid", "/new"]);
    for (k, secs) in [("/old", 0), ("/mid", 10), ("/new", 20)] {
        set_age(d.path(), k, secs);
    }
    let one = entry_size("/old", &meta("t"), 4);
    let (c, r) = DiskCache::open_paused(d.path(), 2 * one).unwrap();
    // Indexed: /new (read now) and /x (put now); the bound holds over them.
    assert!(get_body(&c, "/new").is_some());
    c.put("/x", &meta("t"), &[b"/x!!"]).unwrap();
    assert_eq!(c.usage(), (2 * one, 2));
    assert_eq!(c.evictions(), 0);
    run_to_end(&c, r);
    // Scanned entries are older than both: evicted as they come.
    assert_eq!(c.usage(), (2 * one, 2));
    assert_eq!(c.evictions(), 2);
    assert!(c.get::<M>("/old").is_none() && c.get::<M>("/mid").is_none());
    assert!(!path(d.path(), "/old").exists() && !path(d.path(), "/mid").exists());
    assert!(get_body(&c, "/new").is_some() && get_body(&c, "/x").is_some());
}

#[test]
fn an_evicted_entry_is_not_read_back_directly() {
    let d = filled(&["/a"]);
    let one = entry_size("/a", &meta("t"), 2);
    let (c, r) = DiskCache::open_paused(d.path(), one).unwrap();
    let stale = fs::read(path(d.path(), "/a")).unwrap();
    assert!(get_body(&c, "/a").is_some());
    c.put("/b", &meta("t"), &[b"/b"]).unwrap(); // evicts /a
    assert_eq!(c.evictions(), 1);
    fs::write(path(d.path(), "/a"), &stale).unwrap(); // an unlink not done yet
    assert!(c.get::<M>("/a").is_none());
    run_to_end(&c, r);
    assert_eq!(c.usage(), (one, 1));
}

#[test]
fn leftovers_are_cleaned_but_not_this_caches_temp_files() {
    let d = filled(&["old"]);
    open(d.path(), 1 << 20)
        .put("torn", &meta("t"), &[&[9; 2000]])
        .unwrap();
    let full = fs::read(path(d.path(), "torn")).unwrap();
    // Killed while replacing "old": half a new version in a temp file.
    let old_path = path(d.path(), "old");
    let name = old_path.file_name().unwrap().to_str().unwrap().to_owned();
    let tmp = old_path.with_file_name(format!(".{name}.4242.0.tmp"));
    fs::write(&tmp, &full[..full.len() / 2]).unwrap();
    // A truncated entry in the right place; garbage under a malformed name.
    fs::write(path(d.path(), "torn"), &full[..full.len() - 100]).unwrap();
    let junk = old_path.with_file_name("not-hex.obj");
    fs::write(&junk, b"junk").unwrap();
    fs::write(d.path().join("README"), b"not ours").unwrap();
    let (c, mut r) = DiskCache::open_paused(d.path(), 1 << 20).unwrap();
    let mine = old_path.with_file_name(format!(".{name}.{}.7.tmp", c.shared.tag));
    fs::write(&mine, b"a put in flight").unwrap();
    rebuild(&c, &mut r);
    assert!(!tmp.exists() && !junk.exists());
    assert!(mine.exists(), "an in-flight temp file of this cache stays");
    assert!(d.path().join("README").exists());
    let (m, parts) = c.get::<M>("old").unwrap();
    assert_eq!((m, &parts[0][..]), (meta("t"), &b"old"[..]));
    assert_eq!(c.usage().1, 2, "torn is counted until read");
    assert!(c.get::<M>("torn").is_none());
    assert!(!path(d.path(), "torn").exists());
    assert_eq!(c.usage(), (entry_size("old", &meta("t"), 3), 1));
    r.after(&c.shared);
    assert_eq!(c.usage(), (entry_size("old", &meta("t"), 3), 1));
}

#[test]
fn the_key_pass_finds_bad_headers_and_makes_purges_memory_only() {
    let d = filled(&["/a/1", "/a/2", "/b"]);
    let full = fs::read(path(d.path(), "/a/2")).unwrap();
    fs::write(path(d.path(), "/a/2"), &full[..full.len() - 1]).unwrap();
    let (c, mut r) = DiskCache::open_paused(d.path(), 1 << 20).unwrap();
    rebuild(&c, &mut r);
    assert_eq!(c.usage().1, 3);
    r.after(&c.shared);
    assert_eq!(c.usage().1, 2, "the truncated one is gone");
    assert!(!path(d.path(), "/a/2").exists());
    assert!(c.shared.lock().entries().all(|(_, e)| e.key.is_some()));
    assert_eq!(c.remove_prefix("/a/").unwrap(), 1);
    assert_eq!(get_body(&c, "/b").unwrap(), b"/b");
}

#[test]
fn garbage_under_an_entry_name_is_deleted_on_get_or_purge() {
    let d = filled(&["/a", "/b"]);
    // A valid entry under another key's name, and garbage.
    fs::copy(path(d.path(), "/a"), path(d.path(), "/b")).unwrap();
    let g = path(d.path(), "/g");
    fs::create_dir_all(g.parent().unwrap()).unwrap();
    fs::write(&g, vec![0xff; 100]).unwrap();
    // The rebuild runs to its end first, here, so no background thread
    // races the get and the purge below.
    let (c, r) = DiskCache::open_paused(d.path(), 1 << 20).unwrap();
    run_to_end(&c, r);
    assert!(c.get::<M>("/b").is_none());
    assert!(!path(d.path(), "/b").exists());
    assert_eq!(
        c.remove_prefix("/").unwrap(),
        1,
        "/a; /g is bad, deleted uncounted"
    );
    assert!(!g.exists());
    assert_eq!(c.usage(), (0, 0));
}

#[test]
fn the_old_layout_is_deleted_after_the_rebuild() {
    let d = tempfile::tempdir().unwrap();
    let v1 = d.path().join("ab/cd");
    fs::create_dir_all(&v1).unwrap();
    fs::write(v1.join(format!("abcd{}.obj", "0".repeat(60))), b"v1 entry").unwrap();
    fs::write(v1.join(".x.obj.1.2.tmp"), b"v1 temp").unwrap();
    fs::create_dir_all(d.path().join("ef/01")).unwrap();
    fs::write(d.path().join("ef/01/notes.txt"), b"not ours").unwrap();
    let (c, r) = DiskCache::open_paused(d.path(), 1 << 20).unwrap();
    run_to_end(&c, r);
    assert!(!d.path().join("ab").exists());
    assert!(d.path().join("ef/01/notes.txt").exists());
    assert_eq!(c.usage(), (0, 0));
}

#[test]
fn usage_and_evictions_take_no_lock() {
    let d = tempfile::tempdir().unwrap();
    let c = Arc::new(open(d.path(), 1 << 20));
    c.put("k", &meta("t"), &[b"x"]).unwrap();
    let held = c.shared.lock();
    let (tx, rx) = std::sync::mpsc::channel();
    let c2 = Arc::clone(&c);
    let t = std::thread::spawn(move || tx.send((c2.usage(), c2.evictions())).unwrap());
    let got = rx.recv_timeout(Duration::from_secs(10));
    drop(held);
    t.join().unwrap();
    assert_eq!(got.unwrap(), ((4096, 1), 0));
}

#[test]
fn a_key_is_found_at_the_path_of_its_id() {
    let d = tempfile::tempdir().unwrap();
    let p = entry_path(d.path(), id_of("/x"));
    assert_eq!(p, path(d.path(), "/x"));
    let hex = format!("{:032x}", id_of("/x"));
    assert!(blake3::hash(b"/x").to_hex().starts_with(&hex));
    assert!(p.ends_with(format!("{}/{hex}.obj", &hex[..3])));
}
