//! The hot cache: a byte-bounded LRU, sharded so that workers rarely contend
//! on one lock. Values say how many bytes they hold ([`Weigh`]); the cache
//! evicts least-recently-used entries of a shard until the shard is back
//! under its share of the bound. Locks are held only for the map operation,
//! never across an await.
//!
//! Recency is kept at a coarse grain: a hit moves its entry to the front of
//! the LRU list only if it was last moved more than `promote_every` ago
//! (100 ms by default). A hot entry is then read, not rewritten, on almost
//! every hit, which keeps the list's cache lines from bouncing between
//! cores; eviction order is exact to within that interval.
//!
//! Bytes held outside the cache but counted against its bound (encodings
//! being made, bodies arriving or being sent) are `reservation`s. Entries
//! may carry tags ([`Weigh::tags`]); each shard indexes them (`tags`), for
//! purges by tag.

mod reservation;
mod tags;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

pub use reservation::Reservation;
use reservation::Reserved;
use tags::TagIndex;
pub use tags::TAG_ENTRY;

/// Something that knows how many bytes it keeps alive.
pub trait Weigh {
    /// Bytes held, including a fair per-entry overhead.
    fn weight(&self) -> usize;

    /// Called as the cache lets go of the value (evicted, removed,
    /// replaced, or refused on insert). A value still in use elsewhere (a
    /// response still sending its body) keeps `charge(bytes)` of the bound
    /// until it is dropped, so its bytes go on counting; the default keeps
    /// nothing. Called with a shard locked: it must not touch the cache.
    fn outlive(&self, charge: &dyn Fn(usize) -> Reservation) {
        let _ = charge;
    }

    /// The tags the value carries (purge by tag); none by default. Must
    /// not change while the value is in the cache.
    fn tags(&self) -> &[Box<str>] {
        &[]
    }
}

/// A sharded, byte-bounded LRU map from string keys to cheap-to-clone values.
pub struct MemoryCache<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    hasher: Hasher,
    shard_bytes: usize,
    max_object_bytes: usize,
    evictions: AtomicU64,
    epoch: Instant,
    promote_every_ms: u64,
    admission: Admission,
    /// Bytes held outside the cache (see [`Reservation`]): they count
    /// against the bound as long as they are held.
    reserved: Arc<Reserved>,
}

struct Shard<V> {
    map: LruCache<String, Slot<V>, Hasher>,
    bytes: usize,
    /// Doorkeeper: hashes of keys refused once because admitting them
    /// would have evicted something (see [`Admission::SecondHit`]).
    seen: std::collections::HashSet<u64>,
    /// Tag → keys of the entries carrying it.
    tags: TagIndex,
}

impl<V: Weigh> Shard<V> {
    /// Takes `key`'s entry out of the shard, and out of its tag index.
    fn pop(&mut self, key: &str) -> Option<Slot<V>> {
        let slot = self.map.pop(key)?;
        self.forget(key, &slot);
        Some(slot)
    }

    /// Unaccounts a slot taken out of the map under `key`.
    fn forget(&mut self, key: &str, slot: &Slot<V>) {
        self.bytes -= slot.weight;
        self.tags.remove(key, slot.value.tags());
    }
}

/// Which new entries may evict old ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Every entry is admitted (plain LRU).
    Always,
    /// When the shard is full, a key is admitted only on its second
    /// request within the doorkeeper's memory (the most recent
    /// `DOORKEEPER` refused keys per shard), so one-hit wonders do not
    /// evict hot assets (the doorkeeper of TinyLFU, without the sketch).
    SecondHit,
}

/// Refused keys remembered per shard before the doorkeeper forgets them all.
const DOORKEEPER: usize = 4096;

struct Slot<V> {
    value: V,
    /// The value's weight plus the key's length (and the cost of its tags
    /// in the index), as counted when inserted
    /// (counted back out exactly, and not weighed again on eviction).
    weight: usize,
    /// Milliseconds since `epoch` when the entry last moved to the front.
    promoted_ms: AtomicU64,
}

const SHARDS: usize = 16;

/// A fast non-cryptographic hasher; keys are request paths, and a random
/// seed per process keeps collisions from being chosen by clients.
type Hasher = foldhash::fast::RandomState;

impl<V: Clone + Weigh> MemoryCache<V> {
    /// A cache holding at most `capacity_bytes` in all, and no single entry
    /// larger than `max_object_bytes` (or a shard's share of the capacity).
    pub fn new(capacity_bytes: usize, max_object_bytes: usize) -> Self {
        Self::with_promotion(capacity_bytes, max_object_bytes, Duration::from_millis(100))
    }

