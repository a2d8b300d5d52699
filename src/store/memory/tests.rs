//! The memory cache's own tests: the byte bound, recency, admission,
//! and what is reserved beside the cache.

use super::*;
use proptest::prelude::*;

#[derive(Clone)]
struct Blob(usize);
impl Weigh for Blob {
    fn weight(&self) -> usize {
        self.0
    }
}

/// Three keys that land in the same shard.
fn same_shard_keys<V: Clone + Weigh>(c: &MemoryCache<V>) -> Vec<String> {
    let shard0 = c.shard("k0") as *const _;
    (0..)
        .map(|i| format!("k{i}"))
        .filter(|k| std::ptr::eq(c.shard(k), shard0))
        .take(3)
        .collect()
}

#[test]
fn reservations_count_against_the_bound_until_dropped() {
    // 16 shards of 1000 bytes each.
    let c = MemoryCache::new(16_000, 1000);
    let keys = same_shard_keys(&c);
    c.insert(keys[0].clone(), Blob(400));
    c.insert(keys[1].clone(), Blob(400));
    assert_eq!(c.usage().1, 2);
    {
        // A 16 * 300 byte reservation leaves each shard 700 bytes.
        let _r = c.reserve(16 * 300);
        assert_eq!(c.usage(), (400 + keys[1].len(), 1), "evicted to make room");
        assert!(c.insert(keys[2].clone(), Blob(200)));
        assert_eq!(c.usage().1, 2);
        // 402 + 202 + 302 fits 1000 but not 700.
        c.insert(keys[0].clone(), Blob(300));
        assert_eq!(c.usage().1, 2, "inserts keep to the smaller bound");
        assert!(c.get(&keys[1]).is_none());
    }
    c.insert(keys[1].clone(), Blob(400));
    assert_eq!(c.usage().1, 3, "released: room again");
}

#[test]
fn evicts_least_recently_used_within_a_shard() {
    let c = MemoryCache::with_promotion(SHARDS * 100, 100, Duration::ZERO);
    let keys = same_shard_keys(&c);
    assert!(c.insert(keys[0].clone(), Blob(40)));
    assert!(c.insert(keys[1].clone(), Blob(40)));
    assert!(c.get(&keys[0]).is_some());
    assert!(c.insert(keys[2].clone(), Blob(40)));
    assert!(c.get(&keys[1]).is_none(), "least recently used went first");
    assert!(c.get(&keys[0]).is_some() && c.get(&keys[2]).is_some());
    assert_eq!(c.evictions(), 1);
}

#[test]
fn refuses_oversized_and_replaces() {
    let c = MemoryCache::new(SHARDS * 1000, 100);
    assert!(!c.insert("big".into(), Blob(200)));
    assert!(c.insert("a".into(), Blob(10)));
    assert!(c.insert("a".into(), Blob(20)));
    assert_eq!(c.usage(), (21, 1));
    c.remove("a");
    assert_eq!(c.usage(), (0, 0));
    for k in ["img/a", "img/b", "imgx", "css/a"] {
        c.insert(k.into(), Blob(1));
    }
    assert_eq!(c.remove_prefix("img/"), 2);
    assert!(c.get("imgx").is_some() && c.get("css/a").is_some() && c.get("img/a").is_none());
}

#[test]
fn second_hit_admission_keeps_one_hit_wonders_out_of_a_full_shard() {
    let c = MemoryCache::with_promotion(SHARDS * 100, 100, Duration::ZERO)
        .with_admission(Admission::SecondHit);
    let keys = same_shard_keys(&c);
    assert!(c.insert(keys[0].clone(), Blob(40)));
    assert!(c.insert(keys[1].clone(), Blob(40)));
    // Full: a newcomer is refused once, admitted on its second try.
    assert!(!c.insert(keys[2].clone(), Blob(40)));
    assert!(c.get(&keys[0]).is_some() && c.get(&keys[1]).is_some());
    assert!(c.insert(keys[2].clone(), Blob(40)));
    assert!(c.get(&keys[2]).is_some());
}

#[test]
fn try_reserve_keeps_to_its_ceiling_and_makes_room_for_what_it_gets() {
    let c = MemoryCache::new(16_000, 1000);
    let keys = same_shard_keys(&c);
    c.insert(keys[0].clone(), Blob(900));
    assert!(c.try_reserve(9_000, 8_000).is_none(), "past the ceiling");
    assert_eq!(c.reserved(), 0);
    let r = c.try_reserve(4_000, 8_000).unwrap();
    assert!(c.try_grow(&r, 8_000, 8_000));
    assert!(!c.try_grow(&r, 8_001, 8_000));
    assert_eq!(c.reserved(), 8_000);
    // Each shard keeps to 1000 - 8000 / 16 bytes: the 900 went.
    assert_eq!(c.usage().1, 0);
    r.release();
    assert_eq!(c.reserved(), 0);
}

