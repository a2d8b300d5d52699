//! Entries read head first, their large parts left on disk and read a
//! verified chunk at a time (`chunks`, `read`); a revalidated record over
//! parts left on disk (`put_record_over`); entries of an older format.

use super::head;
use super::tests::{meta, open, path, M};
use super::*;
use std::os::unix::fs::FileExt;

const CHUNK: usize = 1 << chunks::SHIFT;

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 977) as u8).collect()
}

fn stored(p: &Part) -> &StoredPart {
    match p {
        Part::Stored(s) => s,
        Part::Whole(_) => panic!("read whole"),
    }
}

/// Every chunk of `p`, read blocking, concatenated.
fn read_all(p: &StoredPart) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..p.size().div_ceil(p.chunk_len()) {
        out.extend_from_slice(&p.read_chunk(i)?);
    }
    Ok(out)
}

#[test]
fn a_large_part_is_left_on_disk_and_read_a_verified_chunk_at_a_time() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    let big = body(3 * CHUNK + 100);
    c.put("k", &meta("t"), &[&big, b"br", &body(CHUNK)])
        .unwrap();
    let len = std::fs::metadata(path(d.path(), "k")).unwrap().len();

    // Read whole up to its size: every part in memory.
    let (m, parts, g) = c.get_parts::<M>("k", len).unwrap();
    assert_eq!(m, meta("t"));
    assert!(matches!(&parts[0], Part::Whole(b) if b[..] == big[..]));
    assert_ne!(g, 0);

    // Smaller than the file: the head and the parts of at most one chunk
    // are read, the larger part is left on disk.
    let (_, parts, _) = c.get_parts::<M>("k", len - 1).unwrap();
    let p = stored(&parts[0]);
    assert_eq!(p.size(), big.len() as u64);
    assert_eq!(p.hash(), *blake3::hash(&big).as_bytes());
    assert_eq!(p.chunk_len(), CHUNK as u64);
    assert_eq!(p.heap_bytes(), 4 * 32, "its chunk table");
    assert!(matches!(&parts[1], Part::Whole(b) if &b[..] == b"br"));
    assert!(matches!(&parts[2], Part::Whole(b) if b.len() == CHUNK));
    assert_eq!(read_all(p).unwrap(), big);
    assert_eq!(
        p.read_chunk(3).unwrap().len(),
        100,
        "the last chunk is short"
    );
    assert!(p.read_chunk(4).is_err(), "past the end");
    // Just written: in the page cache, read without waiting.
    assert_eq!(p.read_chunk_now(1).unwrap(), &big[CHUNK..2 * CHUNK]);

    // The fast path leaves it on disk too.
    let (_, parts, _) = c.get_cached_parts("k", len - 1).expect("cached").unwrap();
    assert_eq!(read_all(stored(&parts[0])).unwrap(), big);
    // The whole-part API refuses nothing: it reads every part whole.
    assert_eq!(c.get::<M>("k").unwrap().1[0], big);
}

#[test]
fn a_chunk_changed_on_disk_fails_its_read_and_drops_the_entry() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    let big = body(4 * CHUNK);
    c.put("k", &meta("t"), &[&big]).unwrap();
    let (_, parts, _) = c.get_parts::<M>("k", 0).unwrap();
    let p = stored(&parts[0]);
    // 17 bytes overwritten in the middle of chunk 2, in place.
    let file = path(d.path(), "k");
    let len = std::fs::metadata(&file).unwrap().len();
    let at = len - big.len() as u64 + 2 * CHUNK as u64 + 1000;
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all_at(b"TAMPERED-17-BYTES", at).unwrap();

    assert_eq!(
        p.read_chunk(1).unwrap(),
        &big[CHUNK..2 * CHUNK],
        "untouched"
    );
    assert!(p.read_chunk_now(2).is_none(), "the fast path declines");
    let e = p.read_chunk(2).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("blake3 mismatch"), "{e}");
    assert!(!file.exists(), "dropped");
    assert_eq!(c.usage(), (0, 0));
    assert!(p.read_chunk(2).is_err(), "and again");
    let bad = c.bad_entries();
    assert_eq!(
        bad.iter().find(|(r, _)| *r == "hash").unwrap().1,
        1,
        "counted once"
    );
    assert!(c.get_parts::<M>("k", 0).is_none());
}