    /// Like [`MemoryCache::new`], with the recency grain set explicitly
    /// (zero: every hit moves its entry to the front).
    pub fn with_promotion(
        capacity_bytes: usize,
        max_object_bytes: usize,
        promote_every: Duration,
    ) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: LruCache::unbounded_with_hasher(Hasher::default()),
                    bytes: 0,
                    seen: Default::default(),
                    tags: Default::default(),
                })
            })
            .collect();
        let shard_bytes = capacity_bytes / SHARDS;
        Self {
            shards,
            hasher: Default::default(),
            shard_bytes,
            max_object_bytes: max_object_bytes.min(shard_bytes),
            evictions: AtomicU64::new(0),
            epoch: Instant::now(),
            promote_every_ms: promote_every.as_millis() as u64,
            admission: Admission::Always,
            reserved: Arc::default(),
        }
    }

    /// A shard's share of the bound, less its share of what is reserved.
    fn shard_limit(&self) -> usize {
        let reserved = self.reserved.get() / SHARDS;
        self.shard_bytes.saturating_sub(reserved)
    }

    /// The whole bound, in bytes.
    pub fn capacity(&self) -> usize {
        self.shard_bytes * SHARDS
    }

    /// Bytes reserved now (held outside the cache, see [`Reservation`]).
    pub fn reserved(&self) -> usize {
        self.reserved.get()
    }

    /// Holds `bytes` of the bound back for work in progress (so memory being
    /// filled, say an encoding being made, counts before it is inserted):
    /// least-recently-used entries are evicted now to make room, and
    /// inserts keep to the smaller bound until the reservation is dropped.
    /// Always granted: for bytes the caller holds whatever the answer.
    pub fn reserve(&self, bytes: usize) -> Reservation {
        let r = Reservation::forced(&self.reserved, bytes);
        self.make_room();
        r
    }

    /// Like [`MemoryCache::reserve`], but only if everything reserved stays
    /// at most `ceiling` bytes; `None` otherwise (the caller then does
    /// without: streams instead of buffering, or refuses).
    pub fn try_reserve(&self, bytes: usize, ceiling: usize) -> Option<Reservation> {
        if !self.reserved.try_add(bytes, ceiling) {
            return None;
        }
        let r = Reservation::taken(self.reserved.clone(), bytes);
        self.make_room();
        Some(r)
    }

    /// Grows `r` (a reservation of this cache) to `to` bytes if everything
    /// reserved stays at most `ceiling`; whether it holds `to` now.
    pub fn try_grow(&self, r: &Reservation, to: usize, ceiling: usize) -> bool {
        if !r.is_of(&self.reserved) || !r.try_grow(to, ceiling) {
            return false;
        }
        self.make_room();
        true
    }

    /// Evicts least-recently-used entries until every shard is within its
    /// share of the bound less what is reserved.
    fn make_room(&self) {
        let limit = self.shard_limit();
        for shard in self.shards.iter() {
            let mut shard = self.lock(shard);
            self.evict_to(&mut shard, limit);
        }
    }

    fn evict_to(&self, shard: &mut Shard<V>, limit: usize) {
        while shard.bytes > limit {
            let Some((k, v)) = shard.map.pop_lru() else {
                break;
            };
            shard.forget(&k, &v);
            self.let_go(&v.value);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lets `value` keep its bytes counted if it is still in use elsewhere
    /// (see [`Weigh::outlive`]). Never evicts: a shard may be locked.
    fn let_go(&self, value: &V) {
        value.outlive(&|bytes| Reservation::forced(&self.reserved, bytes));
    }

    fn shard(&self, key: &str) -> &Mutex<Shard<V>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    fn lock<'a>(&self, m: &'a Mutex<Shard<V>>) -> std::sync::MutexGuard<'a, Shard<V>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // in a way that matters for a cache; keep serving.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The value for `key`, marking it recently used.
    pub fn get(&self, key: &str) -> Option<V> {
        let now = self.now_ms();
        let mut shard = self.lock(self.shard(key));
        let slot = shard.map.peek(key)?;
        let last = slot.promoted_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.promote_every_ms {
            return Some(slot.value.clone());
        }
        slot.promoted_ms.store(now, Ordering::Relaxed);
        shard.map.get(key).map(|slot| slot.value.clone())
    }

    /// The largest weight (value plus key) an entry may have.
    pub fn max_object_bytes(&self) -> usize {
        self.max_object_bytes
    }

    /// Whether a value of this weight would be admitted.
    pub fn admits(&self, weight: usize) -> bool {
        weight <= self.max_object_bytes
    }

    /// Stores `value` under `key` (replacing any old value) unless it is too
    /// large; evicts least-recently-used entries to stay under the bound.
    /// Returns whether it was stored.
    pub fn insert(&self, key: String, value: V) -> bool {
        let weight = Self::weigh(&key, &value);
        if !self.admits(weight) {
            self.let_go(&value);
            return false;
        }
        let mut shard = self.lock(self.shard(&key));
        let would_evict = shard.bytes + weight > self.shard_limit() && !shard.map.contains(&key);
        if self.admission == Admission::SecondHit && would_evict {
            let h = self.hasher.hash_one(&key);
            if !shard.seen.remove(&h) {
                if shard.seen.len() >= DOORKEEPER {
                    shard.seen.clear();
                }
                shard.seen.insert(h);
                drop(shard);
                self.let_go(&value);
                return false;
            }
        }
        self.put_locked(&mut shard, key, value, weight);
        true
    }

    /// What an entry counts against the bound: the value, its key, and
    /// its tags in the index.
    fn weigh(key: &str, value: &V) -> usize {
        value.weight() + key.len() + tags::cost(key.len(), value.tags())
    }

    /// Sets the admission rule (default [`Admission::Always`]).
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    fn put_locked(&self, shard: &mut Shard<V>, key: String, value: V, weight: usize) {
        let slot = Slot {
            value,
            weight,
            promoted_ms: AtomicU64::new(self.now_ms()),
        };
        if let Some(old) = shard.pop(&key) {
            self.let_go(&old.value);
        }
        shard.tags.add(&key, slot.value.tags());
        shard.map.put(key, slot);
        shard.bytes += weight;
        self.evict_to(shard, self.shard_limit());
    }

    /// Replaces the value under `key` with `value` only if `is_current`
    /// says the value there now is the one the caller started from (so a
    /// newer version stored meanwhile is never overwritten); checked and
    /// replaced under one lock. Returns whether it replaced.
    pub fn replace_if(&self, key: &str, is_current: impl Fn(&V) -> bool, value: V) -> bool {
        let weight = Self::weigh(key, &value);
        if !self.admits(weight) {
            return false;
        }
        let mut shard = self.lock(self.shard(key));
        if !shard.map.peek(key).is_some_and(|s| is_current(&s.value)) {
            return false;
        }
        self.put_locked(&mut shard, key.to_string(), value, weight);
        true
    }

    /// Drops `key` if present.
    pub fn remove(&self, key: &str) {
        let mut shard = self.lock(self.shard(key));
        if let Some(v) = shard.pop(key) {
            self.let_go(&v.value);
        }
    }

    /// Drops every key starting with `prefix`; returns how many.
    pub fn remove_prefix(&self, prefix: &str) -> usize {
        let mut removed = 0;
        for shard in self.shards.iter() {
            let mut shard = self.lock(shard);
            let keys: Vec<String> = shard
                .map
                .iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            for k in keys {
                if let Some(v) = shard.pop(&k) {
                    self.let_go(&v.value);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Drops every entry carrying `tag`; returns how many.
    pub fn remove_tagged(&self, tag: &str) -> usize {
        self.take_tagged(tag).0.len()
    }

    /// Takes every entry carrying `tag` out of the cache: their values, and
    /// the weight they were counted with (for the caller to keep counted
    /// while it frees them, which for many values takes a while).
    pub fn take_tagged(&self, tag: &str) -> (Vec<V>, usize) {
        let (mut taken, mut weight) = (Vec::new(), 0);
        for shard in self.shards.iter() {
            let mut shard = self.lock(shard);
            for k in shard.tags.take(tag) {
                if let Some(v) = shard.pop(&k) {
                    self.let_go(&v.value);
                    weight += v.weight;
                    taken.push(v.value);
                }
            }
        }
        (taken, weight)
    }

    /// The entries carrying `tag`, with their keys (not marked used).
    pub fn tagged(&self, tag: &str) -> Vec<(String, V)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = self.lock(shard);
            for k in shard.tags.keys(tag) {
                if let Some(slot) = shard.map.peek(&k) {
                    out.push((k, slot.value.clone()));
                }
            }
        }
        out
    }

    /// The entries whose key starts with `prefix`, with their keys (not
    /// marked used).
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, V)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let shard = self.lock(shard);
            out.extend(
                shard
                    .map
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, s)| (k.clone(), s.value.clone())),
            );
        }
        out
    }

    /// The tag index's (tag, key) pairs and the bytes charged for them.
    pub fn tag_usage(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let (pairs, bytes) = self.lock(s).tags.usage();
            (n + pairs, b + bytes)
        })
    }

    /// Bytes and entries held now.
    pub fn usage(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(b, n), s| {
            let s = self.lock(s);
            (b + s.bytes, n + s.map.len())
        })
    }

    /// Entries evicted so far to stay under the bound.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