/// A value that keeps its charge while a clone of it lives elsewhere.
#[derive(Clone)]
struct Shared(std::sync::Arc<Mutex<Option<Reservation>>>, usize);
impl Weigh for Shared {
    fn weight(&self) -> usize {
        self.1
    }
    fn outlive(&self, charge: &dyn Fn(usize) -> Reservation) {
        if std::sync::Arc::strong_count(&self.0) > 1 {
            *self.0.lock().unwrap() = Some(charge(self.1));
        }
    }
}

#[test]
fn a_value_let_go_while_still_in_use_stays_counted_until_dropped() {
    let c = MemoryCache::new(16_000, 1000);
    let keys = same_shard_keys(&c);
    let sent = Shared(Default::default(), 600);
    c.insert(keys[0].clone(), sent.clone());
    c.insert(keys[1].clone(), Shared(Default::default(), 600));
    // keys[0] was evicted while `sent` (a response) still held it.
    assert!(c.get(&keys[0]).is_none());
    assert_eq!(c.reserved(), 600);
    // Refused (too large) while in use: counted too.
    let big = Shared(Default::default(), 5000);
    assert!(!c.insert(keys[2].clone(), big.clone()));
    assert_eq!(c.reserved(), 5600);
    drop((sent, big));
    assert_eq!(c.reserved(), 0);
    // Let go of and not in use elsewhere: nothing to count.
    c.remove(&keys[1]);
    assert_eq!(c.reserved(), 0);
}

proptest! {
    #[test]
    fn never_exceeds_its_bound(ops in proptest::collection::vec((0u8..50, 1usize..300), 1..200)) {
        let c = MemoryCache::new(SHARDS * 400, 400);
        for (k, w) in ops {
            c.insert(format!("{k}"), Blob(w));
            prop_assert!(c.usage().0 <= SHARDS * 400);
        }
    }
}

#[derive(Clone)]
struct Tagged(usize, Box<[Box<str>]>);
impl Weigh for Tagged {
    fn weight(&self) -> usize {
        self.0
    }
    fn tags(&self) -> &[Box<str>] {
        &self.1
    }
}

fn tagged(weight: usize, tags: &[&str]) -> Tagged {
    Tagged(weight, tags.iter().map(|t| Box::from(*t)).collect())
}

#[test]
fn the_tag_index_follows_inserts_replacements_removals_and_evictions() {
    let c = MemoryCache::with_promotion(SHARDS * 10_000, 10_000, Duration::ZERO);
    assert!(c.insert("a".into(), tagged(100, &["r42", "css"])));
    assert!(c.insert("b".into(), tagged(100, &["r42"])));
    assert!(c.insert("c".into(), tagged(100, &[])));
    assert_eq!(c.tag_usage().0, 3);
    let charged = c.usage().0;
    assert_eq!(
        charged,
        300 + 3 + 3 * (TAG_ENTRY + 1) + "r42".len() * 2 + "css".len(),
        "the index is inside the bound"
    );
    // Replaced with other tags: the old ones no longer name it.
    assert!(c.insert("a".into(), tagged(100, &["css"])));
    assert_eq!(c.tag_usage().0, 2);
    let mut keys: Vec<String> = c.tagged("r42").into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, ["b"]);
    // The same tag again: still indexed once.
    assert!(c.insert("a".into(), tagged(100, &["css"])));
    assert_eq!(c.tagged("css").len(), 1);
    assert_eq!(c.remove_tagged("css"), 1);
    assert!(c.get("a").is_none() && c.get("b").is_some());
    c.remove("b");
    assert_eq!(c.tag_usage(), (0, 0));
    assert_eq!(c.remove_tagged("r42"), 0);
    // Evicted: out of the index too.
    let small = MemoryCache::with_promotion(SHARDS * 1000, 1000, Duration::ZERO);
    let keys = same_shard_keys(&small);
    assert!(small.insert(keys[0].clone(), tagged(400, &["t"])));
    assert!(small.insert(keys[1].clone(), tagged(400, &["t"])));
    assert!(small.get(&keys[0]).is_none(), "evicted");
    assert_eq!(small.tag_usage().0, 1);
    assert_eq!(small.remove_tagged("t"), 1);
    assert_eq!(small.usage(), (0, 0));
    assert_eq!(small.tag_usage(), (0, 0));
}