#[test]
fn a_changed_head_is_never_read() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    c.put("k", &meta("text/css"), &[&body(2 * CHUNK)]).unwrap();
    // The record says text/css: make it say text/xss, same length.
    let file = path(d.path(), "k");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.windows(8).position(|w| w == b"text/css").unwrap();
    bytes[at + 5..at + 8].copy_from_slice(b"xss");
    std::fs::write(&file, &bytes).unwrap();
    assert!(
        c.get_cached_parts("k", 0).is_none(),
        "the fast path declines"
    );
    assert!(c.get_parts::<M>("k", 0).is_none());
    assert!(!file.exists());
    assert_eq!(
        c.bad_entries()
            .iter()
            .find(|(r, _)| *r == "hash")
            .unwrap()
            .1,
        1
    );
}

#[test]
fn a_part_being_read_keeps_its_version_when_a_newer_one_replaces_it() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    let (v1, v2) = (body(2 * CHUNK), vec![9u8; 2 * CHUNK]);
    c.put("k", &meta("t"), &[&v1]).unwrap();
    let (_, parts, _) = c.get_parts::<M>("k", 0).unwrap();
    c.put("k", &meta("t"), &[&v2]).unwrap();
    assert_eq!(read_all(stored(&parts[0])).unwrap(), v1);
    assert_eq!(c.get::<M>("k").unwrap().1[0], v2);
    assert_eq!(c.bad_entries().iter().map(|(_, n)| n).sum::<u64>(), 0);
}

#[test]
fn a_new_record_over_parts_left_on_disk_copies_them() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    let (big, br) = (body(2 * CHUNK + 5), b"br".to_vec());
    let g1 = c
        .put_versioned("k", &meta("a"), &[&big, &br])
        .unwrap()
        .unwrap();
    let lens = [big.len() as u64, 2];
    assert_eq!(
        c.put_record_over("k", g1, &meta("b"), &[1, 2]).unwrap(),
        None,
        "other lengths"
    );
    assert_eq!(
        c.put_record_over("k", g1 + 1, &meta("b"), &lens).unwrap(),
        None,
        "another version"
    );
    let g2 = c
        .put_record_over("k", g1, &meta("revalidated"), &lens)
        .unwrap()
        .unwrap();
    assert_ne!(g2, g1);
    let (m, parts, g) = c.get_versioned::<M>("k").unwrap();
    assert_eq!((m, g), (meta("revalidated"), g2));
    assert_eq!((&parts[0][..], &parts[1][..]), (&big[..], &br[..]));
    assert_eq!(c.usage().1, 1);
    assert_eq!(super::tests::on_disk(d.path()).2, 0, "no temp file left");
    // Chunks changed on disk are copied as they are, and found when read.
    let file = path(d.path(), "k");
    let len = std::fs::metadata(&file).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.write_all_at(b"X", len - 10).unwrap();
    let g3 = c
        .put_record_over("k", g2, &meta("again"), &lens)
        .unwrap()
        .unwrap();
    assert_ne!(g3, g2);
    assert!(c.get::<M>("k").is_none());
}

#[test]
fn entries_of_an_older_format_are_deleted_quietly_after_a_restart() {
    let d = tempfile::tempdir().unwrap();
    {
        let c = open(d.path(), 1 << 20);
        c.put("old", &meta("t"), &[b"body"]).unwrap();
        c.put("new", &meta("t"), &[b"body"]).unwrap();
    }
    // The head of "old" now says version 2 (its hash right).
    let file = path(d.path(), "old");
    let mut b = std::fs::read(&file).unwrap();
    b[8..12].copy_from_slice(&2u32.to_le_bytes());
    let end = b.len() - 4 - head::HASH_LEN;
    let hash = blake3::hash(&b[..end]);
    b[end..end + head::HASH_LEN].copy_from_slice(hash.as_bytes());
    std::fs::write(&file, &b).unwrap();
    let c = open(d.path(), 1 << 20);
    // The key pass after the rebuild deletes it.
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !file.exists()
    });
    assert!(gone, "deleted by the key pass");
    assert_eq!(c.usage().1, 1);
    assert!(c.get::<M>("new").is_some());
    assert!(c.get::<M>("old").is_none());
    assert_eq!(c.bad_entries().iter().map(|(_, n)| n).sum::<u64>(), 0);
}
