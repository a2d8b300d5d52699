//! Ownership by rendezvous (highest-random-weight) hashing: every peer
//! gets a weight for a key, the heaviest owns it, and the rest in falling
//! weight is the order to fail over in. A pure function of the peer set:
//! nodes that see the same peers name the same owner without talking to
//! each other, and a peer joining or leaving moves only the keys it wins
//! or held (about 1/N of them).
//!
//! The hashes are fixed (blake3, then a fixed 64-bit mixer), never seeded
//! per process, and a test pins a few owners so that a change of them,
//! which would split a cluster of mixed versions, cannot pass unnoticed.
//! Not here: where the peers come from (`peers`), which are up (`health`).

use super::peer::Peer;

/// A set of peers that names the owner of any key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    /// Peers in URL order, without repeats, each with its hash.
    members: Vec<(u64, Peer)>,
}

impl Ring {
    /// The ring of these peers; order and repeats do not matter.
    pub fn new(peers: impl IntoIterator<Item = Peer>) -> Self {
        let mut peers: Vec<Peer> = peers.into_iter().collect();
        peers.sort();
        peers.dedup();
        let members = peers
            .into_iter()
            .map(|p| (hash64(p.url().as_bytes()), p))
            .collect();
        Self { members }
    }

    /// The peers, in URL order.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.members.iter().map(|(_, p)| p)
    }

    /// How many peers there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Whether `peer` is one of them.
    pub fn contains(&self, peer: &Peer) -> bool {
        self.members.iter().any(|(_, p)| p == peer)
    }

    /// The owner of `key` (a cache key), or `None` for an empty ring.
    pub fn owner(&self, key: &[u8]) -> Option<&Peer> {
        let k = hash64(key);
        self.members
            .iter()
            .max_by_key(|(seed, p)| (weight(k, *seed), p))
            .map(|(_, p)| p)
    }

    /// Every peer in the order `key` prefers them: the owner first, then
    /// whom to ask when it is down, and so on.
    pub fn ranked(&self, key: &[u8]) -> Vec<&Peer> {
        let k = hash64(key);
        let mut order: Vec<(u64, &Peer)> = self
            .members
            .iter()
            .map(|(seed, p)| (weight(k, *seed), p))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        order.into_iter().map(|(_, p)| p).collect()
    }
}

/// The first 64 bits of blake3 of `bytes`, little-endian.
fn hash64(bytes: &[u8]) -> u64 {
    let h = blake3::hash(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// The weight of a peer (by its hash) for a key (by its hash): both
/// combined and run through a fixed mixer (the finaliser of SplitMix64,
/// a bijection that spreads every input bit over the output).
fn weight(key: u64, peer: u64) -> u64 {
    let mut z = key ^ peer;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEYS: usize = 100_000;

    fn peers(n: usize) -> Vec<Peer> {
        (0..n)
            .map(|i| format!("http://10.0.0.{}:8080", i + 1).parse().unwrap())
            .collect()
    }

    fn keys() -> Vec<String> {
        (0..KEYS)
            .map(|i| format!("/assets/{i}.js?v={}", i % 7))
            .collect()
    }

    /// The owner of every key.
    fn owners<'a>(ring: &'a Ring, keys: &[String]) -> Vec<&'a Peer> {
        keys.iter()
            .map(|k| ring.owner(k.as_bytes()).unwrap())
            .collect()
    }

    #[test]
    fn every_node_names_the_same_owner_whatever_its_list_order() {
        let list = peers(5);
        let a = Ring::new(list.clone());
        let mut shuffled = list.clone();
        shuffled.reverse();
        shuffled.swap(0, 2);
        shuffled.push(list[3].clone()); // a repeat changes nothing
        let b = Ring::new(shuffled);
        assert_eq!(a, b);
        let keys = keys();
        assert_eq!(owners(&a, &keys[..10_000]), owners(&b, &keys[..10_000]));
    }

    #[test]
    fn owners_are_pinned_across_versions_and_processes() {
        // A different answer here means nodes of two builds disagree on
        // owners: change the hashes only with a note in docs/reference/cluster.md.
        let ring = Ring::new(peers(3));
        let got: Vec<&str> = ["/app.css", "/img/logo.png", "/js/main.js?v=2", ""]
            .iter()
            .map(|k| ring.owner(k.as_bytes()).unwrap().url())
            .collect();
        assert_eq!(got, PINNED, "owners changed");
    }

    const PINNED: [&str; 4] = [
        "http://10.0.0.3:8080",
        "http://10.0.0.1:8080",
        "http://10.0.0.1:8080",
        "http://10.0.0.3:8080",
    ];

    #[test]
    fn keys_spread_evenly() {
        let n = 10;
        let ring = Ring::new(peers(n));
        let keys = keys();
        let mut count: HashMap<&Peer, usize> = HashMap::new();
        for p in owners(&ring, &keys) {
            *count.entry(p).or_default() += 1;
        }
        assert_eq!(count.len(), n);
        let fair = KEYS / n;
        for (p, c) in count {
            assert!(c.abs_diff(fair) < fair / 10, "{p} owns {c} of {KEYS}");
        }
    }

    #[test]
    fn removing_one_of_n_moves_only_its_keys_about_one_nth() {
        let n = 5;
        let all = peers(n);
        let before = Ring::new(all.clone());
        let gone = &all[2];
        let after = Ring::new(all.iter().filter(|p| *p != gone).cloned());
        let keys = keys();
        let mut moved = 0;
        for (k, (b, a)) in keys.iter().zip(
            owners(&before, &keys)
                .into_iter()
                .zip(owners(&after, &keys)),
        ) {
            if a != b {
                moved += 1;
                assert_eq!(b, gone, "{k} moved from {b}, which stayed");
                // Failover order: the next peer takes over, no one else.
                assert_eq!(before.ranked(k.as_bytes())[1], a, "{k}");
            }
        }
        let share = moved as f64 / KEYS as f64;
        assert!((share - 1.0 / n as f64).abs() < 0.02, "moved {share}");
    }

    #[test]
    fn adding_one_to_n_moves_about_one_in_n_plus_one_to_it() {
        let n = 5;
        let all = peers(n + 1);
        let before = Ring::new(all[..n].to_vec());
        let after = Ring::new(all.clone());
        let keys = keys();
        let mut moved = 0;
        for (b, a) in owners(&before, &keys)
            .into_iter()
            .zip(owners(&after, &keys))
        {
            if a != b {
                moved += 1;
                assert_eq!(a, &all[n], "a key moved between old peers");
            }
        }
        let share = moved as f64 / KEYS as f64;
        assert!((share - 1.0 / (n + 1) as f64).abs() < 0.02, "moved {share}");
    }

    #[test]
    fn ranked_is_every_peer_once_owner_first() {
        let ring = Ring::new(peers(7));
        for k in keys().iter().take(1000) {
            let r = ring.ranked(k.as_bytes());
            assert_eq!(Some(r[0]), ring.owner(k.as_bytes()));
            let mut sorted: Vec<&Peer> = r.clone();
            sorted.sort();
            assert_eq!(sorted, ring.peers().collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_empty_ring_owns_nothing() {
        let ring = Ring::new([]);
        assert!(ring.is_empty());
        assert_eq!(ring.owner(b"/a"), None);
        assert!(ring.ranked(b"/a").is_empty());
        let one = Ring::new(peers(1));
        assert_eq!(one.owner(b"/a"), one.peers().next());
        assert!(one.contains(&peers(1)[0]) && !one.contains(&peers(2)[1]));
    }
}
