//! Descriptors kept open by `get_cached` never outlive their entry: a
//! replaced, removed, purged or evicted entry's file is closed, so no
//! deleted file keeps its blocks allocated.

use std::path::{Path, PathBuf};

use super::tests::{meta, open, M};

/// The files under `dir` this process has open, and how many of them
/// are deleted.
fn open_under(dir: &Path) -> (usize, usize) {
    let targets: Vec<PathBuf> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.starts_with(dir))
        .collect();
    let deleted = targets
        .iter()
        .filter(|t| t.to_string_lossy().ends_with(" (deleted)"))
        .count();
    (targets.len(), deleted)
}

#[test]
fn kept_descriptors_close_when_their_entries_go() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().canonicalize().unwrap();
    let c = open(&dir, 1 << 20);
    for k in ["a", "b", "c", "d"] {
        c.put(k, &meta("x"), &[b"body"]).unwrap();
        c.get_cached::<M>(k).expect("cached").expect("present");
    }
    assert_eq!(open_under(&dir), (4, 0), "kept open");
    c.get_cached::<M>("d").unwrap().unwrap();
    assert_eq!(open_under(&dir), (4, 0), "reused, not opened again");

    c.put("a", &meta("y"), &[b"new"]).unwrap(); // replaced
    c.remove("b").unwrap();
    c.remove_prefix("c").unwrap();
    assert_eq!(open_under(&dir), (1, 0), "only d's is left open");
    let (m, parts, _) = c.get_cached::<M>("a").unwrap().unwrap();
    assert_eq!((m, &parts[0][..]), (meta("y"), &b"new"[..]));
    drop(c);
    assert_eq!(open_under(&dir), (0, 0));
}

#[test]
fn evicted_entries_are_closed() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().canonicalize().unwrap();
    // Room for a few 4 KiB blocks: every put evicts the oldest.
    let c = open(&dir, 4 * 4096);
    for i in 0..20 {
        let k = format!("k{i}");
        c.put(&k, &meta("x"), &[b"body"]).unwrap();
        c.get_cached::<M>(&k).expect("cached").expect("present");
        let (kept, deleted) = open_under(&dir);
        assert_eq!(deleted, 0, "after {k}");
        assert!(kept <= 4, "after {k}: {kept} open");
    }
}
