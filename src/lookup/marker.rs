//! What the URL's own key holds in memory when its responses vary (RFC
//! 9111 §4.1): the request headers that select a variant, and the variants
//! admitted so far, never more than `cache.max_variants` (how a variant's
//! key is made and when one is admitted: `pull::variants`).

use std::sync::Mutex;

use crate::http::cache_key::Variant;

/// What the URL's key holds when its responses vary.
#[derive(Debug)]
pub struct Marker {
    /// The request headers that select a variant (lower-case, sorted).
    pub names: Vec<String>,
    /// The variants admitted and not yet found gone; never more than
    /// `room` (its capacity is allocated, and weighed, up front).
    admitted: Mutex<Vec<Variant>>,
    /// Most variants admitted at once (`cache.max_variants`).
    room: usize,
}

impl Marker {
    /// A marker for responses varying on `names`, with no variant yet and
    /// room for `max` of them.
    pub fn new(names: Vec<String>, max: usize) -> Self {
        Self {
            names,
            admitted: Mutex::new(Vec::with_capacity(max)),
            room: max,
        }
    }

    /// Bytes held beside the entry: the names and the variants' room.
    pub fn heap_bytes(&self) -> usize {
        let names: usize = self.names.iter().map(|n| 32 + n.len()).sum();
        names + self.room * std::mem::size_of::<Variant>()
    }

    /// Admits variant `v`: true if it is admitted already or there is room
    /// for it. When full, the admitted variants for which `counts` is false
    /// are forgotten first (`counts` is called without the marker's lock).
    pub fn claim(&self, v: &Variant, counts: impl Fn(&Variant) -> bool) -> bool {
        let admitted = {
            let mut a = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
            if a.contains(v) {
                return true;
            }
            if a.len() < self.room {
                a.push(*v);
                return true;
            }
            a.clone()
        };
        let gone: Vec<Variant> = admitted.into_iter().filter(|x| !counts(x)).collect();
        let mut a = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        a.retain(|x| !gone.contains(x));
        if a.contains(v) {
            return true;
        }
        let room = a.len() < self.room;
        if room {
            a.push(*v);
        }
        room
    }
}
