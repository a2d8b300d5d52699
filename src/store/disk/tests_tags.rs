//! Tags in the disk index: learned from the metadata when written, read
//! back from the heads after a restart (also when the key pass has not
//! read them yet), selected by purges, and charged to a memory bound.

use super::tests::open;
use super::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Tagged {
    status: u16,
    tags: Vec<String>,
}

fn tagged(tags: &[&str]) -> Tagged {
    Tagged {
        status: 200,
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

#[derive(Clone)]
struct Blob;

impl crate::store::memory::Weigh for Blob {
    fn weight(&self) -> usize {
        1
    }
}

fn keys(c: &DiskCache, s: Select<'_>) -> Vec<String> {
    let mut k = c.keys_selected(s);
    k.sort();
    k
}

#[test]
fn tags_are_indexed_when_written_and_read_back_after_a_restart() {
    let d = tempfile::tempdir().unwrap();
    let c = open(d.path(), 1 << 24);
    c.put("a", &tagged(&["r42", "css"]), &[b"a"]).unwrap();
    c.put("b", &tagged(&["r42"]), &[b"b"]).unwrap();
    c.put("c", &tagged(&[]), &[b"c"]).unwrap();
    assert_eq!(c.tag_usage().0, 3);
    assert_eq!(keys(&c, Select::Tag("r42")), ["a", "b"]);
    assert_eq!(keys(&c, Select::Key("a")), ["a"]);
    // Replaced: its tags are the new ones.
    c.put("a", &tagged(&["js"]), &[b"a2"]).unwrap();
    assert_eq!(keys(&c, Select::Tag("r42")), ["b"]);
    assert_eq!(c.tag_usage().0, 2);
    let memory: crate::store::memory::MemoryCache<Blob> =
        crate::store::memory::MemoryCache::new(1 << 20, 1 << 16);
    drop(c);

    // After a restart: read from the heads, before or by the key pass.
    let c = DiskCache::open(d.path(), 1 << 24).unwrap();
    c.charge_tags_to(memory.reserve(0));
    assert_eq!(c.remove_selected(Select::Tag("r42")).unwrap(), 1);
    assert!(c.get::<Tagged>("b").is_none());
    assert!(c.get::<Tagged>("a").is_some() && c.get::<Tagged>("c").is_some());
    assert_eq!(keys(&c, Select::Tag("js")), ["a"]);
    assert_eq!(c.tag_usage().0, 1);
    assert_eq!(
        memory.reserved() as u64,
        c.tag_usage().1,
        "charged to the memory bound"
    );
    c.remove("a").unwrap();
    assert_eq!(c.tag_usage(), (0, 0));
    assert_eq!(memory.reserved(), 0);
}
